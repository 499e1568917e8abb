"""Data-quality gate: each record validated once, each batch checked by a Great Expectations suite.

    records ─▶ ReadMention (pydantic, one validation a record) ─▶ mention, or quarantined with every reason
       └─────▶ the batch as read, one row a record ─▶ GE suite "mention-batch" ─▶ result per expectation
                                                        └─▶ batch issues (silence, collapse, mapping, encoding)

Per record, the mention model decides (see record.py). Per batch, Great Expectations checks what no single
record shows — volume against the baseline, null rates per column, the timestamp range, text lengths,
duplicate ids, garbled encodings — and its validation result (success and observed value per expectation) is
the gate's report. Nothing read is dropped silently: len(mentions) + len(quarantined) == len(records).

Great Expectations runs in expectations.py (imported there lazily, its context built once per process).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crisiscomms.mention import Mention, Quarantined
from crisiscomms.monitoring import expectations
from crisiscomms.monitoring.expectations import OLDEST, SUITE, Expectation, Outcome
from crisiscomms.monitoring.record import Reading, admit, iso
from crisiscomms.playbook.monitoring import Gate

Record = tuple[str, Any]

# Below this many mentions per batch, an empty or thin batch is ordinary quiet, not a data gap
# (the same order as the detection's `min_volume`).
MIN_BASELINE_VOLUME = 5.0
# Above this count (and expectations.MAX_GARBLED_SHARE) of garbled texts the source is probably decoded with the
# wrong charset; a few garbled tweets are ordinary and must not raise a data-gap alert.
MIN_GARBLED_COUNT = 5
QUARANTINE_SAMPLE = 10


@dataclass(frozen=True)
class _Batch:
    """What a batch issue is judged on besides GE's result."""

    rows: int
    texts: int
    settings: Gate
    baseline: float | None


Issue = Callable[[_Batch, Outcome], str | None]  # None: GE flagged it, but it is not worth an alert


def _volume(batch: _Batch, outcome: Outcome) -> str:
    if batch.rows == 0:
        return f"source silent: no record read, while the baseline expects about {batch.baseline:g} per batch"
    return (f"volume collapsed: {batch.rows} records read, below {batch.settings.collapse_ratio:.0%} "
            f"of the baseline ({batch.baseline:g}) — possible data gap")


def _mapping(name: str) -> Issue:
    return lambda batch, outcome: f"no record has a usable {name} — check the source's field mapping"


def _garbled(batch: _Batch, outcome: Outcome) -> str | None:
    if (outcome.unexpected or 0) < MIN_GARBLED_COUNT:
        return None
    return (f"{outcome.unexpected} of {batch.texts} texts look garbled (wrong character encoding, e.g. 'Ã©' for "
            "'é') — check the source's encoding")


ISSUES: dict[str, Issue] = {
    "volume": _volume, **{f"{name}_present": _mapping(name) for name in expectations.REQUIRED},
    "text_encoding": _garbled,
}


# ---------------------------------------------------------------------------------------------- gate


