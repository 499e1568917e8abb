"""A real private PostgreSQL cluster: created, started, stopped and started again (no mocks).

As root (CI, these machines) the server runs as the `postgres` system user: that path is the one tested here.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from crisiscomms.stack.postgres import (
    LocalPostgres,
    PostgresError,
    create_database,
    create_schema,
    drop_database,
    drop_schema,
    server_binaries,
)

pytestmark = pytest.mark.server


@pytest.fixture(scope="module", autouse=True)
def binaries() -> Path:
    """The server programs, or a failure (never a skip) that says how to install them."""
    try:
        return server_binaries()
    except PostgresError as missing:
        pytest.fail(str(missing))


@contextmanager
def cluster_in_tmp(*, fast: bool) -> Iterator[LocalPostgres]:
    """A cluster in a fresh folder under the system's temporary directory, stopped and removed whatever happened.
    Not under pytest's tmp_path: every pytest session that starts takes the execute bit off its
    `pytest-of-<user>` folder again, which would lock the postgres user out of a cluster there midway."""
    home = Path(tempfile.mkdtemp(prefix="crisis-pg-"))
    cluster = LocalPostgres(home / "pg", fast=fast)
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalPostgres]:
    """One fast (fsync off) cluster for the tests that only read or make their own schema or database."""
    with cluster_in_tmp(fast=True) as cluster:
        cluster.start()
        yield cluster


@pytest.fixture
def durable() -> Iterator[LocalPostgres]:
    """A cluster with the product's durable settings (created by the test)."""
    with cluster_in_tmp(fast=False) as cluster:
        yield cluster


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(query).fetchall()


def test_schemas_are_isolated(shared: LocalPostgres) -> None:
    one, other = create_schema(shared.url, "team_one"), create_schema(shared.url, "team_other")
    try:
        with psycopg.connect(one) as conn:
            conn.execute("CREATE TABLE mention (id int PRIMARY KEY, text text)")
            conn.execute("INSERT INTO mention VALUES (1, 'rappel conso')")
        assert rows(one, "SELECT text FROM mention") == [("rappel conso",)]
        assert rows(one, "SELECT to_regclass('team_one.mention') IS NOT NULL") == [(True,)]
        assert rows(other, "SHOW search_path") == [("team_other",)]
        assert rows(other, "SELECT to_regclass('mention')") == [(None,)]
        with pytest.raises(psycopg.errors.UndefinedTable):
            rows(other, "SELECT * FROM mention")
    finally:
        drop_schema(shared.url, "team_one")
        drop_schema(shared.url, "team_other")


def test_created_database_is_its_own_and_can_be_dropped(shared: LocalPostgres) -> None:
    scratch = create_database(shared.url, "scratch")
    assert scratch == shared.url.rsplit("/", 1)[0] + "/scratch"
    assert rows(scratch, "SELECT current_database()") == [("scratch",)]
    drop_database(shared.url, "scratch")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        rows(scratch, "SELECT 1")


def test_unusable_names_are_refused_before_any_sql(shared: LocalPostgres) -> None:
    for name in ("Team", "a b", "x; DROP DATABASE crisis", "", "1st"):
        with pytest.raises(PostgresError, match="not a usable"):
            create_schema(shared.url, name)
    assert rows(shared.url, "SELECT current_database()") == [("crisis",)]


def test_wrong_password_is_rejected(shared: LocalPostgres) -> None:
    password = (shared.data_dir / "password").read_text().strip()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        rows(shared.url.replace(password, "wrong" + password), "SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="password"):
        rows(shared.url.replace(f":{password}@", "@"), "SELECT 1")


def test_listens_on_loopback_with_a_private_password(shared: LocalPostgres) -> None:
    port = int((shared.data_dir / "port").read_text())
    assert shared.url.startswith("postgresql://crisis:") and shared.url.endswith(f"@127.0.0.1:{port}/crisis")
    assert stat.S_IMODE((shared.data_dir / "password").stat().st_mode) == 0o600
    settings = "SELECT current_user, current_setting('listen_addresses'), current_setting('password_encryption')"
    assert rows(shared.url, settings) == [("crisis", "127.0.0.1", "scram-sha-256")]
    assert rows(shared.url, "SELECT current_setting('fsync')") == [("off",)]  # fast=True: tests only
    assert (shared.data_dir / "socket").is_dir() and (shared.data_dir / "postgres.log").is_file()


def test_starting_a_running_cluster_returns_its_url(shared: LocalPostgres) -> None:
    began = time.perf_counter()
    assert shared.start() == shared.url
    assert LocalPostgres(shared.data_dir).start() == shared.url  # another process: same folder, same cluster
    assert time.perf_counter() - began < 2


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to the postgres user")
def test_as_root_the_server_runs_as_the_postgres_user(shared: LocalPostgres) -> None:
    postmaster = int((shared.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
    uid = next(int(line.split()[1]) for line in Path(f"/proc/{postmaster}/status").read_text().splitlines()
               if line.startswith("Uid:"))
    assert uid == pwd.getpwnam("postgres").pw_uid
    assert shared.data_dir.stat().st_uid == uid


def test_a_parent_made_private_again_is_opened_again_and_the_server_checkpoints(durable: LocalPostgres) -> None:
    url = durable.start()
    durable.data_dir.parent.chmod(0o700)  # what `crisis up` does to .crisis/ (the stack's user only)
    assert durable.start() == url  # running: its URL, and the postgres user let through again
    with psycopg.connect(url, connect_timeout=5) as conn:
        conn.execute("CHECKPOINT")  # writes global/pg_control by its full path: a PANIC if the way there is closed
    assert durable.running() and rows(url, "SELECT 1") == [(1,)]


def test_data_survives_a_restart(durable: LocalPostgres) -> None:
    url = durable.start()
    assert durable.running()
    assert rows(url, "SELECT current_setting('fsync')") == [("on",)]  # the product path stays durable
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE approval (message text, approver text)")
        conn.execute("INSERT INTO approval VALUES ('holding_statement', 'legal')")
    durable.stop()
    assert not durable.running()
    with pytest.raises(psycopg.OperationalError):
        rows(url, "SELECT 1")

    again = LocalPostgres(durable.data_dir)  # as a new process would: password and port read back
    assert again.start() == url
    assert rows(url, "SELECT message, approver FROM approval") == [("holding_statement", "legal")]
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO approval VALUES ('press_release', 'ceo')")

    # A crash (kill -9 of the server): not running any more, even while its process lingers as a zombie; the
    # next start recovers every committed row.
    os.kill(int((durable.pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while durable.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not durable.running()
    assert durable.start() == url
    assert rows(url, "SELECT count(*) FROM approval") == [(2,)]

    again.stop()
    assert not again.running() and not durable.running()
    durable.stop()  # stopping a stopped cluster is a no-op


def test_url_of_a_cluster_never_started_is_an_error(tmp_path: Path) -> None:
    cluster = LocalPostgres(tmp_path / "none")
    assert not cluster.running()
    with pytest.raises(PostgresError, match="start it first"):
        _ = cluster.url
