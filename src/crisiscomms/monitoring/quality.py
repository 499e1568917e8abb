"""Data-quality gate: every batch a source reads is checked by Great Expectations before analysis.

Python only normalises each record into typed columns (type labels, parsed dates, lengths, canonical ids);
the checking itself is a Great Expectations suite run on that frame. The failing row indices GE returns are
mapped back to reasons a communications officer can read, and each failing record is quarantined once with
all its reasons — nothing read is dropped silently: len(mentions) + len(quarantined) == len(records).

Great Expectations (and pandas) are imported lazily: importing GE costs ~2 s and ~220 MB, which the CLI and
the playbook checks must not pay. Its context and suites are built once per process and reused.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from crisiscomms.mention import Mention, Quarantined
from crisiscomms.playbook.monitoring import Gate

if TYPE_CHECKING:
    import pandas as pd

Record = tuple[str, dict[str, Any]]

# Below this many mentions per batch, an empty or thin batch is ordinary quiet, not a data gap
# (the same order as the detection's `min_volume`).
MIN_BASELINE_VOLUME = 5.0
# Above this share (and count) of garbled texts the source is probably decoded with the wrong charset; a few
# garbled tweets are ordinary and must not raise a data-gap alert.
MAX_GARBLED_SHARE = 0.05
MIN_GARBLED_COUNT = 5
RAW_LIMIT = 2000
QUARANTINE_SAMPLE = 10

# Type labels are shown in reasons ("id is a list, not text or a whole number") and are GE's value sets.
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
# control is text noise (a real CrisisLex tweet has a backspace) and is let through. Lone surrogates are
# replaced by NUL before GE sees them (see _scan_copy), so this also catches invalid Unicode.
_CONTROLS = "\x01-\x08\x0b\x0c\x0e-\x1f"
# Both patterns start with a character class: Python's re then scans fast (an alternation first is up to 7×
# slower on 100 000 tweets).
BINARY = f"[\x00{_CONTROLS}](?:(?<=\x00)|[^{_CONTROLS}]*[{_CONTROLS}][^{_CONTROLS}]*[{_CONTROLS}])"
_CP1252_HIGH = bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore")
# UTF-8 decoded as Latin-1/cp1252 ("EspaÃ±a", "â€¦"), or bytes already lost (U+FFFD).
MOJIBAKE = (f"[\u00c2\u00c3\u00e2\ufffd](?:(?<=\ufffd)|(?<=[\u00c2\u00c3])[\u0080-\u00bf{_CP1252_HIGH}]"
            f"|(?<=\u00e2)[\u0080-\u009f{_CP1252_HIGH}])")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _param(name: str) -> dict[str, str]:
    """A GE suite parameter, filled per run: the suite is built once, the bounds change with each call."""
    return {"$PARAMETER": name}


# ---------------------------------------------------------------------------------------------- rows


FRAME_COLUMNS = (
    "record_type", "id_type", "id", "id_seen", "created_at_type", "created_at_unparsed", "text_type", "text_length",
    "text", *(f"{name}{suffix}" for name in OPTIONAL_KINDS for suffix in ("_type", "")),
)
VALUE_COLUMNS = ("id", *OPTIONAL_KINDS)


@dataclass
class _Rows:
    """The batch, normalised: clean values for the mentions, scan columns for GE, positions for reasons."""

    positions: list[str] = field(default_factory=list)
    raws: list[Any] = field(default_factory=list)
    created: list[datetime | None] = field(default_factory=list)
    texts: list[str | None] = field(default_factory=list)
    # canonical id/author/channel/url/lang, for the mentions
    values: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in VALUE_COLUMNS})
    # the GE frame, column by column (all present even for an empty batch: the suite expects them)
    columns: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in FRAME_COLUMNS})

    def add(self, name: str, value: Any) -> None:
        self.columns[name].append(value)

    def keep(self, name: str, value: Any) -> None:
        self.values[name].append(value)


def _kind(value: Any, blank_is_missing: bool = True) -> str | None:
    """Type label of a raw value; None when it is missing (None, NaN, blank string)."""
    if isinstance(value, str):  # first: by far the most frequent
        return TEXT if not blank_is_missing or value.strip() else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, Mapping):
        return OBJECT
    return _LABELS.get(type(value)) or next(
        (label for kind, label in _LABELS.items() if isinstance(value, kind)), f"a {type(value).__name__}"
    )


def _canonical(value: Any, kind: str | None, allowed: Sequence[str]) -> str | None:
    if kind not in allowed:
        return None
    return value.strip() if isinstance(value, str) else str(value)


def _scan_copy(value: str | None) -> str | None:
    # GE fingerprints the frame by hashing it as UTF-8, which raises on lone surrogates; NUL keeps them
    # visible to the BINARY expectation.
    if value is None or value.isascii():
        return value
    return _SURROGATE_RE.sub("\x00", value)


def _parse_time(value: Any) -> datetime | None:
    """ISO 8601, RFC 2822 (RSS, legacy Twitter) or Unix epoch → aware UTC; naive times are taken as UTC."""
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = _parse_text_time(value.strip())
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
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


def _lang_code(value: str | None) -> str | None:
    # "EN", "pt-BR", "zh_CN" declare en, pt, zh; "und" (undetermined) declares nothing
    if value is None:
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return None if code in ("", "und") else code


def _normalise(records: Sequence[Record], seen_ids: Collection[str]) -> _Rows:
    rows = _Rows()
    for position, raw in records:
        fields: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        rows.positions.append(position)
        rows.raws.append(raw)
        rows.add("record_type", _kind(raw) or "empty (null)")
        _add_id(rows, fields.get("id"), seen_ids)
        _add_created_at(rows, fields.get("created_at"))
        _add_text(rows, fields.get("text"))
        for name, allowed in OPTIONAL_KINDS.items():
            value = fields.get(name)
            kind = _kind(value)
            canonical = _canonical(value, kind, allowed)
            if name == "lang":
                canonical = _lang_code(canonical)
            rows.add(f"{name}_type", kind)
            rows.add(name, _scan_copy(canonical))
            rows.keep(name, canonical)
    return rows


def _add_id(rows: _Rows, value: Any, seen_ids: Collection[str]) -> None:
    kind = _kind(value)
    canonical = _canonical(value, kind, (TEXT, WHOLE))
    rows.add("id_type", kind)
    rows.add("id", _scan_copy(canonical))
    # Membership is looked up here and only reported by GE: a GE value_set is re-serialised for every
    # metric (measured: 14 000 seen ids cost 1.5 s on a 2 000-row batch).
    rows.add("id_seen", canonical if canonical is not None and canonical in seen_ids else None)
    rows.keep("id", canonical)


def _add_created_at(rows: _Rows, value: Any) -> None:
    kind = _kind(value)
    parsed = _parse_time(value) if kind else None
    rows.add("created_at_type", kind)
    rows.add("created_at_unparsed", _show(value) if kind and parsed is None else None)
    rows.created.append(parsed)


def _add_text(rows: _Rows, value: Any) -> None:
    # An empty string is a (too short) text, not a missing one: `min_text_length: 0` may allow it.
    kind = _kind(value, blank_is_missing=False)
    text = value if isinstance(value, str) else None
    rows.add("text_type", kind)
    rows.add("text_length", None if text is None else len(text))
    rows.add("text", _scan_copy(text))
    rows.texts.append(text)


def _frame(rows: _Rows) -> pd.DataFrame:
    import pandas as pd

    # object dtype keeps None as the only null and every value as read; created_at gets a real datetime dtype
    # (microseconds: years 1–9999 fit) so GE compares it with the datetime bounds.
    data: dict[str, pd.Series] = {name: pd.Series(values, dtype=object) for name, values in rows.columns.items()}
    data["created_at"] = pd.Series(rows.created, dtype="datetime64[us, UTC]")
    data["text_length"] = pd.Series(rows.columns["text_length"], dtype="Int64")
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows.positions)))


# -------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Context:
    """What reasons need besides the row: the bounds of this run."""

    rows: _Rows
    settings: Gate
    latest: datetime
    window: tuple[datetime, datetime] | None
    baseline: float | None


Explain = Callable[[_Context, list[int]], Iterable[tuple[int, str]]]
Issue = Callable[[_Context, "_Outcome"], str | None]  # None: GE flagged it, but it is not worth an alert


@dataclass(frozen=True)
class _Check:
    name: str
    describe: str  # plain words, for the report
    expectation: str  # class name in great_expectations.expectations
    kwargs: dict[str, Any]
    explain: Explain | None = None  # row check: failing row → reason (quarantines)
    issue: Issue | None = None  # batch check: failure → batch issue (quarantines nothing)
    window_only: bool = False

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")


def _each(reason: Callable[[_Context, int], str]) -> Explain:
    def explain(ctx: _Context, indices: list[int]) -> Iterator[tuple[int, str]]:
        return ((i, reason(ctx, i)) for i in indices)

    return explain


def _show(value: Any, limit: int = 60) -> str:
    """A value as it was read, short: reasons must stay readable whatever the junk."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + "…"
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _duplicates(ctx: _Context, indices: list[int]) -> Iterator[tuple[int, str]]:
    # GE flags every occurrence; the first read is kept (even if it fails something else), the later ones are
    # the duplicates.
    first: dict[str, int] = {}
    for i in sorted(indices):
        key = ctx.rows.values["id"][i]
        if key in first:
            yield i, f"duplicate id {_show(key)} (first at {ctx.rows.positions[first[key]]})"
        else:
            first[key] = i


