"""A record as a source delivered it → a `Mention`, or every reason it is quarantined, from ONE validation.

`ReadMention` is the `Mention` model with validators that read values the way sources deliver them (numeric
ids, RFC 2822 or epoch dates, blank strings for nothing) and refuse the rest in words a communications officer
understands. Pydantic reports every field that fails, so one validation of a record gives either the mention
or all its reasons. What depends on more than the record — the ids read before, in this batch or an earlier
one, the clock and the monitored window — comes in through the validation context (`Reading`).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from pydantic import ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from crisiscomms.mention import Mention, Quarantined
from crisiscomms.playbook.monitoring import Gate

RAW_LIMIT = 2000
MAX_ID_LENGTH = 256  # platform ids are tens of characters; longer is not an id
# Unix time as a number: up to year ~2286 in milliseconds. Anything larger is refused BEFORE any arithmetic:
# a 400-digit integer overflows a float (and one of 4,300+ digits cannot even be turned into text).
MAX_EPOCH = 10**13
REASON = "crisis_reason"  # the pydantic error type whose message is a reason as shown to people

# Type labels, as reasons show them ("id is a list, not text or a whole number").
TEXT, WHOLE, OBJECT = "text", "a whole number", "an object"
_LABELS: dict[type, str] = {
    bool: "true/false", int: WHOLE, float: "a decimal number", dict: OBJECT, list: "a list", tuple: "a list",
    bytes: "raw bytes", bytearray: "raw bytes",
}
OPTIONAL_KINDS: dict[str, tuple[str, ...]] = {
    "author": (TEXT, WHOLE),  # numeric user ids are common and harmless
    "channel": (TEXT,),
    "url": (TEXT,),
    "lang": (TEXT,),
    "reach": (WHOLE,),  # followers or views: a count
}

# Binary data read as text: a NUL, or three or more other C0 controls (tab/newline/return aside). One stray
# control is text noise (a real CrisisLex tweet has a backspace) and is let through. Lone surrogates count
# as NUL (invalid Unicode). The pattern starts with a character class: Python's re then scans fast.
_CONTROLS = "\x01-\x08\x0b\x0c\x0e-\x1f"
BINARY = re.compile(f"[\x00{_CONTROLS}](?:(?<=\x00)|[^{_CONTROLS}]*[{_CONTROLS}][^{_CONTROLS}]*[{_CONTROLS}])")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Reading:
    """The validation context of one batch: its bounds, and the ids read so far (first position of each)."""

    settings: Gate
    latest: datetime  # now + the tolerated clock skew
    window: tuple[datetime, datetime] | None = None
    oldest: datetime | None = None  # older is quarantined `too_old` (gate.max_age before the reference time)
    seen: Collection[str] = frozenset()  # ids read in earlier batches
    position: str = ""  # of the record being validated
    first: dict[str, str] = field(default_factory=dict)
    lang_pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        known = "|".join(re.escape(code) for code in self.settings.languages)
        self.lang_pattern = re.compile(f"(?:{known})" if known else "[a-z]{2}")

    def register(self, ident: str) -> str:
        """The id, unless it was read before; its first position in the batch is kept either way."""
        if ident in self.first:
            raise _reason(f"duplicate id {show(ident)} (first at {self.first[ident]})")
        self.first[ident] = self.position
        if ident in self.seen:
            raise _reason(f"id {show(ident)} was already read in an earlier batch")
        return ident


def _reason(text: str) -> PydanticCustomError:
    return PydanticCustomError(REASON, text)  # no context given: braces in the text stay as they are


def _context(info: ValidationInfo) -> Reading:
    if not isinstance(info.context, Reading):  # a TypeError, not an assert: pydantic would make that a reason
        raise TypeError("ReadMention is validated with a Reading context (see admit)")
    return info.context


class ReadMention(Mention):
    """A `Mention` validated from a record as read; `admit` is how a batch is validated."""

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any, info: ValidationInfo) -> str:
        if kind(value) is None:
            raise _reason("missing id")
        if kind(value) == WHOLE and abs(value) >= 10**MAX_ID_LENGTH:  # never written out: 4,300+ digits cannot be
            raise _reason(f"id is a whole number of more than {MAX_ID_LENGTH} digits")
        ident = normal_id(value)
        if ident is None:
            raise _reason(f"id is {kind(value)}, not {TEXT} or {WHOLE}")
        if len(ident) > MAX_ID_LENGTH:
            raise _reason(f"id longer than {MAX_ID_LENGTH} characters ({len(ident)})")
        return _context(info).register(_no_binary("id", ident))

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at(cls, value: Any, info: ValidationInfo) -> datetime:
        if kind(value) is None:
            raise _reason("missing created_at")
        moment = parse_time(value)
        if moment is None:
            raise _reason(f"created_at is not a date: {show(value)}")
        reading = _context(info)
        if moment > reading.latest:
            raise _reason(f"created_at is in the future ({iso(moment)})")
        if reading.oldest and moment < reading.oldest:
            raise _reason(f"too_old: created_at {iso(moment)} is before {iso(reading.oldest)} (gate.max_age): an "
                          "old post read now is not today's volume")
        if reading.window and not reading.window[0] <= moment < reading.window[1]:
            start, end = reading.window
            raise _reason(f"created_at is outside the monitored window {iso(start)} – {iso(end)} ({iso(moment)})")
        return moment

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> str:
        found = kind(value, blank_is_missing=False)  # "" is a (too short) text, not a missing one
        if found is None:
            raise _reason("missing text")
        if found != TEXT:
            raise _reason(f"text is {found}, not text")
        settings = _context(info).settings
        if len(value) < settings.min_text_length:
            raise _reason(f"text shorter than {settings.min_text_length} characters ({len(value)})" if value
                          else "text is empty")
        if len(value) > settings.max_text_length:
            raise _reason(f"text longer than {settings.max_text_length} characters ({len(value)})")
        return _no_binary("text", value)

    @field_validator(*OPTIONAL_KINDS, mode="before")
    @classmethod
    def _optional(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name or ""
        if name == "reach":  # a count stays a number: the model's own bound (≥ 0) checks it
            return None if kind(value) is None else _typed("reach", value, (WHOLE,))
        canonical = _canonical(name, value, OPTIONAL_KINDS[name])
        if canonical is None:
            return None
        return _language(canonical, _context(info)) if name == "lang" else _no_binary(name, canonical)


def _language(value: str, reading: Reading) -> str | None:
    # "EN", "pt-BR", "zh_CN" declare en, pt, zh; "und" (undetermined) declares nothing
    code = value.lower().replace("_", "-").split("-")[0]
    if code in ("", "und"):
        return None
    if not reading.lang_pattern.fullmatch(code):
        known = reading.settings.languages
        raise _reason(f"lang {show(code)} is not a known language code" + (f" (known: {', '.join(known)})"
                                                                             if known else ""))
    return code


def kind(value: Any, blank_is_missing: bool = True) -> str | None:
    """Type label of a raw value; None when it is missing (None, NaN, blank string)."""
    if isinstance(value, str):  # first: by far the most frequent
        return TEXT if not blank_is_missing or value.strip() else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, Mapping):
        return OBJECT
    return _LABELS.get(type(value)) or next(
        (label for known, label in _LABELS.items() if isinstance(value, known)), f"a {type(value).__name__}"
    )


def normal_id(value: Any) -> str | None:
    """An id as the store keys it, the ONE normalisation every duplicate check uses: text stripped of surrounding
    whitespace (Unicode included) and NFC-composed (an "é" typed two ways is one id); case kept (platforms such as
    YouTube tell ids apart by case); a whole number written out (1 and "1" are one id). None: not an id at all
    (missing, or neither text nor a whole number)."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value.strip()) or None
    if kind(value) != WHOLE or abs(value) >= 10**MAX_ID_LENGTH:
        return None
    return str(value)


