"""An in-memory source for tests and drills: records appended by hand, failures injected on demand.

Cursor: {"index": records delivered so far}. It honours the same contract as the real adapters, so a
pipeline tested against it behaves the same on a file, a feed or an API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crisiscomms.monitoring.sources.base import MENTION_FIELDS, Batch, RawRecord, SourceError


class MemorySource:
    """Records are dicts with our field names; other keys are dropped as a real adapter would."""

    def __init__(self, id: str, records: Iterable[dict[str, Any]] = ()) -> None:
        self.id = id
        self.records: list[dict[str, Any]] = []
        self.reads = 0  # attempts, failed ones included: drills assert on it
        self._failures: list[str] = []
        self.append(*records)

    def append(self, *records: dict[str, Any]) -> None:
        self.records.extend({k: v for k, v in record.items() if k in MENTION_FIELDS} for record in records)

    def fail(self, cause: str = "simulated outage", times: int = 1) -> None:
        """Make the next `times` reads raise SourceError, as a real source does once its retries run out."""
        self._failures.extend([cause] * times)

    def read(self, cursor: dict[str, Any] | None, limit: int | None = None) -> Batch:
        self.reads += 1
        if self._failures:
            raise SourceError(self.id, self._failures.pop(0))
        start = int((cursor or {}).get("index", 0))
        end = len(self.records) if limit is None else min(len(self.records), start + limit)
        fresh = [RawRecord(f"{self.id}:{n}", dict(self.records[n])) for n in range(start, end)]
        return Batch(records=fresh, cursor={"index": end})
