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
from crisiscomms.playbook import expression, namespace, rendering
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
            unknown = _unknown_filter_or_test(tree, self.env) or _computed_template_name(tree)
            if unknown:
                return _Parsed(unknown)
            names = frozenset(meta.find_undeclared_variables(tree)) - rendering.JINJA_NAMES
            reads, problem = _reads(tree, names, name)
            parsed = _Parsed(problem, names, reads)
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


_LOADS = {nodes.Include: "include", nodes.Import: "import", nodes.FromImport: "from", nodes.Extends: "extends"}


def _computed_template_name(tree: nodes.Template) -> str | None:
    """The first `{% include %}`, `{% import %}`, `{% from %}` or `{% extends %}` whose template is not named
    literally: which file a name computed at run time reads, and whether it exists, is only known then."""
    for node in tree.find_all(tuple(_LOADS)):
        name = node.template
        names = name.items if isinstance(name, nodes.List | nodes.Tuple) and isinstance(node, nodes.Include) \
            else [name]  # only include takes a list (the first that exists); Jinja refuses one anywhere else
        if not names or not all(isinstance(n, nodes.Const) and isinstance(n.value, str) for n in names):
            return (f"{{% {_LOADS[type(node)]} %}} of a computed template name: name the template literally: a "
                    f"computed name cannot be checked before the run (template line {node.lineno})")
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


# What a name bound in a template stands for, one entry per way it may have been bound (`{% if %}` branches): a
# context chain it aliases (`{% set i = inputs %}`: ("inputs",); a loop over pack.variants: ("pack", "variants[]")),
# the type of a literal it holds (`{% set x = "texte" %}`: str), or None: a value of unknown shape, not checked.
_Alt = tuple[str, ...] | type | None
_Binding = tuple[_Alt, ...]
_LITERALS = (str, int, float, bool)