def _text_length(ctx: _Context, i: int) -> str:
    length = ctx.rows.columns["text_length"][i]
    if length == 0:
        return "text is empty"
    if length < ctx.settings.min_text_length:
        return f"text shorter than {ctx.settings.min_text_length} characters ({length})"
    return f"text longer than {ctx.settings.max_text_length} characters ({length})"


def _window(ctx: _Context, i: int) -> str:
    start, end = ctx.window or (ctx.latest, ctx.latest)
    moment = ctx.rows.created[i]
    shown = _iso(moment) if moment else "?"
    return f"created_at is outside the monitored window {_iso(start)} – {_iso(end)} ({shown})"


def _lang(ctx: _Context, i: int) -> str:
    known = ctx.settings.languages
    suffix = f" (known: {', '.join(known)})" if known else ""
    return f"lang {_show(ctx.rows.values['lang'][i])} is not a known language code{suffix}"


def _wrong_type(name: str, expected: str) -> Explain:
    return _each(lambda ctx, i: f"{name} is {ctx.rows.columns[f'{name}_type'][i]}, not {expected}")


def _binary(name: str) -> Explain:
    return _each(lambda ctx, i: f"{name} contains binary data (control characters or invalid Unicode)")


def _fixed(reason: str) -> Explain:
    return _each(lambda ctx, i: reason)


