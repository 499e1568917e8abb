"""The two backends of the project's state, for the tests that must hold on both.

`state_backend` runs a test twice: on the default SQLite files, and on PostgreSQL with `CRISIS_STATE_DATABASE_URL`
set to a schema of its own. The integration tests run once per backend: with `CRISIS_TEST_BACKEND=postgresql`
(scripts/test's second pass) every stack they start keeps its runs and state in a PostgreSQL database of its own.
The PostgreSQL server is the one `CRISIS_TEST_POSTGRES_URL` names, else a local cluster this test process starts in
a temporary folder and stops at its exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crisiscomms.stack import server
from crisiscomms.stack.server import Stack
from crisiscomms.state import URL_VARIABLE

TEST_SERVER = "CRISIS_TEST_POSTGRES_URL"


BACKEND = "CRISIS_TEST_BACKEND"  # the integration pass: "sqlite" (default) or "postgresql"
_server: list[str] = []


def on_postgres() -> bool:
    """Whether this is the PostgreSQL pass: the stacks the tests start keep their runs and state in PostgreSQL."""
    return os.environ.get(BACKEND, "sqlite") == "postgresql"


def session_server() -> str:
    """The URL of a PostgreSQL server's database where tests make their schemas and databases: the one
    `CRISIS_TEST_POSTGRES_URL` names, else a cluster of this test process (started once, stopped at its exit)."""
    if _server:
        return _server[0]
    given = os.environ.get(TEST_SERVER)
    if given:
        _server.append(given)
        return given
    from crisiscomms.stack.postgres import LocalPostgres

    # Not under pytest's tmp_path: run as root, the server runs as `postgres`, and each pytest session that starts
    # closes /tmp/pytest-of-root to everyone else (0700).
    folder = Path(tempfile.mkdtemp(prefix="crisiscomms-postgres-"))
    cluster = LocalPostgres(folder, fast=True)
    _server.append(cluster.start())
    atexit.register(_stop, cluster, folder)
    return _server[0]


def _stop(cluster: object, folder: Path) -> None:
    cluster.stop()  # type: ignore[attr-defined]
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    return session_server()


def new_database() -> str:
    """The URL of a new empty database on the session's PostgreSQL server."""
    from crisiscomms.stack.postgres import create_database

    return create_database(session_server(), f"s_{uuid.uuid4().hex[:12]}")


def stack_on_backend(root: Path, port: int) -> Stack:
    """The stack a test starts in `root`: on SQLite, or on the PostgreSQL pass in a new database of the session's
    server, given as `crisis up --postgres-url` gives one (its runs and the project's state there)."""
    return stack_on_postgres(root, port) if on_postgres() else Stack(root, port=port)


def stack_on_postgres(root: Path, port: int) -> Stack:
    """The stack a test starts in `root` on PostgreSQL whatever the pass: a new database of the session's server."""
    stack = Stack(root, port=port, database="url")
    server.save_database_url(stack, new_database())
    return stack


@contextmanager
def state_of(stack: Stack) -> Iterator[None]:
    """In this block, this process reads and writes the project state of `stack` (its PostgreSQL, if it has one)."""
    saved = os.environ.get(URL_VARIABLE)
    url = stack.database_env().get(URL_VARIABLE)
    if url:
        os.environ[URL_VARIABLE] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(URL_VARIABLE, None)
        else:
            os.environ[URL_VARIABLE] = saved


def fresh_schema(server: str) -> tuple[str, str]:
    """(name, URL) of a new empty schema on the server."""
    from crisiscomms.stack.postgres import create_schema

    name = f"t_{uuid.uuid4().hex[:12]}"
    return name, create_schema(server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Where the project's state goes for this test: "sqlite" (files under a scratch state folder) or "postgresql"
    (a schema of its own, dropped after the test)."""
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))
    if request.param == "sqlite":
        monkeypatch.delenv(URL_VARIABLE, raising=False)
        yield "sqlite"
        return
    from crisiscomms.stack.postgres import drop_schema

    server = request.getfixturevalue("postgres_server")
    name, url = fresh_schema(server)
    monkeypatch.setenv(URL_VARIABLE, url)
    try:
        yield url
    finally:
        drop_schema(server, name)
