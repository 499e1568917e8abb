"""The monitoring store: processed mentions, quarantine, source watermarks and detector state.

One SQLite file per project (`.crisis/monitoring.db`). Each source batch is committed in ONE
transaction — its mentions, its quarantined records and the source's new watermark — so a run that
dies half-way leaves either all of a batch or none of it: after a restart nothing is read twice and
nothing is skipped.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from crisiscomms import clock
from crisiscomms.mention import EnrichedMention, Quarantined

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mentions (
    playbook TEXT NOT NULL, id TEXT NOT NULL, source TEXT, created_at TEXT NOT NULL,
    run_id TEXT, data TEXT NOT NULL, PRIMARY KEY (playbook, id));
CREATE INDEX IF NOT EXISTS mentions_time ON mentions (playbook, created_at);
CREATE INDEX IF NOT EXISTS mentions_run ON mentions (playbook, run_id);
CREATE TABLE IF NOT EXISTS quarantine (
    playbook TEXT NOT NULL, source TEXT NOT NULL, position TEXT NOT NULL, reasons TEXT NOT NULL,
    raw TEXT NOT NULL, run_id TEXT, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (
    playbook TEXT NOT NULL, source TEXT NOT NULL, cursor TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (playbook, source));
CREATE TABLE IF NOT EXISTS detector (playbook TEXT PRIMARY KEY, state TEXT NOT NULL, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assessments (
    playbook TEXT NOT NULL, step TEXT NOT NULL, run_id TEXT, record TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS assessments_latest ON assessments (playbook, step, at);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT NOT NULL, playbook TEXT NOT NULL, source TEXT NOT NULL, read INTEGER NOT NULL,
    processed INTEGER NOT NULL, quarantined INTEGER NOT NULL, at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Totals:
    read: int
    processed: int
    quarantined: int


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """A state database (created with its folder and tables if needed), in autocommit + WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(schema)
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    # BEGIN IMMEDIATE: two overlapping runs serialise on the write lock instead of interleaving.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

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
                     quarantined: Iterable[Quarantined], cursor: dict[str, Any], read: int) -> Totals:
        """Store a source batch and move its watermark, atomically."""
        now = now_text()
        rows = [(playbook, m.id, m.source, m.created_at.isoformat(), run_id, m.model_dump_json()) for m in mentions]
        bad = [(playbook, q.source, q.position, json.dumps(q.reasons, ensure_ascii=False), q.raw, run_id, now)
               for q in quarantined]
        with self._transaction() as db:
            db.executemany("INSERT INTO mentions VALUES (?,?,?,?,?,?)", rows)
            db.executemany("INSERT INTO quarantine VALUES (?,?,?,?,?,?,?)", bad)
            db.execute("INSERT OR REPLACE INTO cursors VALUES (?,?,?,?)",
                       (playbook, source, json.dumps(cursor), now))
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?)",
                       (run_id, playbook, source, read, len(rows), len(bad), now))
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
                                "AND at>=? AND at<=? ORDER BY at, rowid",
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
        query = ("SELECT SUM(read) FROM runs WHERE playbook=? AND source=? GROUP BY COALESCE(run_id, rowid) "
                 "ORDER BY MAX(rowid) DESC LIMIT ?")
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
        rows = self._db.execute(
            "SELECT data FROM mentions WHERE playbook=? AND created_at>=? AND created_at<? ORDER BY created_at",
            (playbook, start.isoformat(), end.isoformat()))
        for row in rows:
            yield EnrichedMention.model_validate_json(row[0])

    def volume_per_window(self, playbook: str, start: datetime, end: datetime, window: int) -> list[int]:
        """Stored mentions per window of `window` seconds from `start` to `end` (only their times are read)."""
        volumes = [0] * max(1, -(-int((end - start).total_seconds()) // window))
        rows = self._db.execute("SELECT created_at FROM mentions WHERE playbook=? AND created_at>=? AND created_at<?",
                                (playbook, start.isoformat(), end.isoformat()))
        for (created_at,) in rows:
            index = int((datetime.fromisoformat(created_at) - start).total_seconds() // window)
            volumes[min(index, len(volumes) - 1)] += 1
        return volumes

    def iter_mentions_of_run(self, playbook: str, run_id: str) -> Iterator[EnrichedMention]:
        """The mentions one monitoring run stored (claims are checked on the windows they fall in)."""
        rows = self._db.execute("SELECT data FROM mentions WHERE playbook=? AND run_id=? ORDER BY created_at",
                                (playbook, run_id))
        for row in rows:
            yield EnrichedMention.model_validate_json(row[0])

    def detector_state(self, playbook: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT state FROM detector WHERE playbook=?", (playbook,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_detector_state(self, playbook: str, state: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO detector VALUES (?,?,?)", (playbook, json.dumps(state), now_text()))

    def save_assessment(self, playbook: str, step: str, run_id: str | None, record: dict[str, Any]) -> None:
        """Keep every assessment: the latest one serves a phase run on its own; the others, the post-mortem."""
        with self._transaction() as db:
            db.execute("INSERT INTO assessments VALUES (?,?,?,?,?)",
                       (playbook, step, run_id, json.dumps(record, ensure_ascii=False), now_text()))

    def latest_assessment(self, playbook: str, step: str) -> tuple[dict[str, Any], str, str | None] | None:
        """(record, when it was made, by which flow run) of the playbook's latest assessment by this step."""
        row = self._db.execute(
            "SELECT record, at, run_id FROM assessments WHERE playbook=? AND step=? ORDER BY at DESC LIMIT 1",
            (playbook, step)).fetchone()
        return (json.loads(row[0]), row[1], row[2]) if row else None


def now_text(timespec: str = "auto") -> str:
    return clock.now_text(timespec)


def state_dir(root: Path) -> Path:
    """Where a project keeps its state: `$CRISIS_STATE_DIR`, else `<project>/.crisis`."""
    return Path(os.environ.get("CRISIS_STATE_DIR") or root / ".crisis")


STORE = "monitoring.db"


def open_store(root: Path) -> Store:
    return Store(state_dir(root) / STORE)