def _row_checks() -> list[_Check]:
    checks = [
        _Check("record_shape", "each record is an object with fields", "ExpectColumnValuesToBeInSet",
               {"column": "record_type", "value_set": [OBJECT]},
               _each(lambda ctx, i: f"record is {ctx.rows.columns['record_type'][i]}, not an object with fields")),
        _Check("id_present", "id is present", "ExpectColumnValuesToNotBeNull", {"column": "id_type"},
               _fixed("missing id")),
        _Check("id_type", "id is text or a whole number", "ExpectColumnValuesToBeInSet",
               {"column": "id_type", "value_set": [TEXT, WHOLE]}, _wrong_type("id", "text or a whole number")),
        _Check("id_binary", "id has no binary data", "ExpectColumnValuesToNotMatchRegex",
               {"column": "id", "regex": BINARY}, _binary("id")),
        _Check("id_unique", "id is unique in the batch", "ExpectColumnValuesToBeUnique", {"column": "id"},
               _duplicates),
        _Check("id_new", "id was not read in an earlier batch", "ExpectColumnValuesToBeNull", {"column": "id_seen"},
               _each(lambda ctx, i: f"id {_show(ctx.rows.values['id'][i])} was already read in an earlier batch")),
        _Check("created_at_present", "created_at is present", "ExpectColumnValuesToNotBeNull",
               {"column": "created_at_type"}, _fixed("missing created_at")),
        _Check("created_at_date", "created_at is a date", "ExpectColumnValuesToBeNull",
               {"column": "created_at_unparsed"},
               _each(lambda ctx, i: f"created_at is not a date: {ctx.rows.columns['created_at_unparsed'][i]}")),
        _Check("created_at_not_future", "created_at is not in the future (beyond the clock skew)",
               "ExpectColumnValuesToBeBetween", {"column": "created_at", "max_value": _param("latest")},
               _each(lambda ctx, i: f"created_at is in the future ({_iso(ctx.rows.created[i] or ctx.latest)})")),
        _Check("created_at_in_window", "created_at is inside the monitored window", "ExpectColumnValuesToBeBetween",
               {"column": "created_at", "min_value": _param("window_start"), "max_value": _param("window_end"),
                "strict_max": True}, _each(_window), window_only=True),
        _Check("text_present", "text is present", "ExpectColumnValuesToNotBeNull", {"column": "text_type"},
               _fixed("missing text")),
        _Check("text_type", "text is text", "ExpectColumnValuesToBeInSet",
               {"column": "text_type", "value_set": [TEXT]}, _wrong_type("text", "text")),
        _Check("text_length", "text length is within the bounds", "ExpectColumnValuesToBeBetween",
               {"column": "text_length", "min_value": _param("text_min"), "max_value": _param("text_max")},
               _each(_text_length)),
        _Check("text_binary", "text has no binary data", "ExpectColumnValuesToNotMatchRegex",
               {"column": "text", "regex": BINARY}, _binary("text")),
    ]
    for name, allowed in OPTIONAL_KINDS.items():
        expected = " or ".join(allowed)
        checks.append(_Check(f"{name}_type", f"{name} (optional) is {expected}", "ExpectColumnValuesToBeInSet",
                             {"column": f"{name}_type", "value_set": list(allowed)}, _wrong_type(name, expected)))
        if name not in ("lang", "reach"):  # lang is matched against a pattern below; reach is a number
            checks.append(_Check(f"{name}_binary", f"{name} has no binary data", "ExpectColumnValuesToNotMatchRegex",
                                 {"column": name, "regex": BINARY}, _binary(name)))
    checks.append(_Check("lang_known", "lang (optional) is a known language code", "ExpectColumnValuesToMatchRegex",
                         {"column": "lang", "regex": _param("lang_regex")}, _each(_lang)))
    return checks


