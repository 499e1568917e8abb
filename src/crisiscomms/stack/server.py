"""The local stack `crisis up` starts and `crisis down` stops: a Prefect server on SQLite (with the
approver page beside it, `crisiscomms.stack.gateway`), a `process` work pool with one worker, and the
deployments of prefect.yaml.

On PostgreSQL (`crisis up --postgres`: a cluster of the project's own under `.crisis/postgres`, started and stopped
with the stack; or `--postgres-url`: an existing server), one database holds Prefect's tables (schema `public`) and
the project's state (schema `crisis_state`: watermarks, mentions, crisis ids, approvals, outbox, kill switch), so
that workers on other machines given the same URLs share them.

Secured by default: a random credential made on first start (`.crisis/credential`, mode 0600) is the
server's `PREFECT_SERVER_API_AUTH_STRING` and every client's `PREFECT_API_AUTH_STRING` (worker, flow
runs, CLI); CORS allows the UI's own origin only, and the server answers its own host names only.

Everything lives under `<project>/.crisis/`: the Prefect home (its SQLite database is the audit
trail, so it stays when the stack stops), logs, the credential, the approval signing key, and the
pid files `down` uses. This module drives subprocesses; it does not import Prefect.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from crisiscomms.errors import ServerError

WORK_POOL = "crisis-pool"
STATE_DIR = ".crisis"
CREDENTIAL_FILE = "credential"
USER = "crisis"
STATE_SCHEMA = "crisis_state"  # the project's state, beside Prefect's tables in the same database
DATABASE_URL_FILE = "database-url"  # the URL of an existing PostgreSQL server (mode 0600: it holds a password)
LOCAL = "local"


@dataclass(frozen=True)
class Stack:
    root: Path
    host: str = "127.0.0.1"
    port: int = 4200
    database: str = ""  # "" (SQLite), LOCAL (the project's own PostgreSQL cluster) or "url" (DATABASE_URL_FILE)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def credential_file(self) -> Path:
        return self.state_dir / CREDENTIAL_FILE

    def credential(self) -> str | None:
        """`user:password` of the stack, if it has one."""
        try:
            return self.credential_file.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def postgres_url(self) -> str | None:
        """The PostgreSQL database of the stack (None on SQLite)."""
        if not self.database:
            return None
        if self.database == LOCAL:
            from crisiscomms.stack.postgres import LocalPostgres

            return LocalPostgres(self.state_dir / "postgres").url
        try:
            return (self.state_dir / DATABASE_URL_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ServerError(f"{self.state_dir / DATABASE_URL_FILE} is missing: start the stack again with "
                              "`crisis up --postgres-url URL`") from None

    def database_env(self) -> dict[str, str]:
        """Where the stack's server keeps the run history and its flows the project's state (empty on SQLite)."""
        url = self.postgres_url()
        if url is None:
            return {}
        from crisiscomms.stack.postgres import with_schema
        from crisiscomms.state.database import libpq_url

        plain = libpq_url(url)
        return {"PREFECT_API_DATABASE_CONNECTION_URL": plain.replace("postgresql://", "postgresql+asyncpg://", 1),
                "CRISIS_STATE_DATABASE_URL": with_schema(plain, STATE_SCHEMA)}

    def env(self) -> dict[str, str]:
        """Environment of every process of the stack (and of commands that talk to it)."""
        env = dict(os.environ)
        env.update(self.database_env())
        credential = self.credential()
        if credential:
            env.update({"PREFECT_SERVER_API_AUTH_STRING": credential, "PREFECT_API_AUTH_STRING": credential})
        origins = ",".join(sorted({self.ui_url, f"http://localhost:{self.port}",
                                   *filter(None, [os.environ.get("CRISIS_PUBLIC_URL", "").rstrip("/")])}))
        env.setdefault("CRISIS_APPROVER_URL", os.environ.get("CRISIS_PUBLIC_URL") or self.ui_url)
        env.update({
            # The deployments and the worker serve this stack's project, whatever the calling process had set.
            "CRISIS_PROJECT_ROOT": str(self.root.resolve()),
            "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": origins,
            # Results of flow runs waiting for approval (suspended) are read back by whichever worker resumes them.
            "PREFECT_LOCAL_STORAGE_PATH": str(self.state_dir / "results"),
            "PREFECT_WORKER_QUERY_SECONDS": env.get("PREFECT_WORKER_QUERY_SECONDS", "3"),
            "PREFECT_HOME": str(self.state_dir / "prefect"),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_URL": self.ui_url,
            "PREFECT_LOGGING_LEVEL": env.get("PREFECT_LOGGING_LEVEL", "INFO"),
        })
        return env

    def pid_file(self, name: str) -> Path:
        return self.state_dir / f"{name}.pid"


def saved_stack(root: Path) -> Stack | None:
    """The stack `crisis up` recorded for this project, if any."""
    path = root / STATE_DIR / "stack.json"
    if not path.is_file():
        return None
    saved = json.loads(path.read_text(encoding="utf-8"))
    return Stack(root, saved["host"], int(saved["port"]), saved.get("database", ""))


def is_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def prefect_command(*args: str) -> list[str]:
    """Run the prefect CLI of this interpreter's environment, whatever PATH says."""
    return [sys.executable, "-m", "prefect", *args]