def _typed(name: str, value: Any, allowed: tuple[str, ...]) -> Any:
    found = kind(value)
    if found not in allowed:
        raise _reason(f"{name} is {found}, not {' or '.join(allowed)}")
    return value


def _canonical(name: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    """The value as text (stripped; a whole number written out), None when missing; another type is refused.

    Every field read as text allows text: a string, by far the most frequent value, takes the short way.
    """
    if isinstance(value, str):
        return value.strip() or None
    if kind(value) is None:
        return None
    return str(_typed(name, value, allowed))


def binary(text: str) -> bool:
    if not text.isascii():
        text = _SURROGATE.sub("\x00", text)
    return BINARY.search(text) is not None


def _no_binary(name: str, text: str) -> str:
    if binary(text):
        raise _reason(f"{name} contains binary data (control characters or invalid Unicode)")
    return text


def parse_time(value: Any) -> datetime | None:
    """ISO 8601, RFC 2822 (RSS, legacy Twitter) or Unix epoch → aware UTC; naive times are taken as UTC."""
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = _parse_text_time(value.strip())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not abs(value) < MAX_EPOCH:  # also NaN; before any arithmetic: a huge int overflows a float
            return None
        seconds = value / 1000 if abs(value) > 2e10 else value  # milliseconds, as pydantic reads them
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range by its offset
        return None


def _parse_text_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def show(value: Any, limit: int = 60) -> str:
    """A value as it was read, short: reasons must stay readable whatever the junk."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "…"
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def admit(position: str, raw: Any, source_id: str, reading: Reading) -> Mention | Quarantined:
    """One record, validated once: the mention, or the record quarantined with every reason."""
    reading.position = position
    shaped = isinstance(raw, Mapping)
    try:  # the source is ours to name, whatever the record says
        return ReadMention.model_validate({**(raw if shaped else {}), "source": source_id}, context=reading)
    except ValidationError as error:
        reasons = [_words(e) for e in error.errors(include_url=False, include_context=False, include_input=False)]
    if not shaped:  # validated as an empty object: its missing fields are reasons too
        reasons.insert(0, f"record is {kind(raw) or 'empty (null)'}, not an object with fields")
    return Quarantined(source=source_id, position=position, reasons=reasons, raw=raw_text(raw))


def _words(error: Any) -> str:
    if error["type"] == REASON:
        return str(error["msg"])
    if error["type"] == "missing":
        return f"missing {error['loc'][0]}"
    return f"could not be read as a mention: {error['msg']}"  # a bound of the model itself (reach ≥ 0)


def raw_text(raw: Any) -> str:
    try:
        text = json.dumps(raw, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):  # non-string keys, cycles
        text = repr(raw)
    # lone surrogates would break any UTF-8 writer of the quarantine: keep them as visible escapes
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= RAW_LIMIT else text[: RAW_LIMIT - 1] + "…"
