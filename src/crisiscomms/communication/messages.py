"""The message pack: every message of the communication phase rendered for each audience, channel and language,
then checked, before anyone is asked to approve it.

    playbook `communication.messages` ─▶ variants (kind × audience × channel × language)
        ─▶ template messages/<kind>.<audience>.<lang>.md.j2, else messages/<kind>.<lang>.md.j2
        ─▶ render (sandboxed, strict) ─▶ checks ─▶ Pack (texts + one SHA-256 over all of them)

A pack with problems is refused as a whole: a missing variable, a text longer than its channel allows, an empty
section, a placeholder left in ("TODO", "[À COMPLÉTER]", "{{"), an empty message, a missing subject line.
What is approved is the hash: only texts whose hash equals the approved one can ever be released.

The next update is promised from the RELEASE, not from the rendering (hours may go by in approval): when the fact
sheet gives a delay (`next_update: 2h`), every text carries the marker `⟦next-update⟧` where the time goes, the pack
keeps the delay (`next_update_after`, covered by the hash with the texts), and the release writes
`spoken_time(first release attempt + delay)` in place of the marker just before sending. Length checks count the
marker as the longest time it can become, so a short post cannot overflow once the time is written in.
A date and time in the fact sheet (`next_update: 2026-03-12T18:00`) is written into the texts as is.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from pydantic import BaseModel, ConfigDict

from crisiscomms import clock
from crisiscomms.playbook import rendering
from crisiscomms.playbook.communication import MESSAGE_KINDS, FactSheet, MessageSpec, sheet_gaps
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.namespace import MessageNamespace
from crisiscomms.playbook.steps import parse_duration
from crisiscomms.playbook.template_files import message_template

TIMEZONE = "Europe/Paris"
NEXT_UPDATE_MARKER = "⟦next-update⟧"  # replaced by the promised time when the pack is released
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{%|%\}|\bTODO\b|\bXXX\b|\[(?:À COMPLÉTER|A COMPLETER|TBD|TODO|…|\.\.\.)\]",
                          re.IGNORECASE)
_SECTION = re.compile(r"^## .*$", re.MULTILINE)
_MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")


class Variant(BaseModel):
    """One message as it would leave: a kind, for an audience, on a channel, in a language."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: str
    audience: str
    channel: str
    language: str
    template: str
    subject: str
    text: str
    problems: list[str] = []

    @property
    def length(self) -> int:
        return len(self.text)


class Pack(BaseModel):
    model_config = ConfigDict(frozen=True)

    playbook: str
    version: str
    created_at: str
    next_update: str  # ISO time when the fact sheet gives a date and time; "" for a delay (see next_update_after)
    variants: list[Variant]
    hash: str
    drill: bool = False  # an exercise: released to the file outbox only, whatever the channel
    next_update_after: int | None = None  # seconds after the release, when the fact sheet gives a delay

    @property
    def problems(self) -> list[str]:
        return [f"{v.id}: {problem}" for v in self.variants for problem in v.problems]


_MARKER_TERMS = ("created_at", "next_update", "next_update_after")


def content_hash(variants: list[Variant], pack: dict[str, Any] | None = None) -> str:
    """SHA-256 over exactly what would be sent: ids and texts, in order (problems and metadata aside).

    Texts that carry the next-update marker are hashed with what the marker will become (the pack's delay after
    the release, or its date and time) and with when they were rendered: a delay edited after approval changes
    the hash like a text would, and the same facts rendered twice are two packs, each released on its own.
    """
    payload: Any = [{"id": v.id, "subject": v.subject, "text": v.text} for v in variants]
    if uses_marker(variants):
        payload = {"messages": payload, **{term: (pack or {}).get(term) for term in _MARKER_TERMS}}
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def read_variants(pack: dict[str, Any]) -> tuple[list[Variant], str]:
    """A kept pack's messages and the hash of their texts as they are now (to compare with an approved hash)."""
    variants = [Variant.model_validate(v) for v in pack["variants"]]
    return variants, content_hash(variants, pack)


def uses_marker(variants: list[Variant]) -> bool:
    return any(NEXT_UPDATE_MARKER in v.subject or NEXT_UPDATE_MARKER in v.text for v in variants)


