"""The crisis registry: one id per crisis, the alerts monitoring raised, the lessons and actions of its review.

Every flow run of one crisis carries the tag `crisis:<id>`: the run that monitoring's alert started, a run a person
started, and every run they lead to (reminders, deadlines, corrections, the review). The id is opened here:
- by an alert at level `alert` or `crisis` when the playbook has no crisis under way (else the alert joins it);
- by a person starting a playbook's assessment, communication or review without naming a crisis: they join the
  playbook's crisis under way, or open a new one.
The crisis is closed when its all-clear is released (or by hand). A crisis is a drill when one of its packs was
(`drill:`): drills are listed, marked, and kept out of real-crisis comparisons.

The project's `crises` state database (crisiscomms.state: `.crisis/crises.db`, or PostgreSQL).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from crisiscomms import clock, drillmode
from crisiscomms.errors import CrisisError
from crisiscomms.review.model import Action, Crisis, Lessons
from crisiscomms.state import Database, StateError, open_database

_COLUMNS = "id, playbook, title, opened_at, opened_by, closed_at, drill"
ALERT_LEVELS = ("alert", "crisis")  # the levels that open a crisis (a `watch` is only a signal)
TAG = "crisis:"


class UnknownCrisis(CrisisError):
    """No crisis has this id in the project."""


def _open(root: Path) -> Database:
    try:
        return open_database(root, "crises")
    except StateError as exc:
        raise CrisisError(f"not a readable crisis registry ({exc}); move the file aside to start a new one (the "
                          "reviews already written under .crisis/reviews/ stay)") from exc


def tag(crisis_id: str) -> str:
    return f"{TAG}{crisis_id}"


def _crisis(row: tuple[Any, ...]) -> Crisis:
    return Crisis(id=row[0], playbook=row[1], title=row[2], opened_at=row[3], opened_by=row[4], closed_at=row[5],
                  drill=bool(row[6]))


def get(root: Path, crisis_id: str) -> Crisis:
    db = _open(root)
    try:
        row = db.execute(f"SELECT {_COLUMNS} FROM crises WHERE id=?", (crisis_id,)).fetchone()
        if row is None:
            known = [r[0] for r in db.execute("SELECT id FROM crises ORDER BY opened_at DESC LIMIT 5")]
            raise UnknownCrisis(f"no crisis '{crisis_id}' in {db.where}"
                                + (f"; latest: {', '.join(known)}" if known else "; none was ever opened here")
                                + " (`crisis review list` shows them all)")
        return _crisis(row)
    finally:
        db.close()


def under_way(root: Path, playbook: str) -> Crisis | None:
    """The playbook's crisis that is not closed yet (the latest, should there be several)."""
    db = _open(root)
    try:
        return _under_way(db, playbook)
    finally:
        db.close()


def _under_way(db: Database, playbook: str) -> Crisis | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM crises WHERE playbook=? AND closed_at IS NULL "
                     "ORDER BY opened_at DESC LIMIT 1", (playbook,)).fetchone()
    return _crisis(row) if row else None


def latest(root: Path, playbook: str) -> Crisis | None:
    """The playbook's most recent crisis, closed or not."""
    db = _open(root)
    try:
        row = db.execute(f"SELECT {_COLUMNS} FROM crises WHERE playbook=? ORDER BY opened_at DESC LIMIT 1",
                         (playbook,)).fetchone()
        return _crisis(row) if row else None
    finally:
        db.close()


def listed(root: Path) -> list[Crisis]:
    db = _open(root)
    try:
        return [_crisis(r) for r in db.execute(f"SELECT {_COLUMNS} FROM crises ORDER BY opened_at, id")]
    finally:
        db.close()


def join_or_open(root: Path, playbook: str, title: str, opened_by: str, at: datetime | None = None) -> Crisis:
    """The playbook's crisis under way, or a new one (`<playbook>-<yyyymmdd>-<n>`), in one transaction."""
    at = at or clock.now()
    db = _open(root)
    try:
        with db.transaction():
            found = _under_way(db, playbook)
            if found:
                return found
            stem = f"{playbook}-{at.astimezone(UTC):%Y%m%d}-"
            # Not LIKE: `_` in a playbook id would match any character there.
            taken = db.execute("SELECT COUNT(*) FROM crises WHERE substr(id, 1, ?) = ?",
                               (len(stem), stem)).fetchone()[0]
            drill = drillmode.current() is not None  # a drill's stack opens drills only
            crisis = Crisis(id=f"{stem}{taken + 1}", playbook=playbook, title=title, opened_at=at,
                            opened_by=opened_by, drill=drill)
            db.execute(f"INSERT INTO crises ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?)",
                       (crisis.id, playbook, title, at.isoformat(), opened_by, int(drill)))
            return crisis
    finally:
        db.close()


def close(root: Path, crisis_id: str, at: datetime | None = None) -> Crisis:
    """Close the crisis (its all-clear went out); closing twice keeps the first time."""
    get(root, crisis_id)
    db = _open(root)
    try:
        db.execute("UPDATE crises SET closed_at=? WHERE id=? AND closed_at IS NULL",
                   ((at or clock.now()).isoformat(), crisis_id))
    finally:
        db.close()
    return get(root, crisis_id)


