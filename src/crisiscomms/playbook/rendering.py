"""Jinja2 rendering of playbook texts and templates: sandboxed, strict, bounded.

Everything that reaches a template (inputs, mention texts, approver comments) is data. The
environment is an ImmutableSandboxedEnvironment with StrictUndefined (a misspelt variable raises)
and guarded binary operators, because the stock sandbox lets `'a' * 50_000_000` through. Nesting is
bounded too: Jinja's parser and Python's compiler recurse on it, and give up (RecursionError, "too many
statically nested blocks") long before a person would stop reading.

Every text, inline or a file, is rendered with one loader confined to templates/: `{% include %}`, `{% import %}`
and `{% extends %}` read there only — a name computed at run time included — never through a link leading out.
A name that validation knows but that has no value in this run (a step skipped, blocked or in a phase not run; the
alert when none started the run; a message's assessment or claim when its pack has none) reads as `ABSENT`, an
empty record: it renders as nothing and is false in `{% if %}` and in comparisons, and so is any field of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from crisiscomms.playbook.template_files import read_template

MAX_OUTPUT_CHARS = 200_000
# Blocks within blocks, or brackets within brackets: CPython refuses 20 nested `for` loops, and Jinja's parser
# spends about 15 frames of recursion per bracket.
MAX_NESTING = 16
_BLOCKS = frozenset({"if", "for", "macro", "call", "filter", "block", "with", "autoescape"})
_BRACKETS = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> jinja2.nodes.Template:
        # Every template text goes through here (check at load, from_string and files at run time).
        line = _too_deep(self, source)
        if line is not None:
            raise jinja2.TemplateSyntaxError(
                f"nested more than {MAX_NESTING} levels deep ({{% if %}}, {{% for %}}, brackets): write it flatter",
                line, name, filename)
        return super()._parse(source, name, filename)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise jinja2.sandbox.SecurityError("exponent too large in a template")
        if operator in {"*", "+"} and _size(left, right, operator) > MAX_OUTPUT_CHARS:
            raise jinja2.sandbox.SecurityError("template expression builds a value too large to render")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # A string method that multiplies its text (`'x'.replace('x', 'y' * 200)` applied twice) is sized first.
        bound = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped by the sandbox
        owner, name = getattr(bound, "__self__", None), getattr(bound, "__name__", "")
        if isinstance(owner, str) and _grown(owner, name, args, kwargs) > MAX_OUTPUT_CHARS:
            raise jinja2.sandbox.SecurityError(f"str.{name} in a template builds a value too large to render")
        return super().call(__context, __obj, *args, **kwargs)


_WIDTH = re.compile(r"%[-+ #0]*(\d+)|[:<>^=]\D{0,3}?(\d+)")  # %20s, {:>20} …: the width a format pads to


def _grown(text: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The most characters `text.<method>(*args)` can produce, computed without producing them."""
    if method == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        found = text.count(args[0]) if args[0] else len(text) + 1
        return len(text) + found * max(0, len(args[1]) - len(args[0]))
    if method in {"center", "ljust", "rjust", "zfill"} and args and isinstance(args[0], int):
        return max(len(text), args[0])
    if method == "expandtabs":
        return len(text) + text.count("\t") * (args[0] if args and isinstance(args[0], int) else 8)
    if method in {"format", "format_map"}:
        widths = [int(a or b) for a, b in _WIDTH.findall(text)]
        return len(text) + sum(widths) + sum(len(str(v)) for v in (*args, *kwargs.values()))
    return 0


def _bounded_filters(env: jinja2.Environment) -> None:
    """Jinja's own filters that multiply text call Python directly: the same sizes first."""
    plain = dict(env.filters)

    @jinja2.pass_eval_context
    def replace(eval_ctx: Any, value: Any, old: str, new: str, count: int | None = None) -> Any:
        if isinstance(value, str) and _grown(value, "replace", (old, new), {}) > MAX_OUTPUT_CHARS:
            raise jinja2.sandbox.SecurityError("the replace filter builds a value too large to render")
        return plain["replace"](eval_ctx, value, old, new, count)

    def center(value: Any, width: int = 80) -> Any:
        if isinstance(width, int) and width > MAX_OUTPUT_CHARS:
            raise jinja2.sandbox.SecurityError("the center filter pads to a width too large to render")
        return plain["center"](value, width)

    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and _grown(value, "format", args, kwargs) > MAX_OUTPUT_CHARS:
            raise jinja2.sandbox.SecurityError("the format filter pads to a width too large to render")
        return plain["format"](value, *args, **kwargs)

    def indent(value: Any, width: Any = 4, *args: Any, **kwargs: Any) -> Any:
        size = len(value) + (value.count("\n") + 1) * (width if isinstance(width, int) else len(str(width)))
        if isinstance(value, str) and size > MAX_OUTPUT_CHARS:
            raise jinja2.sandbox.SecurityError("the indent filter builds a value too large to render")
        return plain["indent"](value, width, *args, **kwargs)

    env.filters.update(replace=replace, center=center, format=format_, indent=indent)