class _Reader:
    """The dotted names a template reads from its context, its local names followed to what they stand for: a read
    `i.gone` after `{% set i = inputs %}` is the read `inputs.gone`, checked as if written so."""

    def __init__(self, free: frozenset[str], file: str | None) -> None:
        self.free, self.file = free, file
        self.reads: list[Read] = []
        self.problems: list[str] = []

    def lookup(self, env: dict[str, _Binding], name: str) -> _Binding:
        return env.get(name, ((name,) if name in self.free else None,))

    def binding(self, node: nodes.Node, env: dict[str, _Binding]) -> _Binding:
        """What a name set to `node` stands for."""
        chain = _chain(node)
        if chain:
            return tuple(dict.fromkeys(_below(alt, chain[1:]) for alt in self.lookup(env, chain[0])))
        if isinstance(node, nodes.Const) and isinstance(node.value, _LITERALS):
            return (type(node.value),)
        return (str,) if isinstance(node, nodes.Concat | nodes.TemplateData) else (None,)

    def element(self, node: nodes.Node, env: dict[str, _Binding]) -> _Binding:
        """What a loop over `node` binds its name to: an element of the list a chain reads, a text's characters."""
        return tuple(dict.fromkeys(_each(alt) for alt in self.binding(node, env)))

    def bind(self, target: nodes.Node, value: _Binding, env: dict[str, _Binding]) -> None:
        if isinstance(target, nodes.Name):
            env[target.name] = value
        for name in target.find_all(nodes.Name) if isinstance(target, nodes.Tuple) else ():
            env[name.name] = (None,)  # unpacked: what each part holds is not known

    def read(self, chain: tuple[str, ...], line: int, env: dict[str, _Binding]) -> None:
        for alt in self.lookup(env, chain[0]):
            if isinstance(alt, tuple):
                self.reads.append(Read((*alt, *chain[1:]), line, self.file))
            elif isinstance(alt, type) and len(chain) > 1:
                problem = namespace.literal_member(alt, chain[0], chain[1])
                if problem:
                    who = "template" if self.file else "text"
                    self.problems.append(f"{who} reads '{'.'.join(chain)}': {problem} (template line {line})")

    def visit(self, node: nodes.Node, env: dict[str, _Binding]) -> None:
        chain = _chain(node)
        if chain:
            self.read(chain, node.lineno, env)
            return
        handler = getattr(self, f"visit_{type(node).__name__}", None)
        if handler:
            handler(node, env)
            return
        for child in node.iter_child_nodes():
            self.visit(child, env)

    def visit_all(self, items: list[nodes.Node], env: dict[str, _Binding]) -> None:
        for item in items:
            self.visit(item, env)

    def visit_Assign(self, node: nodes.Assign, env: dict[str, _Binding]) -> None:
        self.visit(node.node, env)
        self.bind(node.target, self.binding(node.node, env), env)

    def visit_AssignBlock(self, node: nodes.AssignBlock, env: dict[str, _Binding]) -> None:
        self.visit_all(node.body, dict(env))
        if node.filter:
            self.visit(node.filter, env)
        self.bind(node.target, (str,) if node.filter is None else (None,), env)

    def visit_For(self, node: nodes.For, env: dict[str, _Binding]) -> None:
        self.visit(node.iter, env)
        inner = {**env, "loop": (None,)}
        self.bind(node.target, self.element(node.iter, env), inner)
        if node.test:
            self.visit(node.test, inner)
        self.visit_all(node.body, inner)
        self.visit_all(node.else_, dict(env))

    def visit_If(self, node: nodes.If, env: dict[str, _Binding]) -> None:
        """A name set in some branches only stands, after the `{% if %}`, for what any branch made it."""
        self.visit(node.test, env)
        branches = []
        for body in (node.body, *([e] for e in node.elif_), node.else_):
            branch = dict(env)
            self.visit_all(body, branch)
            branches.append(branch)
        if not node.else_:
            branches.append(dict(env))
        for name in {n for branch in branches for n in branch if branch[n] != env.get(n)}:
            env[name] = tuple(dict.fromkeys(alt for b in branches for alt in self.lookup(b, name)))

    def visit_Macro(self, node: nodes.Macro, env: dict[str, _Binding]) -> None:
        self.visit_all(node.defaults, env)
        self._callable(node.args, node.body, env)
        env[node.name] = (None,)

    def visit_CallBlock(self, node: nodes.CallBlock, env: dict[str, _Binding]) -> None:
        self.visit(node.call, env)
        self.visit_all(node.defaults, env)
        self._callable(node.args, node.body, env)

    def _callable(self, args: list[nodes.Name], body: list[nodes.Node], env: dict[str, _Binding]) -> None:
        # What a macro is called with is not known here: its parameters are read unchecked.
        inner = {**env, **{n: (None,) for n in ("caller", "varargs", "kwargs", *(a.name for a in args))}}
        self.visit_all(body, inner)

    def visit_With(self, node: nodes.With, env: dict[str, _Binding]) -> None:
        inner = dict(env)
        for target, value in zip(node.targets, node.values, strict=False):
            self.visit(value, env)
            self.bind(target, self.binding(value, env), inner)
        self.visit_all(node.body, inner)

    def visit_Import(self, node: nodes.Import, env: dict[str, _Binding]) -> None:
        env[node.target] = (None,)

    def visit_FromImport(self, node: nodes.FromImport, env: dict[str, _Binding]) -> None:
        for name in node.names:
            env[name if isinstance(name, str) else name[1]] = (None,)

    def _scoped(self, node: nodes.Node, env: dict[str, _Binding]) -> None:
        inner = dict(env)
        for child in node.iter_child_nodes():
            self.visit(child, inner)

    visit_Block = visit_FilterBlock = visit_Scope = visit_OverlayScope = visit_ScopedEvalContextModifier = _scoped


def _below(alt: _Alt, rest: tuple[str, ...]) -> _Alt:
    if isinstance(alt, tuple):
        return (*alt, *rest)
    return alt if not rest else None  # a literal's method gives a value of unknown shape


def _each(alt: _Alt) -> _Alt:
    if isinstance(alt, tuple) and len(alt) == 1:  # a loop over a whole name: inputs and team yield their keys
        return str if alt[0] in namespace.KEYED_NAMES else None
    if isinstance(alt, tuple):
        return (*alt[:-1], alt[-1] + namespace.ELEMENT)
    return str if alt is str else None


def _reads(tree: nodes.Template, free: frozenset[str], file: str | None) -> tuple[tuple[Read, ...], str | None]:
    """The dotted names (`pack.hash`, `facts['subject']`, `i.gone` after `{% set i = inputs %}`) read from the
    context, and the first read below a literal the template set that the run would refuse."""
    reader = _Reader(free, file)
    reader.visit(tree, {})
    return tuple(reader.reads), next(iter(reader.problems), None)


def _chain(node: nodes.Node) -> tuple[str, ...] | None:
    if isinstance(node, nodes.Name):
        return (node.name,) if node.ctx == "load" else None
    if isinstance(node, nodes.Getattr):
        inner = _chain(node.node)
        return (*inner, node.attr) if inner else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) \
            and not node.arg.value.endswith(namespace.ELEMENT):  # the marker of a list's element
        inner = _chain(node.node)
        return (*inner, node.arg.value) if inner else None
    return None
