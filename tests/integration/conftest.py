"""One real local stack for the integration tests: `prefect server start` on SQLite, the
`crisis-pool` work pool, the deployments of prefect.yaml and a worker — started by
`crisiscomms.stack.server.up` on a copy of the project (so `.crisis/` never touches the checkout), and
stopped at the end by `crisis down`, checking that nothing is left running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from crisiscomms.stack import server
from crisiscomms.stack.ports import free_port
from crisiscomms.stack.server import Stack
from tests.backends import on_postgres, stack_on_backend, stack_on_postgres, state_of

from .helpers import ResubmitUnavailable, deployment, is_running, processes_using, reap, tail

CHECKOUT = Path(__file__).resolve().parents[2]
PROJECT_ITEMS = ("prefect.yaml", "playbooks", "templates", "flows", "tasks", "data", "drills")
# The worker polls its pool every 10 s by default; a shorter period keeps the module well under 90 s.
TEST_ENV = {"PREFECT_WORKER_QUERY_SECONDS": "2"}


@dataclass
class LiveStack:
    stack: Stack
    api: httpx.Client
    monitor_runs: list[dict[str, Any]]  # what the scheduler made of the monitor's schedule before it was paused

    @property
    def root(self) -> Path:
        return self.stack.root

    @property
    def worker_log(self) -> Path:
        return self.stack.state_dir / "logs" / "worker.log"


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".crisis")
    for name in PROJECT_ITEMS:
        source = CHECKOUT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, dest / name)
    return dest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The PostgreSQL pass leaves out the drills: a drill's stack is its own, on SQLite, whatever the project's
    backend (stack/drills/run.py drops the database settings; tests/unit/test_drill_isolation.py checks it), so
    they would run again unchanged; and the tests that pick their backend themselves (`own_backend`)."""
    if not on_postgres():
        return
    kept = [item for item in items if not any(item.get_closest_marker(m) for m in ("drill_stack", "own_backend"))]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    root = copy_project(tmp_path_factory.mktemp("crisis-project"))
    stack = stack_on_backend(root, free_port())
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("PREFECT_")]:
            patch.delenv(key)  # a developer's Prefect profile, API or database must not leak in
        for key, value in TEST_ENV.items():
            patch.setenv(key, value)
        try:
            server.up(stack, say=print)
            pids = {name: int(stack.pid_file(name).read_text()) for name in ("server", "worker")}
            # The teardown finds leftovers by their environment: check that it sees the stack running.
            seen = _seen_running(stack, pids)
            assert all(any(line.startswith(f"{pid}:") for line in seen) for pid in pids.values()), (
                pids, seen, {name: _environ_head(pid) for name, pid in pids.items()}, tail(stack.state_dir / "logs"
                                                                                          / "worker.log"))
        except BaseException:
            server.down(stack, say=print)
            raise
    # Longer than the server's wait on a locked SQLite file (up to 60 s, then a 503 that the transport sends
    # again): a client that gives up first fails on a server that was about to answer. Prefect's own waits 60 s.
    user, _, password = (stack.credential() or "").partition(":")  # `crisis up` secures the stack: no anonymous API
    with httpx.Client(base_url=stack.api_url, timeout=90, transport=ResubmitUnavailable(),
                      auth=(user, password)) as api:
        try:
            monitor_runs = _pause_monitor_schedule(api)
            with state_of(stack):  # the tests read the state its flows write (in PostgreSQL, on that pass)
                yield LiveStack(stack, api, monitor_runs)
        finally:
            _crisis_down(stack, pids)


