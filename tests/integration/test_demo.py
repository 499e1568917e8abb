"""The demo as `crisis up` starts it: the demo playbook's monitoring replays a recorded crisis as if it were happening
now, and the whole loop follows on its own — the volume rises in the monitoring report, the alert starts the
assessment, the assessment starts the communication (the playbook's `assessment.communicate_on_alert`), and the
message pack waits for its approval, with nothing sent.

The copy of the project replays 5 times faster than the demo (60 instead of 12) on 1-minute windows instead of 5
(and a 1-minute warm-up), and the test starts a monitoring pass every 20 s instead of the schedule's 5 minutes: the
same loop in a few minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crisiscomms.stack.server import Stack, saved_stack
from tests.backends import new_database, on_postgres

from .conftest import TEST_ENV, copy_project, free_port
from .helpers import ResubmitUnavailable, deployment, tail, task_runs

pytestmark = pytest.mark.server

PLAYBOOK = "rappel-produit"
PASS_EVERY = 20.0  # seconds between the test's monitoring passes
LOOP_SECONDS = 600.0  # from `crisis up` to the pack waiting for approval, at most


def _faster(root: Path) -> None:
    path = root / "playbooks" / f"{PLAYBOOK}.yaml"
    text = path.read_text(encoding="utf-8")
    faster = text.replace("replay_speed: 12", "replay_speed: 60").replace("window: 5m", "window: 1m\n    warmup: 1m")
    assert faster.count("replay_speed: 60") == 1 and faster.count("warmup: 1m") == 1, "the demo's source changed"
    path.write_text(faster, encoding="utf-8")


def _crisis(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CRISIS_"))} | TEST_ENV
    return subprocess.run([sys.executable, "-m", "crisiscomms.stack.cli", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, httpx.Client, str]]:
    root = copy_project(tmp_path_factory.mktemp("demo"))
    _faster(root)
    port = free_port()
    database = ["--postgres-url", new_database()] if on_postgres() else []  # as a team with its own server would
    try:
        started = _crisis(root, "up", "--port", str(port), *database)
        assert started.returncode == 0, started.stdout + started.stderr
        stack = saved_stack(root)
        assert stack is not None and stack.port == port
        user, _, password = (stack.credential() or "").partition(":")
        with httpx.Client(base_url=stack.api_url, timeout=90, transport=ResubmitUnavailable(),
                          auth=(user, password)) as api:
            yield stack, api, started.stdout + started.stderr
    finally:
        _crisis(root, "down")


def _runs(api: httpx.Client, flow: str) -> list[dict[str, Any]]:
    body = {"flows": {"name": {"any_": [flow]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 200}
    return api.post("/flow_runs/filter", json=body).json()


def _loop_until_pack_waits(stack: Stack, api: httpx.Client) -> dict[str, Any]:
    """Monitoring passes every PASS_EVERY seconds (the schedule paused) until a communication run waits."""
    monitor = deployment(api, "crisis-monitor", "monitor")["id"]
    assert api.post(f"/deployments/{monitor}/pause_deployment").status_code == 200
    deadline, next_pass = time.monotonic() + LOOP_SECONDS, 0.0
    while time.monotonic() < deadline:
        waiting = [r for r in _runs(api, "phase-communication") if r["state_type"] == "PAUSED"]
        if waiting:
            return waiting[0]
        busy = [r for r in _runs(api, "crisis-monitor") if r["state_type"] in {"PENDING", "RUNNING", "SCHEDULED"}]
        if time.monotonic() >= next_pass and not busy:
            created = api.post(f"/deployments/{monitor}/create_flow_run", json={"parameters": {"playbook": PLAYBOOK}})
            assert created.status_code == 201, created.text
            next_pass = time.monotonic() + PASS_EVERY
        time.sleep(2)
    raise AssertionError(f"no pack waiting for approval after {LOOP_SECONDS:.0f} s\n"
                         f"{tail(stack.state_dir / 'logs' / 'worker.log')}")


def test_crisis_up_replays_the_demo_crisis_into_monitoring_and_the_loop_runs_to_the_pack_awaiting_approval(
        demo: tuple[Stack, httpx.Client, str]) -> None:
    stack, api, said = demo
    assert "replays a recorded crisis" in said and "waits for approval" in said
    first = _runs(api, "crisis-monitor")
    assert first and first[0]["parameters"] == {"playbook": PLAYBOOK}  # `crisis up` started the first pass itself

    waiting = _loop_until_pack_waits(stack, api)

    # A later alert of the same crisis (a higher level) is assessed too, and starts no second communication.
    assessed = [r for r in _runs(api, "phase-assessment") if r["state_type"] == "COMPLETED"]
    assert assessed, [(r["name"], r["state_name"]) for r in _runs(api, "phase-assessment")]
    assert [r["id"] for r in _runs(api, "phase-communication")] == [waiting["id"]]
    alert = assessed[0]["parameters"]["alert"]
    assert alert["level"] in {"alert", "crisis"} and alert["volume"] > alert["baseline"]
    crisis_tags = {t for t in assessed[0]["tags"] if t.startswith("crisis:")}
    assert crisis_tags and crisis_tags <= set(waiting["tags"])  # the pack is the alert's crisis's
    assert waiting["parameters"]["crisis_id"] == crisis_tags.pop().removeprefix("crisis:")
    tasks = {t["name"]: t["state_name"] for t in task_runs(api, [assessed[0]["id"]])}
    assert tasks[f"{PLAYBOOK}:communicate"] == "Completed"

    reports = api.post("/artifacts/filter", json={"artifacts": {"key": {"any_": [f"{PLAYBOOK}-monitoring"]}},
                                                   "sort": "CREATED_DESC"}).json()
    rising = [r["data"] for r in reports if "| volume | **" in r["data"]]  # a row of the report's alert table
    assert rising and f"{alert['volume']} mentions in" in rising[-1], [r["data"] for r in reports]
    assert not list((stack.root / ".crisis" / "outbox").rglob("*.md"))  # nothing released before the approval