def ensure_credential(stack: Stack, say: Callable[[str], None]) -> None:
    """Make the stack's credential on first start (random, mode 0600) and say it once, with where it lives."""
    if stack.credential():
        return
    value = f"{USER}:{secrets.token_urlsafe(24)}"
    _write_secret(stack.credential_file, value)
    say(f"new credential of this stack (shown once; kept in {stack.credential_file}, mode 0600): {value}\n"
        "  the Prefect UI asks for it: paste it whole. The CLI, the worker and flow runs read it from that file.")


def rotate_credential(stack: Stack) -> None:
    stack.credential_file.unlink(missing_ok=True)


def private_state(stack: Stack) -> None:
    """`.crisis/` (and `$CRISIS_STATE_DIR`) for the stack's user only: it holds the drill's approval requests (with
    their links), packs not yet approved, run results and the audit database."""
    for folder in {stack.state_dir, Path(os.environ.get("CRISIS_STATE_DIR") or stack.state_dir)}:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)


def up(stack: Stack, say: Callable[[str], None], deploy: bool = True) -> None:
    # Private first, then the database: run as root, the project's own PostgreSQL (under .crisis/postgres, run by
    # the postgres user) is let through .crisis/ again as it starts; made private after, it stopped with a PANIC at
    # its first checkpoint, about 10 minutes in.
    private_state(stack)
    start_database(stack, say)  # before the other processes: every one is told where it is
    for folder in ("logs", "prefect"):  # SQLite does not create the folder of its database
        (stack.state_dir / folder).mkdir(parents=True, exist_ok=True)
    ensure_credential(stack, say)
    (stack.state_dir / "stack.json").write_text(json.dumps({"host": stack.host, "port": stack.port,
                                                            "database": stack.database}))
    if is_healthy(stack.api_url):
        say(f"Prefect server already up at {stack.ui_url}")
    else:
        spawn(stack, "server", server_command(stack))
        wait_healthy(stack, say)
    _run(stack, prefect_command("work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"))
    if deploy:
        say("registering the deployments of prefect.yaml …")
        _run(stack, prefect_command("--no-prompt", "deploy", "--all"))
    if not _alive(stack.pid_file("worker")):
        spawn(stack, "worker", worker_command())
    say(f"worker polling work pool '{WORK_POOL}'")