def _garbled(ctx: _Context, outcome: _Outcome) -> str | None:
    if (outcome.unexpected or 0) < MIN_GARBLED_COUNT:
        return None
    texts = sum(text is not None for text in ctx.rows.texts)
    return (f"{outcome.unexpected} of {texts} texts look garbled (wrong character encoding, e.g. 'Ã©' for 'é') — "
            "check the source's encoding")


def _silent(ctx: _Context, outcome: _Outcome) -> str:
    return f"source silent: no record read, while the baseline expects about {ctx.baseline:g} per batch"


def _collapsed(ctx: _Context, outcome: _Outcome) -> str:
    return (f"volume collapsed: {len(ctx.rows.positions)} records read, below {ctx.settings.collapse_ratio:.0%} "
            f"of the baseline ({ctx.baseline:g}) — possible data gap")


def _batch_checks() -> list[_Check]:
    schema = [
        _Check(f"schema_{name}", f"some records carry a usable {name}",
               "ExpectColumnProportionOfNonNullValuesToBeBetween",
               {"column": f"{name}_type", "min_value": 0, "strict_min": True},
               issue=lambda ctx, outcome, name=name: (
                   f"no record has a usable {name} — check the source's field mapping"))
        for name in ("id", "created_at", "text")
    ]
    return [
        *schema,
        _Check("text_encoding", f"at most {MAX_GARBLED_SHARE:.0%} of texts look garbled",
               "ExpectColumnValuesToNotMatchRegex",
               {"column": "text", "regex": MOJIBAKE, "mostly": 1 - MAX_GARBLED_SHARE}, issue=_garbled),
        _Check("source_silent", "the source delivered records (when traffic is expected)",
               "ExpectTableRowCountToBeBetween", {"min_value": _param("min_rows")}, issue=_silent),
        _Check("volume", "volume is not collapsed against the baseline", "ExpectTableRowCountToBeBetween",
               {"min_value": _param("min_volume")}, issue=_collapsed),
    ]


