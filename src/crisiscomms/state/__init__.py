"""The project's own state (watermarks, mentions, crisis ids, approvals, outbox, promises, kill switch): one interface,
SQLite files by default, PostgreSQL when `CRISIS_STATE_DATABASE_URL` is set."""

from crisiscomms.state.database import (
    NAMES,
    URL_VARIABLE,
    Database,
    IntegrityError,
    Rows,
    StateError,
    database_url,
    state_dir,
)
from crisiscomms.state.opening import exists, open_database, open_in, sqlite_database

__all__ = ["NAMES", "URL_VARIABLE", "Database", "IntegrityError", "Rows", "StateError", "database_url", "exists",
           "open_database", "open_in", "sqlite_database", "state_dir"]
