"""Where a monitoring pass keeps what it read: the store for scheduled runs, memory and a writer for a file.

A ledger answers what the gate needs to know of earlier reads (where each source resumes, which ids were
already read, how many records a batch usually holds) and takes each batch's outcome once it is gated and
enriched.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from crisiscomms.mention import EnrichedMention, Quarantined
from crisiscomms.monitoring.store import Store


@dataclass
class BatchOutcome:
    """One batch gated and enriched: every record read is in `mentions` or `quarantined`."""

    source: str
    read: int
    mentions: list[EnrichedMention]
    quarantined: list[Quarantined]
    gate: dict[str, Any]
    issues: list[str]
    cursor: dict[str, Any] = field(default_factory=dict)  # where the source resumes after this batch


class Ledger(Protocol):
    def cursor(self, source: str) -> dict[str, Any] | None: ...

    def known_ids(self, source: str, ids: list[str]) -> Collection[str]:
        """Which of `ids` were read in an earlier batch (a ledger may answer with a superset)."""
        ...

    def typical_volume(self, source: str) -> float | None: ...

    def commit(self, outcome: BatchOutcome, since: dict[str, Any] | None) -> None:
        """Keep the outcome, read from the source's cursor `since`."""
        ...


class StoreLedger:
    """The monitoring store: a batch, its quarantine and the source's new watermark in one transaction, so a
    run that dies half-way leaves all of a batch or none of it, and the next run reads nothing twice."""

    def __init__(self, store: Store, playbook: str, run_id: str) -> None:
        self.store, self.playbook, self.run_id = store, playbook, run_id

    def cursor(self, source: str) -> dict[str, Any] | None:
        return self.store.cursor(self.playbook, source)

    def known_ids(self, source: str, ids: list[str]) -> Collection[str]:
        return self.store.known_ids(self.playbook, ids)

    def typical_volume(self, source: str) -> float | None:
        return self.store.typical_volume(self.playbook, source)

    def commit(self, outcome: BatchOutcome, since: dict[str, Any] | None) -> None:
        self.store.commit_batch(self.playbook, outcome.source, self.run_id, outcome.mentions, outcome.quarantined,
                                outcome.cursor, outcome.read, since=since)


class MemoryLedger:
    """One read of a file: cursors and ids in memory, each outcome handed to `write` and not kept."""

    def __init__(self, write: Callable[[BatchOutcome], None]) -> None:
        self.write = write
        self.seen: set[str] = set()
        self._cursors: dict[str, dict[str, Any]] = {}

    def start(self, source: str, cursor: dict[str, Any]) -> None:
        """Read the source from `cursor` (a part of a file) rather than from its start."""
        self._cursors[source] = cursor

    def cursor(self, source: str) -> dict[str, Any] | None:
        return self._cursors.get(source)

    def known_ids(self, source: str, ids: list[str]) -> Collection[str]:
        return self.seen  # the gate only asks whether an id is in it

    def typical_volume(self, source: str) -> float | None:
        return None  # a file is read once: no usual volume to fall short of

    def commit(self, outcome: BatchOutcome, since: dict[str, Any] | None) -> None:
        self.seen |= {m.id for m in outcome.mentions}
        self._cursors[outcome.source] = outcome.cursor
        self.write(outcome)