@dataclass
class PackContext:
    """What messages are written from, besides the playbook: the crisis inputs, facts, assessment, a claim."""

    inputs: dict[str, Any]
    facts: FactSheet | None = None
    assessment: dict[str, Any] | None = None
    claim: dict[str, Any] | None = None
    drill: bool = False
    now: datetime = field(default_factory=clock.now)
    kinds: list[str] | None = None  # only these kinds (None: all but all_clear; `correction` only with a claim)
    audiences: list[str] | None = None  # only these audiences (where a claim spreads); None: all
    claim_id: str = ""  # a declared claim's id: a correction in another language quotes and states its translation


def next_update_time(facts: FactSheet, now: datetime) -> datetime:
    """`2h` → now + 2 hours; an ISO date and time as written (naive = the playbook's time zone)."""
    delay = next_update_delay(facts)
    if delay is not None:
        return now + timedelta(seconds=delay)
    return parse_moment(facts.next_update)


def parse_moment(text: str) -> datetime:
    """An ISO date and time; naive = the playbook's time zone."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=_zone())


def next_update_delay(facts: FactSheet) -> int | None:
    """Seconds after the release when the fact sheet gives a delay (`2h`); None for a date and time."""
    try:
        return parse_duration(facts.next_update)
    except ValueError:
        return None


def fill_next_update(text: str, when: datetime, language: str) -> str:
    """The text as it leaves: the next-update marker replaced by the promised time, with its zone."""
    return text.replace(NEXT_UPDATE_MARKER, spoken_time(when, language)) if NEXT_UPDATE_MARKER in text else text


@functools.cache
def longest_next_update(language: str) -> int:
    """The most characters the marker can become in this language (the longest month, 23:59, summer or winter)."""
    zone = _zone()
    return max(len(spoken_time(datetime(2026, month, 28, 23, 59, tzinfo=zone), language)) for month in range(1, 13))


def sent_length(text: str, language: str | None = None) -> int:
    """The text's length once sent, at most: each marker counted as the longest time it can become."""
    body = text.strip()
    marks = body.count(NEXT_UPDATE_MARKER)
    if not marks:
        return len(body)
    longest = longest_next_update(language) if language else max(longest_next_update(x) for x in ("fr", "en"))
    return len(body) + marks * max(longest - len(NEXT_UPDATE_MARKER), 0)