def start_database(stack: Stack, say: Callable[[str], None]) -> None:
    """The stack's PostgreSQL up (the project's own cluster) or reached (a server given by URL), with the state's
    schema in it; nothing on SQLite."""
    if not stack.database:
        return
    from crisiscomms.stack.postgres import LocalPostgres, PostgresError, create_schema

    if stack.database == LOCAL:
        say(f"starting PostgreSQL (data under {STATE_DIR}/postgres) …")
        LocalPostgres(stack.state_dir / "postgres").start()
    url = stack.postgres_url()
    assert url is not None
    try:
        create_schema(url, STATE_SCHEMA, exist_ok=True)
    except Exception as exc:  # psycopg's errors, without importing it here
        from crisiscomms.state.database import shown_url

        raise PostgresError(f"{shown_url(url)}: cannot reach the database ({' '.join(str(exc).split())})") from exc


def save_database_url(stack: Stack, url: str) -> None:
    """Keep the URL of an existing PostgreSQL server for the stack's processes (mode 0600: it holds a password)."""
    _write_secret(stack.state_dir / DATABASE_URL_FILE, url.strip())


def _write_secret(path: Path, value: str) -> None:
    """One line for the stack's user only (mode 0600 from its creation: never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")


def server_command(stack: Stack) -> list[str]:
    """Prefect's server app with the approver page beside it (crisiscomms.stack.gateway)."""
    return [sys.executable, "-m", "crisiscomms.stack.gateway", "--root", str(stack.root), "--host", stack.host,
            "--port", str(stack.port)]


def worker_command() -> list[str]:
    return prefect_command("worker", "start", "--pool", WORK_POOL, "--name", "crisis-worker")


def run_deployment(stack: Stack, name: str, params: dict[str, object]) -> str:
    args = ["deployment", "run", name]
    for key, value in params.items():
        args += ["--param", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return _run(stack, prefect_command(*args))


def down(stack: Stack, say: Callable[[str], None]) -> None:
    for name in ("worker", "server"):
        if down_one(stack, name):
            say(f"stopped {name}")
    if stack.database == LOCAL:
        from crisiscomms.stack.postgres import LocalPostgres

        cluster = LocalPostgres(stack.state_dir / "postgres")
        if cluster.running():
            cluster.stop()
            say("stopped PostgreSQL")


def down_one(stack: Stack, name: str) -> bool:
    """Stop one process of the stack (SIGTERM, then SIGKILL after 20 s); whether it was running."""
    stopped = _stop(stack.pid_file(name))
    stack.pid_file(name).unlink(missing_ok=True)
    return stopped


def spawn(stack: Stack, name: str, command: list[str]) -> None:
    log = (stack.state_dir / "logs" / f"{name}.log").open("ab")
    # umask 077: whatever the server, the worker and its flow runs write is for the stack's user only.
    process = subprocess.Popen(command, cwd=stack.root, env=stack.env(), stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True, umask=0o077)
    stack.pid_file(name).write_text(str(process.pid))


def wait_healthy(stack: Stack, say: Callable[[str], None], timeout: float = 90.0) -> None:
    where = f"SQLite under {STATE_DIR}/prefect" if not stack.database else "PostgreSQL"
    say(f"starting Prefect server on {stack.ui_url} ({where}) …")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(stack.api_url):
            return
        if not _alive(stack.pid_file("server")):
            break
        time.sleep(0.5)
    log = stack.state_dir / "logs" / "server.log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ServerError(f"Prefect server did not become healthy at {stack.api_url}; see {log}\n{tail}")


def _run(stack: Stack, command: list[str]) -> str:
    done = subprocess.run(command, cwd=stack.root, env=stack.env(), capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ServerError(f"`{' '.join(command[2:])}` failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    stat = Path(f"/proc/{pid}/stat")
    # A zombie (exited, not yet reaped by the process that started it) is not alive.
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


def _stop(pid_file: Path, timeout: float = 20.0) -> bool:
    if not _alive(pid_file):
        return False
    pid = int(pid_file.read_text())
    _signal_group(pid, signal.SIGTERM)  # the whole session: server workers, flow-run subprocesses
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid_file):
        time.sleep(0.2)
    if _alive(pid_file):
        _signal_group(pid, signal.SIGKILL)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
