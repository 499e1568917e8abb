"""The monitoring store: processed mentions, quarantine, source watermarks and detector state.

The project's `monitoring` state database (crisiscomms.state: `.crisis/monitoring.db`, or PostgreSQL). Each source
batch is committed in ONE transaction — its mentions, its quarantined records and the source's new watermark — so a
run that dies half-way leaves either all of a batch or none of it: after a restart nothing is read twice and
nothing is skipped.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from crisiscomms import clock
from crisiscomms.errors import CrisisError
from crisiscomms.mention import EnrichedMention, Quarantined
from crisiscomms.state import Database, open_database, sqlite_database, state_dir


class SourceTaken(CrisisError):
    """Another run read the source since this batch was read (its watermark moved): the batch is not stored."""


UNCHECKED: Any = object()  # commit_batch's `since` when the caller is the source's only reader (a file, a test)


@dataclass(frozen=True)
class Totals:
    read: int
    processed: int
    quarantined: int


class Store:
    def __init__(self, db: Database | Path) -> None:
        """The store in this state database (a path: a SQLite file of its own, e.g. a benchmark's)."""
        self._db = db if isinstance(db, Database) else sqlite_database(db, "monitoring")

    @property
    def database(self) -> Database:
        return self._db

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> AbstractContextManager[Database]:
        return self._db.transaction()

    def cursor(self, playbook: str, source: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT cursor FROM cursors WHERE playbook=? AND source=?",
                               (playbook, source)).fetchone()
        return json.loads(row[0]) if row else None

    def known_ids(self, playbook: str, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT id FROM mentions WHERE playbook=? AND id IN ({marks})",
                                    (playbook, *chunk))
            found |= {r[0] for r in rows}
        return found

    def commit_batch(self, playbook: str, source: str, run_id: str, mentions: Iterable[EnrichedMention],
                     quarantined: Iterable[Quarantined], cursor: dict[str, Any], read: int,
                     since: dict[str, Any] | None = UNCHECKED) -> Totals:
        """Store a source batch and move its watermark, atomically — if the watermark is still `since`, the one the
        batch was read from: two workers reading one source at once never both store it (SourceTaken)."""
        now = now_text()
        rows = [(playbook, m.id, m.source, m.created_at.isoformat(), run_id, m.model_dump_json()) for m in mentions]
        # A NUL byte, written as \x00: PostgreSQL's text cannot hold one, and the record is kept for people to read.
        bad = [(playbook, q.source, q.position, json.dumps(q.reasons, ensure_ascii=False),
                q.raw.replace("\x00", "\\x00"), run_id, now) for q in quarantined]
        with self._transaction() as db:
            if since is not UNCHECKED and self.cursor(playbook, source) != since:
                raise SourceTaken(f"source {source} of {playbook} was read by another run meanwhile: this run's batch "
                                  "is not stored (that run stored it); the next pass reads on from there")
            db.executemany("INSERT INTO mentions (playbook, id, source, created_at, run_id, data) VALUES (?,?,?,?,?,?)",
                           rows)
            db.executemany("INSERT INTO quarantine (playbook, source, position, reasons, raw, run_id, at) "
                           "VALUES (?,?,?,?,?,?,?)", bad)
            db.execute("INSERT INTO cursors (playbook, source, cursor, at) VALUES (?,?,?,?) ON CONFLICT (playbook, "
                       "source) DO UPDATE SET cursor=excluded.cursor, at=excluded.at",
                       (playbook, source, json.dumps(cursor), now))
            db.execute("INSERT INTO runs (run_id, playbook, source, read, processed, quarantined, at) "
                       "VALUES (?,?,?,?,?,?,?)", (run_id, playbook, source, read, len(rows), len(bad), now))
        return Totals(read, len(rows), len(bad))

    def totals(self, playbook: str, run_id: str | None = None) -> Totals:
        where, args = ("playbook=? AND run_id=?", (playbook, run_id)) if run_id else ("playbook=?", (playbook,))
        read, processed, quarantined = self._db.execute(
            f"SELECT COALESCE(SUM(read),0), COALESCE(SUM(processed),0), COALESCE(SUM(quarantined),0) "
            f"FROM runs WHERE {where}", args).fetchone()
        return Totals(read, processed, quarantined)

    def batches_between(self, playbook: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """What each monitoring run did per source in [start, end]: read, processed, quarantined (data quality)."""
        rows = self._db.execute("SELECT run_id, source, read, processed, quarantined, at FROM runs WHERE playbook=? "
                                "AND at>=? AND at<=? ORDER BY at, seq",
                                (playbook, start.isoformat(), end.isoformat()))
        keys = ("run_id", "source", "read", "processed", "quarantined", "at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def last_read(self, playbook: str, source: str) -> datetime | None:
        """When a monitoring run last read the source (whatever it found), None if never."""
        row = self._db.execute("SELECT MAX(at) FROM runs WHERE playbook=? AND source=?", (playbook, source)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def typical_volume(self, playbook: str, source: str, runs: int = 12) -> float | None:
        """Median records read per run of a source over its last `runs` runs (None before 3 runs); a run that read
        a backlog in several batches counts once, with all it read."""
        query = ("SELECT SUM(read) FROM runs WHERE playbook=? AND source=? GROUP BY COALESCE(run_id, CAST(seq AS "
                 "TEXT)) ORDER BY MAX(seq) DESC LIMIT ?")
        rows = [r[0] for r in self._db.execute(query, (playbook, source, runs))]
        return float(statistics.median(rows)) if len(rows) >= 3 else None

    def earliest_mention(self, playbook: str) -> datetime | None:
        """When the oldest stored mention of the playbook was posted (None: none stored)."""
        row = self._db.execute("SELECT MIN(created_at) FROM mentions WHERE playbook=?", (playbook,)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def mentions_between(self, playbook: str, start: datetime, end: datetime) -> list[EnrichedMention]:
        return list(self.iter_mentions_between(playbook, start, end))

    def iter_mentions_between(self, playbook: str, start: datetime, end: datetime) -> Iterator[EnrichedMention]:
        """The stored mentions of [start, end), oldest first, read as they are consumed (bounded memory)."""
        rows = self._db.stream(
            "SELECT data FROM mentions WHERE playbook=? AND created_at>=? AND created_at<? ORDER BY created_at",
            (playbook, start.isoformat(), end.isoformat()))
        for row in rows:
            yield EnrichedMention.model_validate_json(row[0])

    def volume_per_window(self, playbook: str, start: datetime, end: datetime, window: int) -> list[int]:
        """Stored mentions per window of `window` seconds from `start` to `end` (only their times are read)."""
        volumes = [0] * max(1, -(-int((end - start).total_seconds()) // window))
        rows = self._db.stream("SELECT created_at FROM mentions WHERE playbook=? AND created_at>=? AND created_at<?",
                               (playbook, start.isoformat(), end.isoformat()))
        for (created_at,) in rows:
            index = int((datetime.fromisoformat(created_at) - start).total_seconds() // window)
            volumes[min(index, len(volumes) - 1)] += 1
        return volumes

    def iter_mentions_of_run(self, playbook: str, run_id: str) -> Iterator[EnrichedMention]:
        """The mentions one monitoring run stored (claims are checked on the windows they fall in)."""
        rows = self._db.stream("SELECT data FROM mentions WHERE playbook=? AND run_id=? ORDER BY created_at",
                               (playbook, run_id))
        for row in rows:
            yield EnrichedMention.model_validate_json(row[0])

    def detector_state(self, playbook: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT state FROM detector WHERE playbook=?", (playbook,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_detector_state(self, playbook: str, state: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO detector (playbook, state, at) VALUES (?,?,?) ON CONFLICT (playbook) DO UPDATE SET "
                       "state=excluded.state, at=excluded.at", (playbook, json.dumps(state), now_text()))

    def save_assessment(self, playbook: str, step: str, run_id: str | None, record: dict[str, Any]) -> None:
        """Keep every assessment: the latest one serves a phase run on its own; the others, the post-mortem."""
        with self._transaction() as db:
            db.execute("INSERT INTO assessments (playbook, step, run_id, record, at) VALUES (?,?,?,?,?)",
                       (playbook, step, run_id, json.dumps(record, ensure_ascii=False), now_text()))

    def latest_assessment(self, playbook: str, step: str) -> tuple[dict[str, Any], str, str | None] | None:
        """(record, when it was made, by which flow run) of the playbook's latest assessment by this step."""
        row = self._db.execute(
            "SELECT record, at, run_id FROM assessments WHERE playbook=? AND step=? ORDER BY at DESC, seq DESC LIMIT 1",
            (playbook, step)).fetchone()
        return (json.loads(row[0]), row[1], row[2]) if row else None


def now_text(timespec: str = "auto") -> str:
    return clock.now_text(timespec)


__all__ = ["Store", "Totals", "open_store", "state_dir"]  # state_dir: where every module found it before


def open_store(root: Path) -> Store:
    return Store(open_database(root, "monitoring"))