def spoken_delay(seconds: int) -> str:
    """7200 → "2 h", 5400 → "1 h 30 min", 1800 → "30 min"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(p for p in parts if p) or "0 s"


def _zone() -> Any:
    try:
        return ZoneInfo(TIMEZONE)
    except ZoneInfoNotFoundError:  # a machine without time zone data: say UTC rather than guess
        return UTC


def spoken_time(moment: datetime, language: str) -> str:
    """"12 mars 2026 à 14:00 (heure de Paris)" / "12 March 2026 at 14:00 (Paris time, CET)": always with its zone."""
    zone = _zone()
    local = moment.astimezone(zone)
    city = str(getattr(zone, "key", "UTC")).rsplit("/", 1)[-1].replace("_", " ")
    if language == "fr":
        where = "UTC" if city == "UTC" else f"heure de {city}"
        return f"{local.day} {_MONTHS_FR[local.month - 1]} {local.year} à {local:%H:%M} ({where})"
    where = "UTC" if city == "UTC" else f"{city} time, {local.tzname()}"
    return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year} at {local:%H:%M} ({where})"


def variants_of(playbook: Playbook) -> list[tuple[MessageSpec, str, str, str]]:
    """(spec, audience, channel, language) of every message the playbook declares, in declaration order."""
    out = []
    for spec in playbook.communication.messages:
        for audience in spec.audiences:
            languages = spec.languages or [playbook.audiences[audience].language]
            for channel in spec.channels:
                out += [(spec, audience, channel, language) for language in languages]
    return out


def selected_variants(playbook: Playbook, context: PackContext) -> list[tuple[MessageSpec, str, str, str]]:
    """The declared messages this pack holds: its kinds (a correction only in a pack about a claim), its audiences."""
    # A correction goes only in a pack about a claim, the all-clear only in a pack that asks for it: ending the
    # crisis is a decision of its own (its release closes the crisis and starts the review).
    kinds = context.kinds or [k for k in MESSAGE_KINDS if (k != "correction" or context.claim) and k != "all_clear"]
    return [row for row in variants_of(playbook)
            if row[0].kind in kinds and (context.audiences is None or row[1] in context.audiences)]


def template_for(templates_dir: Path, spec: MessageSpec, audience: str, language: str) -> str:
    """The same resolution `crisis validate` checks every audience × language with (playbook.template_files)."""
    return message_template(templates_dir, spec, audience, language)


def render_pack(playbook: Playbook, templates_dir: Path, context: PackContext) -> Pack:
    facts = context.facts or playbook.communication.facts
    delay = next_update_delay(facts)  # a delay: counted from the release, written in by the release
    when = None if delay is not None else next_update_time(facts, context.now)
    rows = selected_variants(playbook, context)
    variants = [_variant(playbook, templates_dir, context, facts, when, *row) for row in rows]
    variants = [_in_its_language(v, facts, playbook.language) for v in variants]
    terms = {"created_at": context.now.isoformat(), "next_update": when.isoformat() if when else "",
             "next_update_after": delay}
    return Pack(playbook=playbook.id, version=playbook.version, **terms, variants=variants,
                hash=content_hash(variants, terms), drill=context.drill)


def _variant(playbook: Playbook, templates_dir: Path, context: PackContext, facts: FactSheet, when: datetime | None,
             spec: MessageSpec, audience: str, channel: str, language: str) -> Variant:
    name = template_for(templates_dir, spec, audience, language)
    ident = f"{spec.kind}/{audience}/{channel}/{language}"
    values = _values(playbook, context, facts, when, spec, audience, channel, language)
    try:
        text = rendering.render_file(templates_dir, name, values).strip() + "\n"
    except Exception as exc:  # the template is data: whatever it raises is this message's problem, not the run's
        return _failed(ident, spec, audience, channel, language, name, _render_problem(name, exc))
    subject = _subject(spec.kind, text)
    # Quoted public content (the false claim) may hold anything; the team's own facts and inputs may not.
    quoted = _strings(_claim(playbook, context, language))
    problems = check_text(text, spec.kind, playbook.channels[channel].limit, data=quoted,
                          language=language) + _past_promise(text, when, context.now, language)
    return Variant(id=ident, kind=spec.kind, audience=audience, channel=channel, language=language, template=name,
                   subject=subject, text=text, problems=problems)


def _in_its_language(variant: Variant, facts: FactSheet, own: str) -> Variant:
    """A message whose language has no fact sheet, or only part of one, is refused: never another language's facts
    in its sentences. Validation refuses such a playbook; this holds the approvers' edits to the same rule."""
    gaps = [f"fact sheet in {variant.language}: {why}" for _, why in sheet_gaps(facts, own, variant.language)]
    return variant.model_copy(update={"problems": [*variant.problems, *gaps]}) if gaps else variant


def _claim(playbook: Playbook, context: PackContext, language: str) -> dict[str, Any] | None:
    """The claim as a correction in `language` quotes and states it: a declared claim's words in that language."""
    if context.claim is None:
        return None
    declared = {c.id: c for c in playbook.communication.claims}.get(context.claim_id)
    if declared is None or language == playbook.language:
        return context.claim
    words = declared.in_language(language)
    return {**context.claim, "text": words.claim, "truth": words.truth}


def _render_problem(name: str, exc: Exception) -> str:
    """Why the template could not be rendered, in its author's terms: where, and what went wrong."""
    if isinstance(exc, jinja2.TemplateNotFound) and exc.name == name:
        return f"template {name} not found in templates/"
    where = _template_line(exc, name)
    if isinstance(exc, jinja2.TemplateNotFound):  # one it includes, by a name computed at run time
        return f"{where}: template {exc.name} not found in templates/"
    if isinstance(exc, jinja2.UndefinedError):
        return f"{where}: missing variable ({exc.message})"
    if isinstance(exc, jinja2.TemplateError):
        return f"{where}: {exc}"
    return f"{where}: cannot compute a value ({type(exc).__name__}: {exc})"  # 10 / 0, None - 10, 1 + 'a'


def _template_line(exc: Exception, name: str) -> str:
    """`messages/x.fr.md.j2 line 3`: Jinja gives an error raised in a template a frame named after that template
    (an included one when the error is there)."""
    found, frame = name, exc.__traceback__
    while frame is not None:
        code = frame.tb_frame.f_code
        if code.co_filename.endswith(".j2") or code.co_filename == "<template>":
            found = f"{code.co_filename} line {frame.tb_lineno}"
        frame = frame.tb_next
    return found