CHECKS: tuple[_Check, ...] = (*_row_checks(), *_batch_checks())


# -------------------------------------------------------------------------------------------- engine


@dataclass(frozen=True)
class _Engine:
    context: Any
    definitions: dict[bool, Any]  # window given? → ValidationDefinition


_LOCK = threading.Lock()  # one GE context per process; Prefect may run tasks in threads
_ENGINE: _Engine | None = None


def _build_engine() -> _Engine:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # tqdm bars on stderr would clutter worker logs (GE 1.24 has no environment switch for them)
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (context.data_sources.add_pandas("crisiscomms").add_dataframe_asset("mentions")
             .add_batch_definition_whole_dataframe("batch"))
    definitions = {}
    for windowed in (False, True):
        # GE refuses a between-expectation with both bounds null, so "no window" is a suite without it
        name = "mentions_windowed" if windowed else "mentions"
        expectations = [getattr(gxe, c.expectation)(**c.kwargs, description=c.describe, meta={"check": c.name})
                        for c in CHECKS if windowed or not c.window_only]
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        definitions[windowed] = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch, suite=suite))
    return _Engine(context, definitions)


def _validate(frame: pd.DataFrame, windowed: bool, parameters: dict[str, Any]) -> Any:
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            _ENGINE = _build_engine()
        engine = _ENGINE
        result = engine.definitions[windowed].run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters,
            # COMPLETE: every failing row index, to quarantine rows with what they failed
            result_format={"result_format": "COMPLETE", "return_unexpected_index_query": False},
        )
        # The ephemeral context keeps every result in memory: a long-running monitor would grow without end.
        store = engine.context.validation_results_store
        for key in store.list_keys():
            store.remove_key(key)
    return result


@dataclass(frozen=True)
class _Outcome:
    success: bool
    unexpected: int | None
    indices: list[int]
    observed: Any
    error: str | None


def _error(info: Any) -> str | None:
    """GE reports exceptions either flat or per metric; a check that raised must not pass silently."""
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    nested = [_error(value) for value in info.values() if isinstance(value, Mapping)]
    return next((message for message in nested if message), None)


def _outcomes(result: Any) -> dict[str, _Outcome]:
    outcomes = {}
    for item in result.results:
        details = item.result or {}
        indices = details.get("unexpected_index_list") or []
        outcomes[item.expectation_config.meta["check"]] = _Outcome(
            success=bool(item.success),
            unexpected=details.get("unexpected_count"),
            indices=[int(i) for i in indices if not isinstance(i, Mapping)],
            observed=details.get("observed_value"),
            error=_error(item.exception_info),
        )
    return outcomes


# ---------------------------------------------------------------------------------------------- gate