def _size(left: Any, right: Any, operator: str) -> int:
    sized = [x for x in (left, right) if isinstance(x, str | list | tuple)]
    if not sized:
        return 0
    if operator == "+":
        return sum(len(x) for x in sized)
    count = next((x for x in (left, right) if isinstance(x, int) and not isinstance(x, bool)), 1)
    return len(sized[0]) * max(count, 0)


def _too_deep(env: jinja2.Environment, source: str) -> int | None:
    """The line where blocks or brackets nest deeper than MAX_NESTING, from the tokens (no recursion)."""
    blocks = brackets = 0
    opening = False
    try:
        for line, kind, value in env.lex(source):
            if kind == "whitespace":
                continue
            if opening and kind == "name":
                blocks += 1 if value in _BLOCKS else -1 if value[3:] in _BLOCKS and value[:3] == "end" else 0
            opening = kind == "block_begin"
            brackets += _BRACKETS.get(value, 0) if kind == "operator" else 0
            if blocks > MAX_NESTING or brackets > MAX_NESTING:
                return line
    except jinja2.TemplateSyntaxError:
        return None  # the parser reports it, with its line
    return None


class _ConfinedLoader(jinja2.BaseLoader):
    """templates/ and nothing else: every name, static or computed, is read as validation reads template files
    (no absolute path, no `..`, no link leading out, UTF-8 text of bounded size)."""

    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = templates_dir

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source = read_template(self.templates_dir, template)
        if source.text is None:
            if source.problem and source.problem.endswith("not found in templates/"):
                raise jinja2.TemplateNotFound(template, source.problem)
            raise jinja2.sandbox.SecurityError(str(source.problem))
        return source.text, template, lambda: True  # an environment lives for one rendering: no reload needed


def environment(templates_dir: Path | None = None) -> jinja2.Environment:
    loader = _ConfinedLoader(templates_dir) if templates_dir else None
    env = _GuardedEnvironment(
        loader=loader, undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    _bounded_filters(env)
    return env


# Names Jinja gives every text (its globals, loop and macro variables, constants): a step named so is never read.
JINJA_NAMES = frozenset(environment().globals) | {"loop", "self", "super", "caller", "varargs", "kwargs", "true",
                                                  "false", "none"}


class Absent(jinja2.ChainableUndefined):
    """An empty record: renders as nothing, is false in `{% if %}` and in comparisons; its fields are the same, and
    arithmetic on it stays empty (a text added to it stays that text). Never an error: validation has already
    refused the names no run could have."""

    __slots__ = ()

    def _false(self, other: Any) -> bool:
        return False

    def _empty(self, *other: Any) -> Any:
        return self

    def _text_or_empty(self, other: Any) -> Any:
        return other if isinstance(other, str) else self

    __lt__ = __le__ = __gt__ = __ge__ = _false
    __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _empty
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = __neg__ = __pos__ = __call__ = _empty
    __add__ = __radd__ = _text_or_empty


ABSENT = Absent()


@dataclass(frozen=True)
class TemplateCheck:
    """What a template needs (top-level names) or why it cannot be used (line + message)."""

    names: frozenset[str]
    error: str | None = None
    line: int | None = None


def check_source(source: str, env: jinja2.Environment | None = None) -> TemplateCheck:
    env = env or environment()
    try:
        ast = env.parse(source)
        names = meta.find_undeclared_variables(ast)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateCheck(frozenset(), f"template syntax error: {exc.message}", exc.lineno)
    except (RecursionError, MemoryError):  # long chains (a.b.c…, 1+1+1…) that no bracket or block nests
        return TemplateCheck(frozenset(), "template too complex to read: write it more simply", 1)
    return TemplateCheck(frozenset(names))


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def render_text(source: str, values: Mapping[str, Any], templates_dir: Path | None = None) -> str:
    """Inline text; with `templates_dir`, its `{% include %}` reads templates/ as a template file's does."""
    return _bounded(environment(templates_dir).from_string(source), values)


def render_file(templates_dir: Path, name: str, values: Mapping[str, Any]) -> str:
    return _bounded(environment(templates_dir).get_template(name), values)


def _bounded(template: jinja2.Template, values: Mapping[str, Any]) -> str:
    """Rendered piece by piece, stopped as soon as it grows too long (a loop repeating text is cut short, not
    rendered whole first); a range too big or a macro calling itself fails like any unsafe template."""
    pieces, size = [], 0
    try:
        for piece in template.generate(**values):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise jinja2.sandbox.SecurityError(f"rendered text exceeds {MAX_OUTPUT_CHARS} characters")
            pieces.append(piece)
    except (OverflowError, RecursionError) as exc:  # the sandbox's range limit; self-calling macros
        raise jinja2.sandbox.SecurityError(f"template refused: {exc}") from None
    return "".join(pieces)
