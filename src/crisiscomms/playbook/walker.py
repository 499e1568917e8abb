"""The one walk over a playbook: every reference, condition and text, found from the models' annotations.

Like orquesta's `Spec.inspect`, the walk is generic: it goes through every field of every model and reads the
markers of `markers.py` on their annotations — `Ref` (another step), `Names` (a role, channel, audience,
playbook), `TemplateFile`, `Text`, `Condition`. Validation (`inspect.py`) judges what it yields; the plan
(`plan.py`) orders steps by the links it yields. Neither keeps a list of fields of its own.

Conditions and templates are parsed here, once per loaded playbook (`walk_playbook` keeps the walk while the
playbook object lives): validation, the plan and the engine's `when:` evaluation all reuse them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import jinja2
from jinja2 import meta, nodes
from pydantic import BaseModel

from crisiscomms.errors import ExpressionError
from crisiscomms.playbook import expression, rendering
from crisiscomms.playbook.markers import MARKERS, Condition, Names, Namespace, Ref, TemplateFile, Text
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.namespace import STEP_NAMES, Scope, message_scope, step_scope
from crisiscomms.playbook.steps import StepBase
from crisiscomms.playbook.template_files import message_template, read_template
from crisiscomms.playbook.yamlfile import Loc


@dataclass(frozen=True)
class Located:
    phase: str
    index: int
    step: StepBase

    @property
    def loc(self) -> Loc:
        return ("phases", self.phase, "steps", self.index)


@dataclass(frozen=True)
class Reference:
    """A value naming something else: a step (kind `step`, of one of `types` when given), a role, a channel …"""

    kind: str
    target: str
    loc: Loc
    field: str  # the step's (or spec's) YAML key holding it: `after`, `pack`, `owner`
    step: Located | None
    types: tuple[type, ...] = ()


@dataclass(frozen=True)
class Read:
    """A dotted name a text reads; `file` is the template it is read in (None: the inline text itself)."""

    ref: tuple[str, ...]
    line: int
    file: str | None = None


@dataclass(frozen=True)
class ConditionSite:
    loc: Loc
    step: Located | None
    text: str
    condition: expression.Condition | None
    error: str | None  # why it cannot be parsed


@dataclass(frozen=True)
class TextSite:
    """Inline text or a template file, parsed: the names it reads, or why it cannot be used."""

    loc: Loc
    step: Located | None
    namespace: Namespace
    template: str | None  # the file under templates/; None for inline text
    problem: str | None  # not found, outside templates/, not UTF-8, a syntax error
    names: frozenset[str] = frozenset()
    reads: tuple[Read, ...] = ()


@dataclass(frozen=True)
class Link:
    """One reason why `source` waits for step `target`: `after`, `reference: pack`, `condition reads x.y` …"""

    source: Located
    target: str
    why: str
    loc: Loc


@dataclass(frozen=True)
class Walk:
    steps: dict[str, Located]  # first occurrence of every step id
    references: tuple[Reference, ...]
    conditions: tuple[ConditionSite, ...]
    texts: tuple[TextSite, ...]
    step_scope: Scope
    message_scope: Scope

    @cached_property
    def links(self) -> tuple[Link, ...]:
        """Every reason a step waits for another, whatever the phases (the plan keeps same-phase ones)."""
        out = [Link(r.step, r.target, "after" if r.field == "after" else f"reference: {r.field}", r.loc)
               for r in self.references if r.kind == "step" and r.step]
        for site in self.conditions:
            for ref in site.condition.references() if site.condition and site.step else ():
                out += self._read_link(site.step, ref, "condition", site.loc)
        for text in self.texts:
            for read in text.reads if text.step and text.namespace == "step" else ():
                out += self._read_link(text.step, read.ref, "text", text.loc)
        return tuple(out)

    def _read_link(self, step: Located | None, ref: tuple[str, ...], what: str, loc: Loc) -> list[Link]:
        if step is None or ref[0] in STEP_NAMES or ref[0] not in self.steps:
            return []
        return [Link(step, ref[0], f"{what} reads {'.'.join(ref)}", loc)]

    @cached_property
    def _conditions(self) -> dict[int, ConditionSite]:
        return {id(site.step.step): site for site in self.conditions if site.step}

    def scale(self, ref: tuple[str, ...]) -> expression.Scale | str:
        """The ordered values of what a condition reads (a choice input, a Literal field), for `>=` and `<`."""
        found = self.step_scope.resolve(ref, leaf=True)
        return found if isinstance(found, str) else expression.Scale(found.ordered, found.kind)

    def holds(self, step: StepBase, values: dict[str, Any]) -> bool:
        """The step's `when:` on `values` (inputs, results), from the condition parsed at load; no `when:`: True."""
        if step.when is None:
            return True
        site = self._conditions.get(id(step))
        condition = site.condition if site and site.condition else expression.parse(step.when)
        return expression.evaluate(condition, values, self.scale)