@dataclass(frozen=True)
class GateResult:
    """What the gate lets through, what it sets aside and why, and a summary for a run artifact."""

    mentions: list[Mention]
    quarantined: list[Quarantined]
    batch_issues: list[str]
    summary: dict[str, Any]

    def to_json(self) -> str:
        """Summary, batch issues and quarantined positions with reasons (raw records stay out: size)."""
        quarantined = [{"position": q.position, "reasons": q.reasons} for q in self.quarantined]
        payload = {"summary": self.summary, "batch_issues": self.batch_issues, "quarantined": quarantined}
        return json.dumps(payload, ensure_ascii=False, indent=2)

    def report_markdown(self) -> str:
        """A compact Markdown report: counts, batch issues, one line per expectation, first quarantined rows."""
        s = self.summary
        lines = [
            f"**Data-quality gate — source `{s['source']}`**: {s['rows_read']} read, {s['valid']} valid, "
            f"{s['quarantined']} quarantined ({s['elapsed_seconds']:.2f} s).",
            "",
        ]
        lines += [f"- ⚠️ {_cell(issue)}" for issue in self.batch_issues] + ([""] if self.batch_issues else [])
        lines += ["| Check | Expectation | Unexpected (or observed) | Result |", "|---|---|---:|:---:|"]
        for item in s["expectations"].values():
            column = f" on `{item['column']}`" if item["column"] else ""
            count = item["unexpected"] if item["unexpected"] is not None else item["observed"]
            unexpected = "" if count is None else _cell(str(count))
            mark = "✅" if item["success"] else "❌"
            lines.append(f"| {_cell(item['describe'])} | `{item['expectation']}`{column} | {unexpected} | {mark} |")
        if self.quarantined:
            lines += ["", f"First quarantined records (of {len(self.quarantined)}):", ""]
            lines += [f"- `{_cell(q.position)}`: {_cell('; '.join(q.reasons))}"
                      for q in self.quarantined[:QUARANTINE_SAMPLE]]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def gate(
    records: Sequence[Record],
    source_id: str,
    settings: Gate,
    now: datetime,
    window: tuple[datetime, datetime] | None = None,
    baseline_volume: float | None = None,
    seen_ids: Collection[str] = (),
) -> GateResult:
    """Check one batch of `(position, raw record)` read from `source_id`; naive datetimes are taken as UTC.

    `window` (start inclusive, end exclusive) bounds created_at; `baseline_volume` (records per batch) makes an
    empty or collapsed batch a batch issue; `seen_ids` are ids already read in earlier batches.
    """
    started = time.perf_counter()
    now, window = _utc(now), _utc_window(window)
    seen = seen_ids if isinstance(seen_ids, AbstractSet | Mapping) else frozenset(seen_ids)  # O(1) lookups
    rows = _normalise(records, seen)
    ctx = _Context(rows, settings, now + timedelta(seconds=settings.max_future_skew), window, baseline_volume)
    validation_started = time.perf_counter()
    outcomes = _outcomes(_validate(_frame(rows), window is not None, _parameters(ctx)))
    validation_seconds = time.perf_counter() - validation_started
    reasons, by_check = _row_reasons(ctx, outcomes)
    mentions, quarantined = _split(rows, reasons, source_id)
    issues = _batch_issues(ctx, outcomes)
    summary = {
        "source": source_id,
        "rows_read": len(records),
        "valid": len(mentions),
        "quarantined": len(quarantined),
        "success": not quarantined and not issues,  # the gate's verdict: nothing set aside, nothing to alert
        "ge_success": all(o.success for o in outcomes.values()),  # GE's: stricter (a few garbled texts fail it)
        "now": _iso(now),
        "window": [_iso(moment) for moment in window] if window else None,
        "baseline_volume": baseline_volume,
        # keyed by check name, in suite order
        "expectations": {check.name: _entry(check, outcomes[check.name], by_check) for check in CHECKS
                         if check.name in outcomes},
        "elapsed_seconds": round(time.perf_counter() - started, 4),
        "validation_seconds": round(validation_seconds, 4),
    }
    return GateResult(mentions, quarantined, issues, summary)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_window(window: tuple[datetime, datetime] | None) -> tuple[datetime, datetime] | None:
    if window is None:
        return None
    start, end = _utc(window[0]), _utc(window[1])
    if start >= end:
        raise ValueError(f"window start {_iso(start)} is not before its end {_iso(end)}")
    return start, end