@dataclass(frozen=True)
class GateResult:
    """What the gate lets through, what it sets aside and why, and the batch's GE result as a summary."""

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
        lines = [f"**Data-quality gate — source `{s['source']}`**: {s['rows_read']} read, {s['valid']} valid, "
                 f"{s['quarantined']} quarantined ({s['elapsed_seconds']:.2f} s).", ""]
        lines += [f"- ⚠️ {_cell(issue)}" for issue in self.batch_issues] + ([""] if self.batch_issues else [])
        lines += ["| Check | Expectation | Unexpected (or observed) | Result |", "|---|---|---:|:---:|"]
        for item in s["expectations"].values():
            column = f" on `{item['column']}`" if item["column"] else ""
            count = item["unexpected"] if item["unexpected"] is not None else item["observed"]
            shown = "" if count is None else _cell(str(count))
            mark = "✅" if item["success"] else "❌"
            lines.append(f"| {_cell(item['describe'])} | `{item['expectation']}`{column} | {shown} | {mark} |")
        if self.quarantined:
            lines += ["", f"First quarantined records (of {len(self.quarantined)}):", ""]
            lines += [f"- `{_cell(q.position)}`: {_cell('; '.join(q.reasons))}"
                      for q in self.quarantined[:QUARANTINE_SAMPLE]]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def gate(records: Sequence[Record], source_id: str, settings: Gate, now: datetime,
         window: tuple[datetime, datetime] | None = None, baseline_volume: float | None = None,
         seen_ids: Collection[str] = (), newest: datetime | None = None) -> GateResult:
    """Check one batch of `(position, raw record)` read from `source_id`; naive datetimes are taken as UTC.

    `window` (start inclusive, end exclusive) bounds created_at; `baseline_volume` (records per batch) makes an
    empty or collapsed batch a batch issue; `seen_ids` are ids already read in earlier batches. A mention older
    than `settings.max_age` before `newest` (default `now`; a file of last year's crisis passes the newest date read
    from it) is quarantined `too_old`.
    """
    started = time.perf_counter()
    now, window = _utc(now), _utc_window(window)
    seen = seen_ids if isinstance(seen_ids, AbstractSet | Mapping) else frozenset(seen_ids)  # O(1) lookups
    oldest = _oldest(_utc(newest or now), settings.max_age)
    reading = Reading(settings, now + timedelta(seconds=settings.max_future_skew), window, seen=seen, oldest=oldest)
    mentions, quarantined, rows = _admit_all(records, source_id, reading)
    validation_started = time.perf_counter()
    outcomes = expectations.validate(rows, _parameters(reading, baseline_volume))
    validation_seconds = time.perf_counter() - validation_started
    texts = sum(row[2] is not None for row in rows)
    issues = _batch_issues(_Batch(len(records), texts, settings, baseline_volume), outcomes)
    summary = {
        "source": source_id, "rows_read": len(records), "valid": len(mentions), "quarantined": len(quarantined),
        "success": not quarantined and not issues,  # the gate's verdict: nothing set aside, nothing to alert
        "ge_success": all(o.success for o in outcomes.values()),  # GE's: stricter (a few garbled texts fail it)
        "now": iso(now), "window": [iso(moment) for moment in window] if window else None,
        "baseline_volume": baseline_volume,
        "expectations": {e.name: _entry(e, outcomes[e.name]) for e in SUITE if e.name in outcomes},
        "elapsed_seconds": round(time.perf_counter() - started, 4),
        "validation_seconds": round(validation_seconds, 4),
    }
    return GateResult(mentions, quarantined, issues, summary)


def _admit_all(records: Sequence[Record], source_id: str,
               reading: Reading) -> tuple[list[Mention], list[Quarantined], list[tuple[Any, ...]]]:
    mentions: list[Mention] = []
    quarantined: list[Quarantined] = []
    rows = []
    for position, raw in records:
        admitted = admit(position, raw, source_id, reading)
        if isinstance(admitted, Quarantined):
            quarantined.append(admitted)
            rows.append(expectations.loose_row(raw))
        else:
            mentions.append(admitted)
            rows.append(expectations.row(admitted))
    return mentions, quarantined, rows


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_window(window: tuple[datetime, datetime] | None) -> tuple[datetime, datetime] | None:
    if window is None:
        return None
    start, end = _utc(window[0]), _utc(window[1])
    if start >= end:
        raise ValueError(f"window start {iso(start)} is not before its end {iso(end)}")
    return start, end


def _parameters(reading: Reading, baseline: float | None) -> dict[str, Any]:
    settings = reading.settings
    expected = baseline is not None and baseline >= MIN_BASELINE_VOLUME
    return {
        "oldest": OLDEST,
        "latest": reading.latest,
        "text_min": settings.min_text_length,
        "text_max": settings.max_text_length,
        # silent below one record; collapsed below ratio × baseline (a whole count: its ceiling)
        "min_rows": max(1, math.ceil(settings.collapse_ratio * (baseline or 0))) if expected else 0,
    }


def _batch_issues(batch: _Batch, outcomes: dict[str, Outcome]) -> list[str]:
    issues = []
    for expectation in SUITE:
        outcome = outcomes.get(expectation.name)
        if outcome is None:
            continue
        if outcome.error:
            issues.append(f"check '{expectation.describe}' could not run ({outcome.error}); "
                          "the batch was not checked for it")
        elif expectation.name not in ISSUES or outcome.success:
            continue
        elif batch.rows == 0 and expectation.name != "volume":
            continue  # an empty batch is one issue (silence), not a mapping one too
        elif issue := ISSUES[expectation.name](batch, outcome):
            issues.append(issue)
    return issues


def _entry(expectation: Expectation, outcome: Outcome) -> dict[str, Any]:
    return {"describe": expectation.describe, "expectation": _snake(expectation.expectation),
            "column": expectation.column, "success": outcome.success, "unexpected": outcome.unexpected,
            "unexpected_percent": outcome.unexpected_percent, "observed": outcome.observed, "error": outcome.error}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _oldest(newest: datetime, max_age: int) -> datetime:
    """`max_age` before `newest`, or the earliest date there is (a file dated in year 1 still gets a limit)."""
    try:
        return newest - timedelta(seconds=max_age)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)

