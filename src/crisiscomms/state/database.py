"""The project's own state, one interface over two backends.

The state of a project — watermarks and mentions, crisis ids, approval stages and signing keys, the outbox's
exactly-once records, promises, the kill switch — lives in a few databases named by domain (`monitoring`,
`crises`, `approvals`, `outbox`, `cadence`, `killswitch`):
- by default, one SQLite file each under the project's state folder (`.crisis/<name>.db`): nothing to install,
  one machine;
- with `CRISIS_STATE_DATABASE_URL=postgresql://…` set, tables in that PostgreSQL database (its search_path's
  schema), shared by every worker on every machine that is given the URL.

The stores write the same SQL to both: `?` placeholders, `ON CONFLICT`, `RETURNING`, TEXT times in ISO form. A write
that reads before it writes takes the database's write lock first (`transaction()`): SQLite's `BEGIN IMMEDIATE`, and
on PostgreSQL a transaction-scoped advisory lock per domain — the same serialisation either way, so two workers on
two machines never both claim one message or both move one watermark. The schema is versioned by Alembic
(`migrations/`): opening a domain brings it to its head when it is behind (one query when it is not).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from crisiscomms.errors import CrisisError

URL_VARIABLE = "CRISIS_STATE_DATABASE_URL"
BUSY_SECONDS = 30.0  # how long a SQLite statement waits for another process's lock
NAMES = ("monitoring", "crises", "approvals", "outbox", "cadence", "killswitch")


class StateError(CrisisError):
    """The project's state cannot be opened or read (a damaged file, an unreachable or unmigrated database)."""


class IntegrityError(StateError):
    """A row broke a uniqueness rule (the same key written twice)."""


class Rows(Protocol):
    """What `execute` returns, on either backend: iterate it, or fetch from it."""

    rowcount: int
    description: Any

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


def state_dir(root: Path) -> Path:
    """Where a project keeps its files of state: `$CRISIS_STATE_DIR`, else `<project>/.crisis`."""
    return Path(os.environ.get("CRISIS_STATE_DIR") or root / ".crisis")


def database_url() -> str | None:
    """The PostgreSQL database holding the state, when one is configured (else the SQLite files)."""
    return os.environ.get(URL_VARIABLE) or None


class Database:
    """One domain's tables. `execute` runs one statement (in autocommit); `transaction()` groups statements under
    the domain's write lock."""

    backend: str
    name: str
    where: str  # for messages: the file, or the server and database

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def stream(self, sql: str, args: Sequence[Any] = ()) -> Iterator[Any]:
        """The rows of a query that may return many, read as they are consumed (bounded memory)."""
        yield from self.execute(sql, args)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        raise NotImplementedError
        yield self

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ── SQLite ──────────────────────────────────────────────────────────────────────────────────────────────────────


class SQLiteDatabase(Database):
    backend = "sqlite"

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name, self.where = path, name, str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
            self._write_ahead()
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{path}: not a readable state database ({exc})") from exc

    def _write_ahead(self) -> None:
        """WAL mode. Switching a new file to it needs the file to itself, and SQLite says "locked" at once rather
        than wait when another process is switching or migrating it (two workers opening a new state together):
        asked again until it has waited as long as any other statement would."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        with self._translated():
            return self._db.execute(sql, tuple(args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._translated():
            self._db.executemany(sql, rows)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The driver's errors as the state's, naming the file."""
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(f"{self.where}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise StateError(f"{self.where}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        # BEGIN IMMEDIATE: two overlapping writers serialise on the write lock instead of interleaving.
        self.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


# ── PostgreSQL ──────────────────────────────────────────────────────────────────────────────────────────────────

_PLACEHOLDER = re.compile(r"\?")
_streams = itertools.count()


def _postgres_sql(sql: str) -> str:
    """The same statement for psycopg: `%` doubled, `?` placeholders as `%s`."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


def _said(exc: Exception) -> str:
    """What the driver said, on one line (libpq's messages run over several)."""
    return " ".join(str(exc).split())


def libpq_url(url: str) -> str:
    """The URL as libpq reads it (a SQLAlchemy driver suffix such as `+psycopg` or `+asyncpg` dropped)."""
    return re.sub(r"^postgres(ql)?\+\w+://", "postgresql://", url)


def shown_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(libpq_url(url))
    host = parts.hostname or "localhost"
    return f"PostgreSQL {host}{':' + str(parts.port) if parts.port else ''}{parts.path or ''}"


class PostgresDatabase(Database):
    backend = "postgresql"

    def __init__(self, url: str, name: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self.name, self.where = name, f"{shown_url(url)} ({name})"
        # One write lock per domain (advisory locks are per database: two projects in two schemas of one database
        # serialise their writes to a domain on each other, which costs little and mixes nothing).
        self._lock = int.from_bytes(hashlib.sha256(f"crisiscomms:{name}".encode()).digest()[:8], "big", signed=True)
        try:
            self._db = psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise StateError(f"{self.where}: cannot connect ({_said(exc)}); check {URL_VARIABLE}") from exc

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows:
        with self._translated():
            return self._db.execute(_postgres_sql(sql), tuple(args))  # type: ignore[arg-type]

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._translated(), self._db.cursor() as cursor:
            cursor.executemany(_postgres_sql(sql), [tuple(r) for r in rows])  # type: ignore[arg-type]

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The driver's errors as the state's, naming the server and domain (never the password)."""
        try:
            yield
        except self._psycopg.errors.UniqueViolation as exc:
            raise IntegrityError(f"{self.where}: {_said(exc)}") from exc
        except self._psycopg.Error as exc:
            raise StateError(f"{self.where}: {_said(exc)}") from exc

    def stream(self, sql: str, args: Sequence[Any] = ()) -> Iterator[Any]:
        # A server-side cursor, held across commits: the rows come 2,000 at a time, not all at once.
        with self._db.cursor(name=f"stream_{id(self)}_{next(_streams)}", withhold=True) as cursor:
            cursor.itersize = 2000
            cursor.execute(_postgres_sql(sql), tuple(args))  # type: ignore[arg-type]
            yield from cursor

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        with self._db.transaction():
            self.execute("SELECT pg_advisory_xact_lock(?)", (self._lock,))
            yield self

    def close(self) -> None:
        self._db.close()
