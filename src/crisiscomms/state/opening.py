"""Opening a domain's tables where the project keeps them, brought to the schema's head."""

from __future__ import annotations

from pathlib import Path

from crisiscomms.state.database import (
    NAMES,
    Database,
    PostgresDatabase,
    SQLiteDatabase,
    StateError,
    database_url,
    state_dir,
)
from crisiscomms.state.schema import upgrade


def open_database(root: Path, name: str) -> Database:
    """The domain's tables of this project: in PostgreSQL when `CRISIS_STATE_DATABASE_URL` is set, else in
    `<state folder>/<name>.db`; brought to the schema's head if they are behind it."""
    return open_in(state_dir(root), name)


def open_in(state: Path, name: str) -> Database:
    """The same, given the project's state folder rather than the project."""
    if name not in NAMES:
        raise StateError(f"no state database '{name}' (known: {', '.join(NAMES)})")
    url = database_url()
    return _at_head(PostgresDatabase(url, name) if url else SQLiteDatabase(state / f"{name}.db", name), url)


def sqlite_database(path: Path, name: str) -> Database:
    """A domain's tables in this SQLite file (a copy of a project's state, a benchmark's), brought to head."""
    return _at_head(SQLiteDatabase(path, name), None)


def _at_head(db: Database, url: str | None) -> Database:
    try:
        upgrade(db, url)  # at head already, the usual case: one query
    except BaseException:
        db.close()
        raise
    return db


def exists(root: Path, name: str) -> bool:
    """Whether the domain was ever written (so that checking it creates nothing): always, on PostgreSQL."""
    return database_url() is not None or (state_dir(root) / f"{name}.db").exists()