def _parameters(ctx: _Context) -> dict[str, Any]:
    settings, baseline = ctx.settings, ctx.baseline
    expected = baseline is not None and baseline >= MIN_BASELINE_VOLUME
    known = "|".join(re.escape(code) for code in settings.languages)
    return {
        "latest": ctx.latest,
        "window_start": ctx.window[0] if ctx.window else None,
        "window_end": ctx.window[1] if ctx.window else None,
        "text_min": settings.min_text_length,
        "text_max": settings.max_text_length,
        "lang_regex": f"^(?:{known})$" if known else "^[a-z]{2}$",
        "min_rows": 1 if expected else 0,
        # volume < ratio × baseline fails ⇔ the (whole) row count is below its ceiling
        "min_volume": math.ceil(settings.collapse_ratio * baseline) if expected and baseline else 0,
    }


def _row_reasons(ctx: _Context, outcomes: dict[str, _Outcome]) -> tuple[dict[int, list[str]], dict[str, int]]:
    reasons: dict[int, list[str]] = {}
    by_check: dict[str, int] = {}
    for check in CHECKS:
        outcome = outcomes.get(check.name)
        if check.explain is None or outcome is None or outcome.success:
            continue
        for i, reason in check.explain(ctx, outcome.indices):
            reasons.setdefault(i, []).append(reason)
            by_check[check.name] = by_check.get(check.name, 0) + 1
    return reasons, by_check


def _split(rows: _Rows, reasons: dict[int, list[str]], source_id: str) -> tuple[list[Mention], list[Quarantined]]:
    mentions: list[Mention] = []
    quarantined: list[Quarantined] = []
    values = rows.values
    for i, position in enumerate(rows.positions):
        if i not in reasons:
            try:
                mentions.append(Mention(
                    id=values["id"][i], created_at=rows.created[i], text=rows.texts[i], author=values["author"][i],
                    channel=values["channel"][i], url=values["url"][i], lang=values["lang"][i], source=source_id,
                    reach=values["reach"][i],
                ))
                continue
            except ValidationError as error:  # a gap in the checks must still not lose or crash on a record
                reasons[i] = [f"could not be read as a mention: {error.errors()[0]['msg']}"]
        quarantined.append(Quarantined(source=source_id, position=position, reasons=reasons[i],
                                       raw=_raw_text(rows.raws[i])))
    return mentions, quarantined


def _raw_text(raw: Any) -> str:
    try:
        text = json.dumps(raw, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):  # non-string keys, cycles
        text = repr(raw)
    # lone surrogates would break any UTF-8 writer of the quarantine: keep them as visible escapes
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= RAW_LIMIT else text[: RAW_LIMIT - 1] + "…"


def _batch_issues(ctx: _Context, outcomes: dict[str, _Outcome]) -> list[str]:
    issues = []
    empty = not ctx.rows.positions
    for check in CHECKS:
        outcome = outcomes.get(check.name)
        if outcome is None:
            continue
        if outcome.error:
            issues.append(f"check '{check.describe}' could not run ({outcome.error}); rows were not checked for it")
        elif check.issue is None or outcome.success:
            continue
        elif empty and check.name != "source_silent":
            continue  # an empty batch is one issue (silence), not a schema or volume one too
        elif issue := check.issue(ctx, outcome):
            issues.append(issue)
    return issues


def _entry(check: _Check, outcome: _Outcome, by_check: dict[str, int]) -> dict[str, Any]:
    observed = outcome.observed
    return {
        "describe": check.describe,
        "expectation": _snake(check.expectation),
        "column": check.column,
        "success": outcome.success,
        "unexpected": outcome.unexpected,
        "quarantined": by_check.get(check.name, 0) if check.explain else None,
        "observed": observed if isinstance(observed, int | float | str | type(None)) else str(observed),
        "error": outcome.error,
    }


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