# Walks of live playbook objects, by identity: a walk is dropped when its playbook is (weakref.finalize).
_WALKS: dict[tuple[int, Path], Walk] = {}


def walk_playbook(playbook: Playbook, templates_dir: Path) -> Walk:
    """The walk of this playbook object, made once and reused by validation, the plan and the engine."""
    key = (id(playbook), templates_dir)
    found = _WALKS.get(key)
    if found is None:
        found = _WALKS[key] = _Walker(templates_dir).walk(playbook)
        weakref.finalize(playbook, _WALKS.pop, key, None)
    return found


@dataclass(frozen=True)
class _Parsed:
    problem: str | None
    names: frozenset[str] = frozenset()
    reads: tuple[Read, ...] = ()


class _Walker:
    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = templates_dir
        self.env = rendering.environment()
        self.files: dict[str, _Parsed] = {}
        self.references: list[Reference] = []
        self.conditions: list[ConditionSite] = []
        self.texts: list[TextSite] = []

    def walk(self, playbook: Playbook) -> Walk:
        self.model(playbook, (), None)
        self.messages(playbook)
        steps: dict[str, Located] = {}
        for phase, index, step in playbook.steps():
            steps.setdefault(step.id, Located(phase, index, step))
        return Walk(steps, tuple(self.references), tuple(self.conditions), tuple(self.texts),
                    step_scope(playbook), message_scope(playbook))

    def model(self, model: BaseModel, loc: Loc, step: Located | None) -> None:
        for name, field in type(model).model_fields.items():
            annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            key = field.alias or name
            self.value(annotation, getattr(model, name), (*loc, key), step, key)

    def value(self, annotation: Any, value: Any, loc: Loc, step: Located | None, key: str) -> None:
        if value is None:
            return
        if isinstance(value, BaseModel):
            if isinstance(value, StepBase):  # at ("phases", phase, "steps", index)
                step = Located(str(loc[1]), int(loc[3]), value)
            self.model(value, loc, step)
            return
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Annotated:
            for marker in args[1:]:
                if isinstance(marker, MARKERS) and isinstance(value, str):
                    self.mark(marker, value, loc, step, key)
            self.value(args[0], value, loc, step, key)
        elif origin in (Union, UnionType):
            chosen = next((a for a in args if _accepts(a, value)), None)
            self.value(chosen, value, loc, step, key)
        elif origin is list and isinstance(value, list):
            for i, item in enumerate(value):
                self.value(args[0], item, (*loc, i), step, key)
        elif origin is dict and isinstance(value, dict):
            for name, item in value.items():
                self.value(args[1], item, (*loc, name), step, key)

    def mark(self, marker: Any, value: str, loc: Loc, step: Located | None, key: str) -> None:
        if isinstance(marker, Ref):
            self.references.append(Reference("step", value, loc, key, step, marker.types))
        elif isinstance(marker, Names):
            self.references.append(Reference(marker.kind, value, loc, key, step))
        elif isinstance(marker, Condition):
            self.conditions.append(_condition(value, loc, step))
        elif isinstance(marker, Text):
            parsed = self.parse(value, None)
            self.texts.append(TextSite(loc, step, marker.namespace, None, parsed.problem, parsed.names, parsed.reads))
        elif isinstance(marker, TemplateFile):
            self.file_site(value, loc, step, marker.namespace)

    def file_site(self, name: str, loc: Loc, step: Located | None, namespace: Namespace) -> None:
        parsed = self.file(name)
        self.texts.append(TextSite(loc, step, namespace, name, parsed.problem, parsed.names, parsed.reads))

    def messages(self, playbook: Playbook) -> None:
        """Every template a message pack could render: each declared audience × language of each message."""
        for i, spec in enumerate(playbook.communication.messages):
            if spec.template:
                continue  # walked through its TemplateFile marker
            sites: dict[tuple[Loc, str], None] = {}
            for j, audience in enumerate(spec.audiences):
                declared = playbook.audiences.get(audience)
                for language in spec.languages or ([declared.language] if declared else []):
                    name = message_template(self.templates_dir, spec, audience, language)
                    where = ("kind",) if name == f"messages/{spec.kind}.{language}.md.j2" else ("audiences", j)
                    sites[(("communication", "messages", i, *where), name)] = None
            for loc, name in sites:
                self.file_site(name, loc, None, "message")

    def file(self, name: str) -> _Parsed:
        """A template file, read (inside templates/ only) and parsed once, with the templates it includes."""
        if name not in self.files:
            self.files[name] = _Parsed(None)  # an include loop stops here (Jinja refuses it at run time)
            source = read_template(self.templates_dir, name)
            self.files[name] = self.parse(source.text, name) if source.text is not None else _Parsed(source.problem)
        return self.files[name]

    def parse(self, source: str, name: str | None) -> _Parsed:
        try:
            tree = self.env.parse(source)
            unknown = _unknown_filter_or_test(tree, self.env)
            if unknown:
                return _Parsed(unknown)
            names = frozenset(meta.find_undeclared_variables(tree)) - rendering.JINJA_NAMES
            parsed = _Parsed(None, names, _reads(tree, names, name))
        except jinja2.TemplateSyntaxError as exc:
            return _Parsed(f"template syntax error: {exc.message} (template line {exc.lineno})")
        except (RecursionError, MemoryError):  # long chains (a.b.c…, 1+1+1…) that no bracket or block nests
            return _Parsed("template too complex to read: write it more simply (template line 1)")
        for included in meta.find_referenced_templates(tree):
            parsed = _merge(parsed, self.file(included)) if isinstance(included, str) else parsed
        return parsed


