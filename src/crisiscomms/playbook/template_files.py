"""Template files of a project: names are paths under templates/, and nothing is read from anywhere else.

A playbook comes from people we do not control, and validation runs on every file it is given: a `template:`
that is absolute (`/proc/self/environ`), climbs out (`../`), or is a link leading out of templates/ is refused
before any file is opened; a template that is not UTF-8 text is refused with where it goes wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from crisiscomms.playbook.communication import MessageSpec

MAX_TEMPLATE_BYTES = 1_000_000


@dataclass(frozen=True)
class TemplateSource:
    """A template's text, or why it cannot be used."""

    name: str
    text: str | None = None
    problem: str | None = None


def message_template(templates_dir: Path, spec: MessageSpec, audience: str, language: str) -> str:
    """The template of one message: the spec's own, else `<kind>.<audience>.<lang>` when present, else `<kind>.<lang>`.

    A link or a file at the audience-specific name counts as present even if it is unusable, so that validation
    reports it instead of quietly falling back to the general template.
    """
    if spec.template:
        return spec.template
    specific = f"messages/{spec.kind}.{audience}.{language}.md.j2"
    path = templates_dir / specific
    return specific if path.is_symlink() or path.is_file() else f"messages/{spec.kind}.{language}.md.j2"


def read_template(templates_dir: Path, name: str) -> TemplateSource:
    """The text of templates/<name>, or why not — without opening anything outside templates/."""
    problem = _name_problem(name)
    if problem:
        return TemplateSource(name, problem=problem)
    root = templates_dir.resolve()
    path = templates_dir / name
    if not path.is_symlink() and not path.exists():
        return TemplateSource(name, problem=f"template '{name}' not found in templates/")
    real = path.resolve()
    if not real.is_relative_to(root):
        return TemplateSource(name, problem=f"template '{name}' is a link leading outside templates/")
    if not real.is_file():
        return TemplateSource(name, problem=f"template '{name}' not found in templates/")
    if real.stat().st_size > MAX_TEMPLATE_BYTES:
        return TemplateSource(name, problem=f"template '{name}' is larger than {MAX_TEMPLATE_BYTES:,} bytes")
    return _decoded(name, real.read_bytes())


def _name_problem(name: str) -> str | None:
    path = PurePosixPath(name)
    if not name.strip():
        return "template name is empty"
    if path.is_absolute() or name.startswith("~"):
        return f"template '{name}' must be a path under templates/, not an absolute path"
    if ".." in path.parts or "\\" in name:
        return f"template '{name}' leaves templates/ ('..' and '\\' are not allowed in template paths)"
    return None


def _decoded(name: str, raw: bytes) -> TemplateSource:
    if b"\x00" in raw:
        line, column = _position(raw, raw.index(b"\x00"))
        return TemplateSource(name, problem=f"template '{name}' is binary, not text (NUL byte at template line "
                                            f"{line}, column {column})")
    try:
        return TemplateSource(name, text=raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line, column = _position(raw, exc.start)
        return TemplateSource(name, problem=f"template '{name}' is not UTF-8 (byte 0x{raw[exc.start]:02x} at "
                                            f"template line {line}, column {column}): save it as UTF-8")


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    return raw[:offset].count(b"\n") + 1, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