def _pause_monitor_schedule(api: httpx.Client, wait: float = 60.0) -> list[dict[str, Any]]:
    """Pause the monitor deployment once its schedule has produced runs; those runs, for the stack test.

    Left on, the 5-minute monitor would run the demo's watch (and whatever its alerts start) in the middle of the
    other tests, all writing to the one SQLite file; the tests would wait on its locks and meet 503s.
    """
    deployment_id = deployment(api, "crisis-monitor", "monitor")["id"]
    body = {"deployments": {"id": {"any_": [deployment_id]}}}
    deadline = time.monotonic() + wait
    while not (runs := api.post("/flow_runs/filter", json=body).json()) and time.monotonic() < deadline:
        time.sleep(1)
    paused = api.post(f"/deployments/{deployment_id}/pause_deployment")
    assert paused.status_code == 200, paused.text
    return runs


def _seen_running(stack: Stack, pids: dict[str, int], wait: float = 10.0) -> list[str]:
    """The stack's processes found by their environment, as the teardown finds them. Polled for a few seconds:
    twice this session a just-spawned worker was alive but not listed (cause not found); the message says more."""
    deadline = time.monotonic() + wait
    while True:
        seen = processes_using(stack.state_dir / "prefect")
        found = all(any(line.startswith(f"{pid}:") for line in seen) for pid in pids.values())
        if found or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def _environ_head(pid: int) -> str:
    """What /proc says of a process's environment (PREFECT_ entries), for the failure message."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError as exc:
        return f"unreadable: {exc}"
    return ", ".join(e.decode(errors="replace") for e in environ if e.startswith(b"PREFECT_HOME")) or "no PREFECT_HOME"


def _crisis_down(stack: Stack, pids: dict[str, int]) -> None:
    """`crisis down` in the project copy; then nothing of the stack may still run."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "crisiscomms.stack.cli", "down"], cwd=stack.root,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        elapsed = time.monotonic() - started
        server.down(stack, say=print)  # safety net: a no-op when `crisis down` did its job
        for pid in pids.values():
            reap(pid)  # this process started them: collect their exit status
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stopped worker" in done.stderr and "stopped server" in done.stderr, done.stderr
    # down() escalates to SIGKILL after 20 s per process: a quicker exit means SIGTERM was enough.
    assert elapsed < 20, f"`crisis down` took {elapsed:.1f} s"
    alive = {name: pid for name, pid in pids.items() if is_running(pid)}
    assert not alive, f"still running after `crisis down`: {alive}"
    assert not any(stack.pid_file(name).exists() for name in pids), "pid files left behind"
    leftovers = processes_using(stack.state_dir / "prefect")
    assert not leftovers, "processes of the stack still running:\n" + "\n".join(leftovers)
    worker_log = tail(stack.state_dir / "logs" / "worker.log")
    if "Worker 'crisis-worker' started!" in worker_log:  # stopped while starting, it says nothing
        assert "Worker 'crisis-worker' stopped!" in worker_log, worker_log
    assert not server.is_healthy(stack.api_url, timeout=1)


@contextmanager
def running_stack(root: Path, env: dict[str, str] | None = None, postgres: bool = False
                  ) -> Iterator[tuple[Stack, httpx.Client]]:
    """A stack on `root` with TEST_ENV and `env`, without the caller's Prefect settings, on the pass's backend (on
    PostgreSQL whatever the pass with `postgres`); the environment is put back and the stack stopped when the block
    ends."""
    stack = stack_on_postgres(root, free_port()) if postgres else stack_on_backend(root, free_port())
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("PREFECT_")]:
            patch.delenv(key)
        for key, value in {**TEST_ENV, **(env or {})}.items():
            patch.setenv(key, value)
        try:
            server.up(stack, say=print)
            user, _, password = (stack.credential() or "").partition(":")
            with httpx.Client(base_url=stack.api_url, timeout=90, transport=ResubmitUnavailable(),
                              auth=(user, password)) as api, state_of(stack):
                yield stack, api
        finally:
            server.down(stack, say=print)


@pytest.fixture(scope="session")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every drill of the session, run once (tests/integration/drilling.py)."""
    from .drilling import drill_everything

    return drill_everything(tmp_path_factory.mktemp("drills"))
