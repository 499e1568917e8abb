"""A batch whose processing fails twice is split until the records at fault are found: they are quarantined with
the error and the rest goes on, so one record can never stall a source (its watermark would never move and every
record behind it would wait forever).

    batch ─▶ process ─✗─▶ process again (a passing fault, e.g. a locked database, is gone) ─✗─▶ halves ─▶ …
                                                     each record failing ON ITS OWN ─▶ quarantined, named

A fault that is not one record's (every record fails alone: a model that cannot load, a full disk) is not
quarantined away: the batch is left where it is, uncommitted, and the pass reports the source as failing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crisiscomms.mention import Quarantined
from crisiscomms.monitoring.ledger import BatchOutcome
from crisiscomms.monitoring.record import raw_text
from crisiscomms.monitoring.sources import Batch, RawRecord

log = logging.getLogger(__name__)
MAX_FAULTY_SHARE = 0.01  # above 1% of a batch (and above one record) failing alone, the fault is not the records'


class StalledBatch(Exception):
    """The batch fails as a whole, not because of a few records: nothing of it is committed."""


Process = Callable[[Batch], BatchOutcome]


@dataclass
class _Split:
    outcomes: list[BatchOutcome] = field(default_factory=list)
    faulty: list[tuple[RawRecord, str]] = field(default_factory=list)


def process_or_isolate(process: Process, batch: Batch, source_id: str) -> BatchOutcome:
    """The batch processed; after two failures, processed in parts with the records at fault quarantined."""
    for attempt in (1, 2):
        try:
            return process(batch)
        except Exception as failure:  # whatever a record makes fail must not stall the source
            error = describe(failure)
            log.warning("batch of %d records failed (attempt %d): %s", len(batch.records), attempt, error)
    split = _bisect(process, batch, batch.records, _Split())
    limit = max(1, int(len(batch.records) * MAX_FAULTY_SHARE))
    if not split.faulty or len(split.faulty) > limit:
        raise StalledBatch(f"{len(split.faulty)} of {len(batch.records)} records fail on their own ({error}): "
                           "a fault of the pass, not of a record; nothing committed, the next pass tries again")
    return _merged(batch, split, source_id)


def _bisect(process: Process, whole: Batch, records: Sequence[RawRecord], split: _Split) -> _Split:
    """Halves of `records`, each processed alone; a failing half is halved again down to single records."""
    if not records:
        return split
    if len(records) > 1:
        middle = len(records) // 2
        for part in (records[:middle], records[middle:]):
            try:
                split.outcomes.append(process(Batch(list(part), [], whole.cursor)))
            except Exception:  # halved until the record at fault
                _bisect(process, whole, part, split)
        return split
    try:
        split.outcomes.append(process(Batch(list(records), [], whole.cursor)))
    except Exception as failure:  # this record alone fails: it is the one at fault
        split.faulty.append((records[0], describe(failure)))
    return split


def _merged(batch: Batch, split: _Split, source: str) -> BatchOutcome:
    faulty = [Quarantined(source=source, position=record.position,
                          reasons=[f"processing failed twice on this record ({error}): set aside so the source "
                                   "reads on"], raw=raw_text(record.data)) for record, error in split.faulty]
    mentions = [m for o in split.outcomes for m in o.mentions]
    quarantined = [*batch.quarantined, *(q for o in split.outcomes for q in o.quarantined), *faulty]
    issues = [issue for o in split.outcomes for issue in o.issues]
    issues += [f"record {q.position} failed processing twice ({error}): quarantined, the source reads on"
               for q, (_, error) in zip(faulty, split.faulty, strict=True)]
    return BatchOutcome(source, batch.read, mentions, quarantined, _gate(split, batch), issues, batch.cursor)


def _gate(split: _Split, batch: Batch) -> dict[str, Any]:
    """The gate's summary of the batch as its parts saw it: counts added, checks from the largest part."""
    largest = max(split.outcomes, key=lambda o: o.read, default=None)
    summary = dict(largest.gate) if largest else {}
    valid = sum(len(o.mentions) for o in split.outcomes)
    summary.update(rows_read=len(batch.records), valid=valid, quarantined=len(batch.records) - valid,
                   success=False, isolated=[record.position for record, _ in split.faulty])
    return summary


def describe(failure: BaseException) -> str:
    text = f"{type(failure).__name__}: {failure}"
    return text if len(text) <= 300 else text[:299] + "…"
