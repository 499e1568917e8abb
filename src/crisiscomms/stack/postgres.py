"""A private PostgreSQL cluster the project starts and stops itself (`crisis up --postgres`, the tests).

Everything lives in one folder: `password` (mode 0600), `port`, `postgres.log`, the socket directory `socket/`
and the cluster `pgdata/`. The server listens on 127.0.0.1 only and asks every client for the password
(scram-sha-256), over TCP and over the socket alike. Durable by default; `fast=True` (tests only) turns off
fsync, synchronous_commit and full_page_writes: a crash of the machine may then lose or corrupt the data.

PostgreSQL refuses to run as root: as root, every server program runs as the `postgres` system user the Debian
package creates; the folder is handed to that user and its parents are made traversable (execute bit only).
This module drives subprocesses and psycopg; it does not import Prefect.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from crisiscomms.errors import ServerError
from crisiscomms.stack.ports import free_port

logger = logging.getLogger(__name__)

USER = "crisis"
DATABASE = "crisis"
SYSTEM_USER = "postgres"
PROGRAMS = ("initdb", "pg_ctl", "postgres")
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SOCKET_PATH_MAX = 107 - len("/.s.PGSQL.65535")  # sun_path is 108 bytes with its final NUL


class PostgresError(ServerError):
    """The local PostgreSQL cluster could not be set up, started, stopped or reached."""


def server_binaries(major: str | None = None) -> Path:
    """The folder holding initdb, pg_ctl and postgres: from PATH first, then the highest /usr/lib/postgresql/<n>/bin.
    With `major` ("15"), only a folder of that major version (a cluster runs only with its own version)."""
    candidates: list[Path] = []
    found = shutil.which("pg_ctl")
    if found:
        candidates += [Path(found).resolve().parent, Path(found).parent]
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in PROGRAMS) and (major is None or _major(folder) == major):
            return folder
    wanted = f"PostgreSQL {major} server programs" if major else "PostgreSQL server programs"
    raise PostgresError(f"{wanted} ({', '.join(PROGRAMS)}) not found in PATH nor in /usr/lib/postgresql/*/bin: "
                        "run `bash scripts/postgres` to install them")


@functools.cache
def _major(folder: Path) -> str | None:
    if folder.parent.parent == Path("/usr/lib/postgresql"):
        return folder.parent.name
    out = subprocess.run([folder / "postgres", "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)", out)
    return match.group(1) if match else None


class LocalPostgres:
    """One cluster in `data_dir`, created on first start. `start()` returns its URL."""

    def __init__(self, data_dir: Path, port: int | None = None, *, fast: bool = False) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.fast = fast
        self._owner = pwd.getpwnam(SYSTEM_USER) if os.geteuid() == 0 else None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def url(self) -> str:
        """`postgresql://crisis:<password>@127.0.0.1:<port>/crisis` of the cluster (once created)."""
        try:
            password = (self.data_dir / "password").read_text(encoding="utf-8").strip()
            port = int((self.data_dir / "port").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError) as exc:
            raise PostgresError(f"no PostgreSQL cluster set up in {self.data_dir} yet: start it first") from exc
        return f"postgresql://{USER}:{quote(password, safe='')}@127.0.0.1:{port}/{DATABASE}"

    def start(self) -> str:
        """Create the cluster if needed, start it unless it runs, and return its URL. Either way the postgres user
        is let through the folder's parents again: the server opens its files by their full path (a checkpoint
        writes `global/pg_control`), and one it can no longer reach stops with a PANIC."""
        if self.running():
            self._hand_over()
            return self.url
        _wait_reaped(self._postmaster())  # postgres refuses to start while its crashed predecessor is a zombie
        if not (self.pgdata / "PG_VERSION").exists():
            self._create()
        self._hand_over(self.data_dir)  # again: a parent's mode may have changed since the cluster was made
        port = self._choose_port()
        (self.data_dir / "port").write_text(f"{port}\n", encoding="utf-8")
        options = f"-p {port}" + "".join(f" -c {setting}" for setting in FAST_SETTINGS if self.fast)
        done = self._run("pg_ctl", "start", "-w", "-t", "60", "-s", "-D", self.pgdata, "-l", self.log_file,
                         "-o", options)
        if done.returncode != 0:
            raise PostgresError(f"PostgreSQL in {self.data_dir} did not start:\n{done.stdout}{self._log_tail()}")
        self._ensure_database()
        return self.url

    def stop(self, timeout: float = 60) -> None:
        """Stop the cluster with a fast shutdown (sessions ended, committed data kept). No-op if stopped.
        Signals the server as `pg_ctl stop -m fast` does, without needing the folder's path to stay traversable."""
        pid = self._postmaster()
        if pid is None or not self.running():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.running():
            raise PostgresError(f"PostgreSQL in {self.data_dir} did not stop in {timeout:g} s:\n{self._log_tail()}")

    def running(self) -> bool:
        pid = self._postmaster()
        if pid is None:
            return False
        if not Path("/proc/self/stat").exists():
            return self._run("pg_ctl", "status", "-D", self.pgdata).returncode == 0
        return _process_state(pid) not in (None, "Z", "X")  # a crashed server may linger as a zombie

    def _postmaster(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text(encoding="utf-8").split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def _create(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        password_file = self.data_dir / "password"
        password_file.touch(mode=0o600)
        password_file.chmod(0o600)
        password_file.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
        socket_dir = self.data_dir / "socket"
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._hand_over(self.data_dir, password_file, socket_dir)
        if self.pgdata.exists():  # left by an initdb that did not finish
            shutil.rmtree(self.pgdata)
        done = self._run("initdb", "-D", self.pgdata, "-U", USER, f"--pwfile={password_file}",
                         "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync")
        if done.returncode != 0:
            raise PostgresError(f"initdb failed in {self.pgdata}:\n{done.stdout}")
        sockets = str(socket_dir) if len(str(socket_dir)) <= _SOCKET_PATH_MAX else ""  # too long: TCP only
        settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": sockets,
                    "password_encryption": "scram-sha-256"}
        if sys.platform == "linux":  # after a crash, one syncfs() instead of an fsync() per file (seconds saved)
            settings["recovery_init_sync_method"] = "syncfs"
        with (self.pgdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# crisiscomms.stack.postgres\n")
            conf.writelines(f"{key} = '{value.replace(chr(39), chr(39) * 2)}'\n" for key, value in settings.items())
        if not self.fast:
            os.sync()  # durable all the same: one sync() takes ~0.1 s where initdb's fsync of each file takes ~1.7 s
        logger.info("created a PostgreSQL cluster in %s", self.pgdata)

    def _choose_port(self) -> int:
        if self.port is not None:
            return self.port
        try:
            remembered = int((self.data_dir / "port").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            remembered = 0
        return remembered if remembered and _free(remembered) else free_port()

    def _ensure_database(self) -> None:
        with psycopg.connect(_with_path(self.url, "postgres"), autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))

    def _run(self, program: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Run a server program, as the `postgres` system user when we are root."""
        major = (self.pgdata / "PG_VERSION").read_text().strip() if (self.pgdata / "PG_VERSION").exists() else None
        command = [str(server_binaries(major) / program), *map(str, args)]
        if self._owner is not None:
            command = ["setpriv", f"--reuid={self._owner.pw_uid}", f"--regid={self._owner.pw_gid}", "--init-groups",
                       "--", *command]
        return subprocess.run(command, cwd=self.data_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, check=False, timeout=120)

    def _hand_over(self, *paths: Path) -> None:
        """As root: give `paths` to the postgres user, and let it traverse every parent of the folder."""
        if self._owner is None:
            return
        for path in paths:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        groups = set(os.getgrouplist(SYSTEM_USER, self._owner.pw_gid))
        for parent in self.data_dir.resolve().parents:
            st = parent.stat()
            owner, group = st.st_uid == self._owner.pw_uid, st.st_gid in groups
            bit = stat.S_IXUSR if owner else stat.S_IXGRP if group else stat.S_IXOTH
            if not st.st_mode & bit:
                logger.warning("letting the %s user traverse %s (chmod o+x)", SYSTEM_USER, parent)
                parent.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "".join(self.log_file.read_text(encoding="utf-8", errors="replace").splitlines(True)[-lines:])
        except FileNotFoundError:
            return ""


def _process_state(pid: int) -> str | None:
    """The state letter of a postgres process (`R`, `S`, `Z` …), None if there is no such postgres process."""
    try:
        name, rest = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").split(" (", 1)[1].rsplit(") ", 1)
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return rest[:1] if name in ("postgres", "postmaster") else None


def _wait_reaped(pid: int | None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while pid is not None and _process_state(pid) == "Z" and time.monotonic() < deadline:
        time.sleep(0.1)


def _free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as postgres binds: TIME_WAIT does not count
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def create_database(url: str, name: str) -> str:
    """Create database `name` on the server of `url` (a superuser's); return the URL of the new database."""
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_checked(name)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query)
    return _with_path(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop database `name` (if it exists), ending its sessions first."""
    query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_checked(name)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query)


def create_schema(url: str, name: str, exist_ok: bool = False) -> str:
    """Create schema `name` in the database of `url` (unless it is there and `exist_ok`); return a URL whose
    connections use it (search_path)."""
    query = sql.SQL("CREATE SCHEMA IF NOT EXISTS {}" if exist_ok else "CREATE SCHEMA {}").format(
        sql.Identifier(_checked(name)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query)
    return with_schema(url, name)


def with_schema(url: str, schema: str) -> str:
    """The URL with its connections' search_path set to `schema` (its other parameters kept; one search_path)."""
    parts = urlsplit(url)
    params = [p for p in parts.query.split("&") if p and not p.startswith("options=")]
    return urlunsplit(parts._replace(query="&".join([*params, f"options=-csearch_path%3D{schema}"])))


def drop_schema(url: str, name: str) -> None:
    """Drop schema `name` and everything in it (if it exists)."""
    query = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(_checked(name)))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query)


def _checked(name: str) -> str:
    """Lower-case identifiers only: they need no quoting in SQL, in a URL or in a search_path option."""
    if not _NAME.fullmatch(name):
        raise PostgresError(f"not a usable database or schema name: {name!r} (lower-case letters, digits, _)")
    return name


def _with_path(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))
