"""The kill switch: one record in the project's state database that stops every release not yet sent.

    crisis halt --reason … --by …   ─▶ halts row (who, when, why)      ─▶ every release asks `current()` right
    crisis unhalt --by …            ─▶ the same row gets who lifted it     before each message it sends
                                       and when (the history is kept)

A halt is project-wide by default (every playbook): a kill switch must be blunt. A halt may also name one playbook.
The state lives in the project's `killswitch` state (crisiscomms.state: `.crisis/killswitch.db`, or PostgreSQL),
not on the Prefect server, so that it holds when the server is down or unreachable, and so that a release reads it
fresh before each send (a transaction per change).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.store import now_text
from crisiscomms.state import Database, open_database

ALL = "*"  # the scope of a project-wide halt

@dataclass(frozen=True)
class Halt:
    id: int
    scope: str  # "*" (every playbook) or a playbook id
    reason: str
    by: str
    at: str
    lifted_by: str | None = None
    lifted_at: str | None = None

    @property
    def active(self) -> bool:
        return self.lifted_at is None

    @property
    def playbooks(self) -> str:
        return "every playbook" if self.scope == ALL else f"playbook {self.scope}"

    def describe(self) -> str:
        """One line for a log, a receipt or the terminal."""
        text = f"kill switch on ({self.playbooks}) since {self.at} by {self.by}: {self.reason}"
        return text if self.active else f"{text} — lifted {self.lifted_at} by {self.lifted_by}"


def _open(root: Path) -> Database:
    return open_database(root, "killswitch")


def _required(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise CrisisError(f"kill switch: {what} is required (it is kept in the history)")
    return value


def _halt(row: tuple[object, ...]) -> Halt:
    return Halt(*row)  # type: ignore[arg-type]


_COLUMNS = "id, scope, reason, halted_by, halted_at, lifted_by, lifted_at"


def halt(root: Path, reason: str, by: str, playbook: str | None = None) -> Halt:
    """Switch on (for every playbook, or one); if already on for that scope, the halt in force, unchanged."""
    reason, by = _required(reason, "a reason"), _required(by, "who halts")
    scope = playbook or ALL
    db = _open(root)
    try:
        with db.transaction():
            row = db.execute(f"SELECT {_COLUMNS} FROM halts WHERE scope=? AND lifted_at IS NULL", (scope,)).fetchone()
            if row is not None:
                return _halt(row)
            made = db.execute("INSERT INTO halts (scope, reason, halted_by, halted_at) VALUES (?,?,?,?) RETURNING id",
                                (scope, reason, by, now_text("seconds")))
            row = db.execute(f"SELECT {_COLUMNS} FROM halts WHERE id=?", (made.fetchone()[0],)).fetchone()
        return _halt(row)
    finally:
        db.close()


def lift(root: Path, by: str, playbook: str | None = None) -> Halt | None:
    """Switch off for that scope (every playbook by default); the lifted halt, or None if it was not on."""
    by = _required(by, "who lifts the halt")
    scope = playbook or ALL
    db = _open(root)
    try:
        with db.transaction():
            row = db.execute(f"SELECT {_COLUMNS} FROM halts WHERE scope=? AND lifted_at IS NULL", (scope,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE halts SET lifted_by=?, lifted_at=? WHERE id=?", (by, now_text("seconds"), row[0]))
            row = db.execute(f"SELECT {_COLUMNS} FROM halts WHERE id=?", (row[0],)).fetchone()
        return _halt(row)
    finally:
        db.close()


def current(root: Path, playbook: str | None = None) -> Halt | None:
    """The halt in force for this playbook (a project-wide one first); None when releases may go."""
    scopes = (ALL, playbook) if playbook else (ALL,)
    db = _open(root)
    try:
        marks = ",".join("?" * len(scopes))
        row = db.execute(f"SELECT {_COLUMNS} FROM halts WHERE lifted_at IS NULL AND scope IN ({marks}) "
                         "ORDER BY scope='*' DESC, id LIMIT 1", scopes).fetchone()
        return _halt(row) if row else None
    finally:
        db.close()


def active(root: Path) -> list[Halt]:
    """Every halt in force (project-wide and per playbook), oldest first."""
    return [h for h in history(root) if h.active]


def history(root: Path) -> list[Halt]:
    """Every halt ever made, oldest first, with who lifted it and when."""
    db = _open(root)
    try:
        return [_halt(row) for row in db.execute(f"SELECT {_COLUMNS} FROM halts ORDER BY id")]
    finally:
        db.close()


def reason(root: Path, playbook: str | None = None) -> str | None:
    """What a release asks before each send: why it must not, or None."""
    found = current(root, playbook)
    return found.describe() if found else None