# Filters that take the name of another filter or test as a text, and at which position: `map('upper')`,
# `select('odd')`, `selectattr('status', 'equalto', …)`.
_NAMED_BY_TEXT = {"map": ("filter", 0), "select": ("test", 0), "reject": ("test", 0), "selectattr": ("test", 1),
                  "rejectattr": ("test", 1)}


def _unknown_filter_or_test(tree: nodes.Template, env: jinja2.Environment) -> str | None:
    """The first filter or test the text names that Jinja does not have. Jinja itself only says so when it renders
    the branch (`{% if x is marque %}`) or the filter (`map('majuscules')`): too late, the run has started."""
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        kind = "filter" if isinstance(node, nodes.Filter) else "test"
        named = [(kind, node.name)]
        if kind == "filter" and node.name in _NAMED_BY_TEXT:
            what, position = _NAMED_BY_TEXT[node.name]
            argument = node.args[position] if len(node.args) > position else None
            if isinstance(argument, nodes.Const) and isinstance(argument.value, str):
                named.append((what, argument.value))
        for what, name in named:
            if name not in (env.filters if what == "filter" else env.tests):
                return f"unknown {what} '{name}' (template line {node.lineno})"
    return None


def _merge(parsed: _Parsed, other: _Parsed) -> _Parsed:
    """A template with one it includes: the included one's names and problems are the including one's too."""
    problem = parsed.problem or (f"{other.problem} (read through {{% include %}})" if other.problem else None)
    return _Parsed(problem, parsed.names | other.names, parsed.reads + other.reads)


def _condition(text: str, loc: Loc, step: Located | None) -> ConditionSite:
    try:
        return ConditionSite(loc, step, text, expression.parse(text), None)
    except ExpressionError as exc:
        return ConditionSite(loc, step, text, None, str(exc))


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether `value` is of this member of a union (which member's markers apply)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _accepts(get_args(annotation)[0], value)
    if origin in (Union, UnionType):
        return any(_accepts(a, value) for a in get_args(annotation))
    if origin is Literal:
        return value in get_args(annotation)
    if origin in (list, dict):
        return isinstance(value, origin)
    return annotation is Any or (isinstance(annotation, type) and isinstance(value, annotation))


def _reads(tree: nodes.Template, free: frozenset[str], file: str | None) -> tuple[Read, ...]:
    """The dotted names (`pack.hash`, `facts['subject']`) read from the context; locally bound names aside."""
    bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    chains: list[tuple[tuple[str, ...], int]] = []
    _chains(tree, chains)
    return tuple(Read(ref, line, file) for ref, line in chains if ref[0] in free and ref[0] not in bound)


def _chains(node: nodes.Node, out: list[tuple[tuple[str, ...], int]]) -> None:
    chain = _chain(node)
    if chain:
        out.append((chain, node.lineno))
        return
    for child in node.iter_child_nodes():
        _chains(child, out)


def _chain(node: nodes.Node) -> tuple[str, ...] | None:
    if isinstance(node, nodes.Name):
        return (node.name,) if node.ctx == "load" else None
    if isinstance(node, nodes.Getattr):
        inner = _chain(node.node)
        return (*inner, node.attr) if inner else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        inner = _chain(node.node)
        return (*inner, node.arg.value) if inner else None
    return None