def mark_drill(root: Path, crisis_id: str) -> None:
    db = _open(root)
    try:
        db.execute("UPDATE crises SET drill=1 WHERE id=?", (crisis_id,))
    finally:
        db.close()


def record_alert(root: Path, playbook: str, alert: dict[str, Any], run_id: str | None,
                 at: datetime | None = None, title: str = "") -> str | None:
    """Keep an alert monitoring raised (events are vacuumed after days; a post-mortem may come weeks later). An
    alert or crisis level opens or joins the playbook's crisis: its id is returned (None for a watch or a gap)."""
    at = at or clock.now()
    crisis = None
    if alert.get("kind") != "data_gap" and alert.get("level") in ALERT_LEVELS:
        crisis = join_or_open(root, playbook, title or playbook, "monitoring", at).id
    db = _open(root)
    try:
        db.execute("INSERT INTO alerts (playbook, crisis, level, kind, at, window_start, window_end, payload, run_id) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (playbook, crisis, str(alert.get("level", "")), str(alert.get("kind", "")), at.isoformat(),
                    str(alert.get("window_start", "")), str(alert.get("window_end", "")),
                    json.dumps(alert, default=str), run_id))
    finally:
        db.close()
    return crisis


def alerts(root: Path, playbook: str, start: datetime, end: datetime | None) -> list[dict[str, Any]]:
    """Alerts of the playbook raised between `start` and `end` (None: up to now), oldest first, each with `at`."""
    db = _open(root)
    try:
        rows = db.execute("SELECT at, crisis, run_id, payload FROM alerts WHERE playbook=? AND at>=? AND at<=? "
                          "ORDER BY at, seq", (playbook, start.isoformat(), (end or clock.now()).isoformat()))
        return [{**json.loads(payload), "at": at, "crisis": crisis, "run_id": run_id}
                for at, crisis, run_id, payload in rows]
    finally:
        db.close()


def record_step(root: Path, crisis_id: str, run_id: str, phase: str, step: str, step_type: str,
                record: dict[str, Any], at: datetime | None = None) -> None:
    """A step's outcome in the crisis journal, at the time it ended. A run that resumes replays its finished steps:
    the first time is kept (the record is updated: an approver's edits re-render a pack)."""
    db = _open(root)
    try:
        db.execute("INSERT INTO steps (crisis, run_id, phase, step, type, at, record) VALUES (?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (run_id, step) DO UPDATE SET "
                   "record=excluded.record", (crisis_id, run_id, phase, step, step_type,
                                              (at or clock.now()).isoformat(), json.dumps(record, default=str)))
    finally:
        db.close()


def journal(root: Path, crisis_id: str) -> list[dict[str, Any]]:
    """The crisis's step outcomes, oldest first: run_id, phase, step, type, at, record."""
    db = _open(root)
    try:
        rows = db.execute("SELECT run_id, phase, step, type, at, record FROM steps WHERE crisis=? ORDER BY at, seq",
                          (crisis_id,))
        return [{"run_id": r, "phase": p, "step": s, "type": t, "at": at, "record": json.loads(rec)}
                for r, p, s, t, at, rec in rows]
    finally:
        db.close()


def save_lessons(root: Path, crisis: Crisis, lessons: Lessons) -> None:
    """The team's answers (the latest replace earlier ones) and their actions, open until done."""
    db = _open(root)
    try:
        with db.transaction():
            db.execute("INSERT INTO lessons (crisis, body, at) VALUES (?, ?, ?) ON CONFLICT (crisis) DO UPDATE SET "
                       "body=excluded.body, at=excluded.at",
                       (crisis.id, lessons.model_dump_json(), lessons.at.isoformat()))
            # The latest answers are the team's: actions they dropped or re-dated are replaced, done ones kept.
            db.execute("DELETE FROM actions WHERE crisis=? AND done_at IS NULL", (crisis.id,))
            for action in lessons.actions:
                db.execute("INSERT INTO actions (crisis, playbook, what, owner, due) VALUES (?, ?, ?, ?, ?) "
                           "ON CONFLICT DO NOTHING",
                           (crisis.id, crisis.playbook, action.what, action.owner, action.due.isoformat()))
    finally:
        db.close()


def lessons_of(root: Path, crisis_id: str) -> Lessons | None:
    db = _open(root)
    try:
        row = db.execute("SELECT body FROM lessons WHERE crisis=?", (crisis_id,)).fetchone()
        return Lessons.model_validate_json(row[0]) if row else None
    finally:
        db.close()


def open_actions(root: Path, playbook: str) -> list[tuple[str, Action]]:
    """(crisis id, action) of every action from past reviews of the playbook not done yet, soonest due first."""
    db = _open(root)
    try:
        rows = db.execute("SELECT crisis, what, owner, due FROM actions WHERE playbook=? AND done_at IS NULL "
                          "ORDER BY due, id", (playbook,))
        return [(c, Action(what=w, owner=o, due=date.fromisoformat(d))) for c, w, o, d in rows]
    finally:
        db.close()
