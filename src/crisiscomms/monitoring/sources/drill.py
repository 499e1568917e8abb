"""Time-compressed replay of a file as a live stream, for drills: a past crisis, happening now, faster.

Each record is re-stamped onto the present — `created_at' = start + (created_at − first) / speed` — and
released by a read only once that moment has come. Records not yet due stay in the cursor, so the
exactly-once contract of sources holds: every record is released once, by exactly one read. Because
the records are re-stamped, the gate, the store and the detector see an ordinary live stream.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from crisiscomms import clock
from crisiscomms.monitoring.record import parse_time
from crisiscomms.monitoring.sources.base import Batch, RawRecord, Source


def _utc_now() -> datetime:
    return clock.now()


class ReplaySource:
    def __init__(self, inner: Source, speed: float, clock: Callable[[], datetime] = _utc_now) -> None:
        if speed <= 0:
            raise ValueError(f"replay speed must be positive, not {speed}")
        self.inner = inner
        self.id = inner.id
        self.speed = speed
        self.clock = clock

    def read(self, cursor: dict[str, Any] | None, limit: int | None = None) -> Batch:
        state = cursor or {}
        now = self.clock()
        fresh = self.inner.read(state.get("inner"))
        held = [RawRecord(*pair) for pair in state.get("held", [])] + fresh.records
        origin = state.get("origin") or _origin(held, now)
        due, waiting = self._split(held, origin, now)
        if limit is not None:
            due, waiting = due[:limit], [r for r, _ in due[limit:]] + waiting
        cursor = {"inner": fresh.cursor, "origin": origin, "held": [list(r) for r in waiting]}
        return Batch([stamped for _, stamped in due], fresh.quarantined, cursor, fresh.notes)

    def _split(self, held: list[RawRecord], origin: dict[str, str] | None,
               now: datetime) -> tuple[list[tuple[RawRecord, RawRecord]], list[RawRecord]]:
        """(original, re-stamped) records due now, in stream order; and the originals still waiting."""
        due: list[tuple[datetime, RawRecord, RawRecord]] = []
        waiting: list[RawRecord] = []
        for record in held:
            moment = parse_time(record.data.get("created_at"))
            if moment is None or origin is None:  # undated: released at once, the gate will judge it
                due.append((now, record, record))
                continue
            start, first = datetime.fromisoformat(origin["wall"]), datetime.fromisoformat(origin["stream"])
            stamped_at = start + timedelta(seconds=(moment - first).total_seconds() / self.speed)
            if stamped_at <= now:
                due.append((stamped_at, record, RawRecord(record.position,
                                                          {**record.data, "created_at": stamped_at.isoformat()})))
            else:
                waiting.append(record)
        due.sort(key=lambda item: item[0])
        return [(original, stamped) for _, original, stamped in due], waiting


def _origin(records: list[RawRecord], now: datetime) -> dict[str, str] | None:
    """The replay's time zero: the earliest dated record maps to the first read's wall-clock time."""
    moments = [m for m in (parse_time(r.data.get("created_at")) for r in records) if m is not None]
    return {"wall": now.isoformat(), "stream": min(moments).isoformat()} if moments else None
