"""The state's schema, versioned by Alembic: one branch per domain (`monitoring@head`, `outbox@head`, …).

A SQLite file holds one domain, so its `alembic_version` table holds that branch's head; a PostgreSQL database holds
every domain, its `alembic_version` every head. Opening a domain checks its version (one query) and runs Alembic
only when it is behind, under a lock: two workers starting together migrate once.

To change a domain's tables, add a revision under `migrations/versions/` whose `down_revision` is the domain's head,
and move `HEADS` to it (tests/unit/test_state.py checks that HEADS matches the scripts).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from crisiscomms.state.database import Database, SQLiteDatabase, StateError, libpq_url

MIGRATIONS = Path(__file__).parent / "migrations"
HEADS = {
    "monitoring": "monitoring_0001",
    "crises": "crises_0001",
    "approvals": "approvals_0001",
    "outbox": "outbox_0001",
    "cadence": "cadence_0001",
    "killswitch": "killswitch_0001",
}
_MIGRATION_LOCK = 0x6372697369730001  # the advisory lock held while a PostgreSQL database is migrated


_made: dict[str, list[str]] = {}  # per domain, the SQL that made a new SQLite file's tables in this process


def upgrade(db: Database, url: str | None) -> None:
    """Bring the domain's tables to their head (nothing to do, the usual case, costs one query)."""
    if HEADS[db.name] in _versions(db):
        return
    if isinstance(db, SQLiteDatabase):
        path = db.path
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)  # another process may be migrating this folder's files: wait for it
            if HEADS[db.name] not in _versions(db):
                _upgrade_sqlite(db, path)
        finally:
            os.close(folder)  # and the lock with it
        return
    db.execute("SELECT pg_advisory_lock(?)", (_MIGRATION_LOCK,))
    try:
        if HEADS[db.name] not in _versions(db):
            _alembic_upgrade(libpq_url(url).replace("postgresql://", "postgresql+psycopg://", 1), db.name)
    finally:
        db.execute("SELECT pg_advisory_unlock(?)", (_MIGRATION_LOCK,))


def _upgrade_sqlite(db: Database, path: Path) -> None:
    """A new file gets the tables Alembic made for the first new file of this process (the same SQL, in one
    transaction: ~1 ms instead of ~0.1 s, for the tests' many projects); any other file, Alembic's migration."""
    empty = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
    if empty and db.name in _made:
        with db.transaction():
            for statement in _made[db.name]:
                db.execute(statement)
        return
    _alembic_upgrade(f"sqlite:///{path}", db.name)
    if empty:
        made = [sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")]
        versions = [f"INSERT INTO alembic_version VALUES ('{v}')" for v in sorted(_versions(db))]
        _made[db.name] = made + versions


def _versions(db: Database) -> set[str]:
    if db.backend == "sqlite":
        found = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'").fetchone()
    else:
        found = db.execute("SELECT to_regclass('alembic_version')").fetchone()
        found = found if found and found[0] else None
    return {row[0] for row in db.execute("SELECT version_num FROM alembic_version")} if found else set()


def _alembic_upgrade(url: str, name: str) -> None:
    import sqlalchemy
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, f"{name}@head")
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise StateError(f"the {name} state could not be brought to its schema's head: {exc}") from exc
    finally:
        engine.dispose()