def _past_promise(text: str, when: datetime | None, now: datetime, language: str) -> list[str]:
    """A text promising the next update at a date and time already gone: refused, never sent as a stale promise."""
    if when is None or when > now:
        return []
    spoken = spoken_time(when, language)
    if spoken not in text:
        return []
    return [f"the next update time {spoken} is already past: give a later date and time, or a delay (2h), in the "
            "fact sheet"]


def _failed(ident: str, spec: MessageSpec, audience: str, channel: str, language: str, name: str,
            problem: str) -> Variant:
    return Variant(id=ident, kind=spec.kind, audience=audience, channel=channel, language=language, template=name,
                   subject="", text="", problems=[problem])


def _values(playbook: Playbook, context: PackContext, facts: FactSheet, when: datetime | None, spec: MessageSpec,
            audience: str, channel: str, language: str) -> dict[str, Any]:
    """The names a message template reads: exactly MessageNamespace's, which validation checks templates against.
    Built without validation: the assessment and the inputs are data from the run, passed on as they are."""
    org = playbook.communication.organisation
    target = playbook.audiences[audience]
    route = playbook.channels[channel]
    promise = spoken_time(when, language) if when else NEXT_UPDATE_MARKER
    # A template that fits a short post to its channel counts the promise as the longest it can be once sent.
    longest = len(promise) if when else longest_next_update(language)
    claim = _claim(playbook, context, language)
    return MessageNamespace.model_construct(
        org=org.model_dump() if org else {"name": playbook.title, "spokesperson": "", "website": "", "contact": ""},
        facts={**facts.in_language(language).model_dump(exclude={"translations"}), "next_update": promise},
        audience={"name": audience, "title": target.title, "kind": target.kind, "language": target.language},
        channel={"name": channel, "title": route.title or channel, "kind": route.kind, "max_length": route.limit},
        message={"kind": spec.kind, "language": language, "drill": context.drill, "next_update_longest": longest},
        # No assessment or claim for this pack: an empty record, as a template guarding with `{% if claim %}` expects.
        assessment=rendering.ABSENT if context.assessment is None else context.assessment,
        claim=rendering.ABSENT if claim is None else claim, inputs=context.inputs,
        playbook={"id": playbook.id, "version": playbook.version, "title": playbook.title},
    ).values()


def _subject(kind: str, text: str) -> str:
    first = text.splitlines()[0] if text.strip() else ""
    return first[2:].strip() if first.startswith("# ") else ""


def _strings(value: Any) -> list[str]:
    """Every text in a value (nested dicts and lists included)."""
    if isinstance(value, str):
        return [value] if len(value) > 1 else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def check_text(text: str, kind: str, limit: int | None, data: list[str] | None = None,
               language: str | None = None) -> list[str]:
    """Why this text must not leave as it is; [] when it may be proposed for approval.

    Placeholders are looked for in what the template wrote, not in the data it quotes: a false claim that
    contains "{{ … }}" is quoted verbatim (inert) and is no placeholder; nor is the next-update marker, which the
    release replaces. The length is the length once sent: the marker counts as the longest time it can become
    in `language` (both languages when None).
    """
    problems = []
    if not text.strip():
        return ["the message is empty"]
    if kind != "social_post" and not _subject(kind, text):
        problems.append("no subject line (the first line must be `# Subject`)")
    length = sent_length(text, language)
    if limit is not None and length > limit:
        written = " once the next-update time is written in" if NEXT_UPDATE_MARKER in text else ""
        problems.append(f"{length} characters{written}, the channel allows {limit}")
    for heading in _empty_sections(text):
        problems.append(f"empty section '{heading}'")
    own = text.replace(NEXT_UPDATE_MARKER, " ")
    for value in sorted(data or [], key=len, reverse=True):
        own = own.replace(value, " ")
    for found in sorted({m.group() for m in _PLACEHOLDER.finditer(own)}):
        problems.append(f"placeholder left in the text: {found}")
    return problems


def _empty_sections(text: str) -> list[str]:
    headings = list(_SECTION.finditer(text))
    empty = []
    for k, heading in enumerate(headings):
        end = headings[k + 1].start() if k + 1 < len(headings) else len(text)
        if not text[heading.end() : end].strip():
            empty.append(heading.group()[3:].strip())
    return empty
