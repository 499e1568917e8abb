"""bench/release_latency.py cannot rot: its core runs 3 release cycles (pause_poll 1 s) against the live server.

Only outcomes are asserted (cycles measured, messages delivered once, the run and its approvals on the server,
times in causal order); the latency figures themselves are the bench's business, never a test's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LiveStack

pytestmark = pytest.mark.server

BENCH = Path(__file__).resolve().parents[2] / "bench" / "release_latency.py"
RELEASES = 3


def test_three_release_cycles_are_approved_delivered_once_and_measured(live_stack: LiveStack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CRISIS_"))}
    env["PREFECT_API_AUTH_STRING"] = live_stack.stack.credential() or ""  # the stack is secured
    done = subprocess.run(
        [sys.executable, str(BENCH), "--api-url", live_stack.stack.api_url, "--releases", str(RELEASES),
         "--poll", "1"],
        cwd=BENCH.parents[1], env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "| (b) flow continues → every channel delivered |" in done.stdout

    # Every cycle sent one webhook and one e-mail, each received exactly once.
    assert (result["releases"], result["deliveries"], result["duplicates"]) == (RELEASES, 2 * RELEASES, 0)
    measures = result["measures"]
    assert all(m["n"] == RELEASES for m in measures.values()), measures
    # Causal order: the flow continues after the approver resumed it, and delivers after it continued.
    for key in ("a_resume_to_continue", "b_continue_to_first_delivery", "b_continue_to_delivered", "cycle"):
        assert measures[key]["min"] > 0, (key, measures[key])

    # The run and its approvals are on the live server: completed, one stored approving answer per pause.
    run_id = result["flow_run_id"]
    run = live_stack.api.get(f"/flow_runs/{run_id}").json()
    assert run["state_type"] == "COMPLETED", run["state"]
    answers = live_stack.api.post(f"/flow_runs/{run_id}/input/filter",
                                  json={"prefix": "paused-", "limit": 50}).json()
    responses = [json.loads(a["value"]) for a in answers if a["key"].endswith("-response")]
    assert len(responses) == RELEASES
    assert all(r["decision"] == "approve" and r["name"] == "Bench Approver" for r in responses), responses
