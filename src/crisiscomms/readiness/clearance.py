"""Legal pre-clearance of message templates: who cleared which template when, and the SHA-256 of exactly what they
read (the template and every template it includes). An edit after the clearance changes the hash and voids it.

The record is `templates/clearances.yaml`, beside the templates, versioned with them:

    - template: messages/press_release.fr.md.j2
      by: Sophie Lefèvre (Direction juridique)
      date: 2026-11-30
      sha256: 5f1c…

`crisis clear TEMPLATE --by NAME` writes an entry (replacing the template's previous one). The playbook says which
message kinds need one (`readiness.cleared`); the readiness report checks every template those kinds use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import jinja2
import jinja2.meta
import yaml

from crisiscomms.communication.messages import template_for, variants_of
from crisiscomms.errors import CrisisError
from crisiscomms.files import write_whole
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.template_files import read_template
from crisiscomms.readiness.report import Item, where

RECORD = "clearances.yaml"
HEADER = ("# Templates cleared by legal before any crisis: who, when, and the SHA-256 of exactly what they read\n"
          "# (the template and what it includes). Written by `crisis clear TEMPLATE --by NAME`; editing a template\n"
          "# afterwards voids its clearance (`crisis ready` says so).\n")


@dataclass(frozen=True)
class Clearance:
    template: str
    by: str
    on: date
    sha256: str


def template_hash(templates_dir: Path, name: str) -> str:
    """SHA-256 over the template and, in order, every template it statically includes or extends, each once."""
    digest, seen, queue = hashlib.sha256(), set(), [name]
    while queue:
        current = queue.pop(0)
        if current in seen:
            continue
        seen.add(current)
        source = read_template(templates_dir, current)
        if source.text is None:
            raise CrisisError(source.problem or f"template {current} cannot be read")
        digest.update(f"{current}\0{len(source.text)}\0{source.text}".encode())
        try:
            parsed = jinja2.Environment().parse(source.text)
        except jinja2.TemplateSyntaxError as exc:
            raise CrisisError(f"template {current}, line {exc.lineno}: {exc.message}") from None
        queue += sorted(n for n in jinja2.meta.find_referenced_templates(parsed) if n)
    return digest.hexdigest()


def read_clearances(templates_dir: Path) -> dict[str, Clearance]:
    """The record, by template; a record that cannot be read raises CrisisError naming the file and line."""
    path = templates_dir / RECORD
    if not path.exists():
        return {}
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except yaml.YAMLError as exc:
        line = exc.problem_mark.line + 1 if getattr(exc, "problem_mark", None) else 1  # type: ignore[attr-defined]
        raise CrisisError(f"templates/{RECORD}:{line}: not YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(entries, list):
        raise CrisisError(f"templates/{RECORD}: a list of clearances is expected")
    found = {}
    for index, entry in enumerate(entries):
        try:
            found[entry["template"]] = Clearance(str(entry["template"]), str(entry["by"]), _day(entry["date"]),
                                                 str(entry["sha256"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CrisisError(f"templates/{RECORD}: entry {index + 1} needs template, by, date (YYYY-MM-DD) and "
                              f"sha256 ({exc!r})") from None
    return found


def _day(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def clear(templates_dir: Path, template: str, by: str, on: date) -> Clearance:
    """Record that `by` cleared the template as it is now; the template's previous entry is replaced."""
    if not by.strip():
        raise CrisisError("say who cleared it: --by NAME")
    entry = Clearance(template, by.strip(), on, template_hash(templates_dir, template))
    entries = {**read_clearances(templates_dir), template: entry}
    body = yaml.safe_dump([{"template": c.template, "by": c.by, "date": c.on, "sha256": c.sha256}
                           for c in sorted(entries.values(), key=lambda c: c.template)],
                          allow_unicode=True, sort_keys=False)
    write_whole(templates_dir / RECORD, HEADER + body)
    return entry


def clearance_items(loaded: LoadedPlaybook, templates_dir: Path, today: date) -> list[Item]:
    playbook = loaded.playbook
    kinds = playbook.readiness.cleared
    if not kinds:
        return []
    at = where(loaded, "readiness", "cleared")
    try:
        record = read_clearances(templates_dir)
    except CrisisError as exc:
        return [Item("clearance", f"templates/{RECORD}", "red", str(exc), "fix the file, or clear again")]
    names = dict.fromkeys(template_for(templates_dir, spec, audience, language)
                          for spec, audience, _, language in variants_of(playbook) if spec.kind in kinds)
    period = timedelta(seconds=playbook.readiness.review_period)
    return [_cleared(name, record.get(name), templates_dir, today, period, at) for name in names]


def _cleared(name: str, entry: Clearance | None, templates_dir: Path, today: date, period: timedelta,
             at: str) -> Item:
    again = f"have legal read it, then `crisis clear {name} --by NAME`"
    if entry is None:
        return Item("clearance", name, "red", "not cleared by legal (readiness.cleared asks it)", again, at)
    try:
        current = template_hash(templates_dir, name)
    except CrisisError as exc:
        return Item("clearance", name, "red", str(exc), "fix the template", at)
    if current != entry.sha256:
        return Item("clearance", name, "red", f"clearance voided: edited since {entry.by} cleared it on "
                    f"{entry.on.isoformat()}", again, at)
    if today - entry.on > period:
        return Item("clearance", name, "amber", f"cleared by {entry.by} on {entry.on.isoformat()}, longer ago than "
                    "readiness.review_period", again, at)
    return Item("clearance", name, "green", f"cleared by {entry.by} on {entry.on.isoformat()}, unchanged since")
