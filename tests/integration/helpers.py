"""Small helpers for the integration tests: the Prefect REST API through httpx, and process checks."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class ResubmitUnavailable(httpx.HTTPTransport):
    """Sends a request again when the server answers 503, as Prefect's own client does.

    On SQLite a 503 is the server giving up on a database lock and rolling back: nothing was done, and the same
    request is safe to send again. Under CI load (a worker, flow runs and the scheduler writing to the same file)
    any call can meet one; a person at the UI would press the button again.
    """

    DELAYS = (1.0, 2.0, 4.0, 8.0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for delay in self.DELAYS:
            response = super().handle_request(request)
            if response.status_code != 503:
                return response
            response.read()
            response.close()
            time.sleep(delay)
        return super().handle_request(request)


def ui_run(api: httpx.Client, deployment_id: str, parameters: dict[str, Any],
           validate: bool | None = None) -> httpx.Response:
    """Create a flow run of a deployment with the request the Prefect UI's Run form sends.

    The form also sends its "Validate parameters" toggle (which starts at the deployment's
    enforce_parameter_schema) when given; without it the deployment's own setting applies.
    """
    body: dict[str, Any] = {"state": {"type": "SCHEDULED", "message": "Run from the Prefect UI"},
                            "parameters": parameters}
    if validate is not None:
        body["enforce_parameter_schema"] = validate
    return api.post(f"/deployments/{deployment_id}/create_flow_run", json=body)


def ui_retry(api: httpx.Client, run_id: str) -> None:
    """Retry a run that crashed or failed with the request the Prefect UI's Retry button sends: not forced, so the
    server's rules apply (leaving a terminal state, it clears the run's pause keys)."""
    retried = api.post(f"/flow_runs/{run_id}/set_state", json={"state": {
        "type": "SCHEDULED", "name": "AwaitingRetry", "message": "Retry from the UI"}, "force": False})
    assert retried.status_code in (200, 201) and retried.json()["status"] == "ACCEPT", retried.text


def table_rows(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a table artifact, whether the API gives its data as JSON text or already parsed."""
    data = artifact["data"]
    return json.loads(data) if isinstance(data, str) else data


def deployment(api: httpx.Client, flow_name: str, deployment_name: str) -> dict[str, Any]:
    response = api.get(f"/deployments/name/{flow_name}/{deployment_name}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_final(api: httpx.Client, run_id: str, log: Path, timeout: float = 120.0) -> dict[str, Any]:
    """Poll a flow run until it reaches a final state; fail with the worker's log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/flow_runs/{run_id}").json()
        if run["state_type"] in FINAL_STATES:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"flow run {run['name']} still {run['state_type']} after {timeout:.0f} s\n"
                                 f"{tail(log)}")
        time.sleep(0.5)


def child_runs(api: httpx.Client, parent_id: str) -> list[dict[str, Any]]:
    """The sub-flow runs started directly by a flow run (not the ones nested deeper)."""
    body = {"flow_runs": {"parent_flow_run_id": {"operator": "and_", "any_": [parent_id]}},
            "sort": "START_TIME_ASC"}
    response = api.post("/flow_runs/filter", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def task_runs(api: httpx.Client, flow_run_ids: list[str], settle: float = 30.0,
              expect: frozenset[str] | set[str] = frozenset()) -> list[dict[str, Any]]:
    """Task runs of these flow runs, once their states have settled (and the `expect`ed names are there).

    The server records task runs and their states from events, asynchronously: right after a flow run is COMPLETED
    its last task run can still read Running for a moment, or not be recorded yet at all.
    """
    body = {"flow_runs": {"id": {"any_": flow_run_ids}}, "sort": "EXPECTED_START_TIME_ASC"}
    deadline = time.monotonic() + settle
    seen: set[str] | None = None
    while True:
        response = api.post("/task_runs/filter", json=body)
        assert response.status_code == 200, response.text
        runs = response.json()
        settled = all(r["state_type"] not in {"RUNNING", "PENDING", "SCHEDULED"} for r in runs)
        ids = {r["id"] for r in runs}
        if settled and ids == seen and expect <= {r["name"] for r in runs}:  # the same runs twice in a row
            return runs
        seen = ids
        if time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def run_ids_of(api: httpx.Client, deployment_id: str) -> set[str]:
    body = {"deployments": {"id": {"any_": [deployment_id]}}}
    response = api.post("/flow_runs/filter", json=body)
    assert response.status_code == 200, response.text
    return {run["id"] for run in response.json()}


def tail(log: Path, chars: int = 4000) -> str:
    return f"--- {log} (tail) ---\n{log.read_text(errors='replace')[-chars:]}" if log.exists() else ""


def is_running(pid: int) -> bool:
    """True if the process exists and is not a zombie (exited, waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def environments() -> Iterator[tuple[int, set[bytes]]]:
    """(pid, environment entries `NAME=value`) of every other process this one may read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            yield int(entry.name), set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue


def processes_using(prefect_home: Path) -> list[str]:
    """Live processes whose environment points PREFECT_HOME at this stack (server, worker, flow runs)."""
    marker = f"PREFECT_HOME={prefect_home}".encode()
    found = []
    for pid, environ in environments():
        if marker not in environ or not is_running(pid):
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append(f"{pid}: {command}")
    return found


def flow_run_processes(run_ids: set[str]) -> dict[int, str]:
    """pid → flow run id of the processes running these flow runs (their PREFECT__FLOW_RUN_ID)."""
    wanted = {f"PREFECT__FLOW_RUN_ID={run_id}".encode(): run_id for run_id in run_ids}
    return {pid: wanted[item] for pid, environ in environments() for item in environ & wanted.keys()}


def reap(pid: int) -> None:
    """Collect an exited child of this process, so that it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
