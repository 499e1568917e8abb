"""Update cadence: each released pack promises when we speak next; the next release keeps (or breaks) it.

    release sends pack A (next_update 14:00) ─▶ promise #1 open, promised 14:00
    release sends pack B at 13:52            ─▶ #1 fulfilled on time (8 min early) ; promise #2 open
    nothing by 14:00 → the reminder run      ─▶ #1 missed (recorded), "update overdue" for the spokesperson

One promise per released pack (a re-run of a halted or partly failed release keeps the promise it made). A
release fulfils the OLDEST open promise of its playbook, drills and real crises apart: an exercise never keeps
a promise made to the public. Stored in the project's `cadence` state (crisiscomms.state: `.crisis/cadence.db`,
or PostgreSQL), a transaction per change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crisiscomms import clock
from crisiscomms.errors import CrisisError
from crisiscomms.state import Database, open_database

_COLUMNS = ("id, playbook, run_id, pack, promised, released_at, drill, priority, fulfilled_at, fulfilled_by_run, "
            "fulfilled_by_pack, missed_at, reminder")


@dataclass(frozen=True)
class Promise:
    id: int
    playbook: str
    run_id: str
    pack: str
    promised: str  # ISO time, UTC
    released_at: str
    drill: bool
    priority: str | None = None
    fulfilled_at: str | None = None
    fulfilled_by_run: str | None = None
    fulfilled_by_pack: str | None = None
    missed_at: str | None = None
    reminder: str | None = None

    def status(self, now: datetime | None = None) -> str:
        """on_time / late (kept), missed (the reminder found it broken), overdue (past, unchecked), open."""
        if self.fulfilled_at:
            return "late" if self.fulfilled_at > self.promised else "on_time"
        if self.missed_at:
            return "missed"
        return "overdue" if utc_text(now or clock.now()) > self.promised else "open"

    def delay_seconds(self, now: datetime | None = None) -> int:
        """Actual minus promised time (negative: early); for an unkept promise, up to `now`."""
        actual = parse_time(self.fulfilled_at) if self.fulfilled_at else (now or clock.now())
        return round((actual - parse_time(self.promised)).total_seconds())

    def row(self, now: datetime | None = None) -> dict[str, Any]:
        """Promised vs actual, for the cadence table artifact and the terminal."""
        status = self.status(now)
        delay = self.delay_seconds(now) if status != "open" else None
        return {"promise": self.id, "released_at": self.released_at, "promised": self.promised,
                "actual": self.fulfilled_at or "", "status": status,
                "delay": "" if delay is None else human_delay(delay), "drill": self.drill,
                "released_by_run": self.run_id, "kept_by_run": self.fulfilled_by_run or "",
                "reminder": self.reminder or ""}


@dataclass(frozen=True)
class Recorded:
    promise: Promise  # the promise this release makes (or made, when re-run)
    fulfilled: Promise | None  # the earlier promise it kept, if any
    new: bool  # False: a re-run of a release that had already made its promise


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise CrisisError(f"time {text!r} has no time zone: cannot compare it with a promise")
    return moment


def utc_text(moment: datetime) -> str:
    """Promises are stored in UTC, to the second, so that text order is time order."""
    if moment.tzinfo is None:
        raise CrisisError(f"time {moment.isoformat()} has no time zone: cannot compare it with a promise")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def human_delay(seconds: int) -> str:
    sign = "late" if seconds > 0 else "early"
    minutes, rest = divmod(abs(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    size = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"
    return f"{size} {sign}" if seconds else "exactly on time"


def _open(root: Path) -> Database:
    return open_database(root, "cadence")


def _promise(row: tuple[Any, ...]) -> Promise:
    values = list(row)
    values[6] = bool(values[6])
    return Promise(*values)


def record_release(root: Path, playbook: str, run_id: str, pack: str, promised: datetime, released_at: datetime,
                   drill: bool = False, priority: str | None = None) -> Recorded:
    """A release that sent messages: keep the oldest open promise, make this pack's promise (once per pack)."""
    db = _open(root)
    try:
        with db.transaction():
            made = db.execute(f"SELECT {_COLUMNS} FROM promises WHERE playbook=? AND pack=?",
                              (playbook, pack)).fetchone()
            if made is not None:
                return Recorded(_promise(made), None, new=False)
            fulfilled = _fulfil_oldest(db, playbook, run_id, pack, released_at, drill)
            new_id = db.execute("INSERT INTO promises (playbook, run_id, pack, promised, released_at, drill, "
                                "priority) VALUES (?,?,?,?,?,?,?) RETURNING id",
                                (playbook, run_id, pack, utc_text(promised), utc_text(released_at), int(drill),
                                 priority))
            row = db.execute(f"SELECT {_COLUMNS} FROM promises WHERE id=?", (new_id.fetchone()[0],)).fetchone()
        return Recorded(_promise(row), fulfilled, new=True)
    finally:
        db.close()


def record_final_release(root: Path, playbook: str, run_id: str, pack: str, released_at: datetime,
                         drill: bool = False) -> list[Promise]:
    """The all-clear: it answers every open promise (each kept, on time or late) and promises nothing more."""
    db = _open(root)
    try:
        kept = []
        with db.transaction():
            while (found := _fulfil_oldest(db, playbook, run_id, pack, released_at, drill)) is not None:
                kept.append(found)
        return kept
    finally:
        db.close()


def _fulfil_oldest(db: Database, playbook: str, run_id: str, pack: str, at: datetime,
                   drill: bool) -> Promise | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM promises WHERE playbook=? AND drill=? AND fulfilled_at IS NULL "
                     "ORDER BY promised, id LIMIT 1", (playbook, int(drill))).fetchone()
    if row is None:
        return None
    db.execute("UPDATE promises SET fulfilled_at=?, fulfilled_by_run=?, fulfilled_by_pack=? WHERE id=?",
               (utc_text(at), run_id, pack, row[0]))
    return get_in(db, row[0])


def get_in(db: Database, promise_id: int) -> Promise:
    row = db.execute(f"SELECT {_COLUMNS} FROM promises WHERE id=?", (promise_id,)).fetchone()
    if row is None:
        raise CrisisError(f"no update promise #{promise_id} in {db.where}")
    return _promise(row)


def get(root: Path, promise_id: int) -> Promise:
    db = _open(root)
    try:
        return get_in(db, promise_id)
    finally:
        db.close()


def mark_missed(root: Path, promise_id: int, at: datetime) -> Promise:
    """The reminder found the promise broken: record when (once; a later release can still keep it, late)."""
    db = _open(root)
    try:
        with db.transaction():
            db.execute("UPDATE promises SET missed_at=? WHERE id=? AND fulfilled_at IS NULL AND missed_at IS NULL",
                       (utc_text(at), promise_id))
            return get_in(db, promise_id)
    finally:
        db.close()


def note_reminder(root: Path, promise_id: int, note: str) -> None:
    """What became of the promise's reminder: the scheduled flow run, or why none could be scheduled."""
    db = _open(root)
    try:
        db.execute("UPDATE promises SET reminder=? WHERE id=?", (note, promise_id))
    finally:
        db.close()


def promises(root: Path, playbook: str) -> list[Promise]:
    """Every promise of a playbook, oldest first: promised vs actual."""
    db = _open(root)
    try:
        return [_promise(r) for r in db.execute(f"SELECT {_COLUMNS} FROM promises WHERE playbook=? ORDER BY id",
                                                (playbook,))]
    finally:
        db.close()
