"""Jinja2 rendering of playbook texts and templates: sandboxed, strict, bounded.

Everything that reaches a template (inputs, mention texts, approver comments) is data. The
environment is an ImmutableSandboxedEnvironment with StrictUndefined (a misspelt variable raises)
and guarded binary operators, because the stock sandbox lets `'a' * 50_000_000` through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT_CHARS = 200_000


class _GuardedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise jinja2.sandbox.SecurityError("exponent too large in a template")
        if operator in {"*", "+"} and _size(left, right, operator) > MAX_OUTPUT_CHARS:
            raise jinja2.sandbox.SecurityError("template expression builds a value too large to render")
        return super().call_binop(context, operator, left, right)


def _size(left: Any, right: Any, operator: str) -> int:
    sized = [x for x in (left, right) if isinstance(x, str | list | tuple)]
    if not sized:
        return 0
    if operator == "+":
        return sum(len(x) for x in sized)
    count = next((x for x in (left, right) if isinstance(x, int) and not isinstance(x, bool)), 1)
    return len(sized[0]) * max(count, 0)


def environment(templates_dir: Path | None = None) -> jinja2.Environment:
    loader = jinja2.FileSystemLoader(str(templates_dir)) if templates_dir else None
    return _GuardedEnvironment(
        loader=loader, undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


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
    except jinja2.TemplateSyntaxError as exc:
        return TemplateCheck(frozenset(), f"template syntax error: {exc.message}", exc.lineno)
    return TemplateCheck(frozenset(meta.find_undeclared_variables(ast)))


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def render_text(source: str, values: Mapping[str, Any]) -> str:
    return _bounded(environment().from_string(source), values)


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
