"""Every drill the integration tests look at, run once per session (they are the slowest thing CI does): the
rehearsal of each shipped scenario (tests/rehearsals/), the demo's from the project's own stack through the
`crisis-drill/drill` deployment as a user starts it from the Run form, and a second drill of the demo whose legal
approver is slower. Live SMTP, webhook and Apprise receivers are configured for them all — the demo's playbook is
given webhook and Apprise channels — and must receive nothing."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from crisiscomms.stack.drills.score import score_file_in
from tests.rehearse import Rehearsal, drill_env, load, prepare, run_all
from tests.unit.receivers import HttpReceiver, SmtpReceiver

from .conftest import CHECKOUT, copy_project, running_stack
from .helpers import deployment

FILES = sorted((CHECKOUT / "tests" / "rehearsals").glob("*.yaml"))
JOBS = 3  # drills at once: each stack mostly waits on its worker's subprocesses
DEPLOYED = "rappel-produit"  # its rehearsal runs from the project's stack, through the Run form's deployment
SLOW = "rappel-produit-slow"  # the same drill, its legal approver slower by SLOWER minutes
SLOWER = 15
LEGAL = "Sophie Lefèvre"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
LAST = ["service-outage", "plainte-virale", "false-rumour"]  # started last, the shortest last (as measured)


@dataclass
class Drilled:
    root: Path
    by_name: dict[str, Rehearsal]  # each rehearsal by its playbook, and SLOW
    run: dict[str, Any]  # DEPLOYED's run, from the project's own stack's deployment
    artifacts: list[dict[str, Any]]  # that stack's artifacts keyed drill-rehearsal
    smtp: dict[str, int]
    hook: dict[str, int]

    def folder(self, name: str) -> Path:
        found = score_file_in(self.by_name[name].said)
        assert found is not None, self.by_name[name].said[-2000:]
        return found.parent

    def score(self, name: str) -> dict[str, Any]:
        return json.loads((self.folder(name) / "score.json").read_text(encoding="utf-8"))

    def post_mortem(self, name: str) -> dict[str, Any]:
        (path,) = (self.folder(name) / "project" / ".crisis" / "reviews").glob("*/post-mortem.json")
        return json.loads(path.read_text(encoding="utf-8"))


def drill_everything(root: Path) -> Drilled:
    """Every drill run and looked at; the receivers, the project stack and the environment they were given are gone
    when it returns (the rest of the session must not see them)."""
    copy_project(root)
    network_channels(root)
    rehearsals = {path.stem: load(path) for path in FILES}
    for rehearsal in rehearsals.values():
        prepare(rehearsal, root)
    rehearsals[SLOW] = _slower(rehearsals[DEPLOYED], root)
    deployed = rehearsals[DEPLOYED]
    shutil.copy(root / deployed.drill_file, root / "drills" / "rehearsal.yaml")  # the Run form offers drills/
    with SmtpReceiver() as smtp, HttpReceiver() as hook, pytest.MonkeyPatch.context() as patch:
        for key, value in {"CRISIS_SMTP_HOST": smtp.host, "CRISIS_SMTP_PORT": str(smtp.port),
                           "CRISIS_TEST_HOOK": f"{hook.url}/hook",
                           "CRISIS_TEST_APPRISE": f"json{hook.url.removeprefix('http')}/apprise"}.items():
            patch.setenv(key, value)  # the callers' environment, and the project stack's worker's
        with _stack(root) as api:
            run_id = _start(api, "crisis-drill", "drill", {"drill": "rehearsal"})
            deployed_done = _finished(api, run_id)
            others = sorted((r for r in rehearsals.values() if r is not deployed), key=_first)
            run_all(others, root, drill_env(), jobs=lambda: JOBS - (not deployed_done()))
            run = _final(api, run_id)
            deployed.said = "\n".join(_logs(api, run_id))
            deployed.code = 0 if run["state_type"] == "COMPLETED" else 1
            artifacts = api.post("/artifacts/filter", json={"artifacts": {"key": {"any_": ["drill-rehearsal"]}}}).json()
        return Drilled(root, rehearsals, run, artifacts, smtp.counts(), hook.counts())


def _first(rehearsal: Rehearsal) -> int:
    """SLOW starts at once, beside DEPLOYED's drill: two drills of one scenario at the same time. The others follow,
    the longest first (LAST the shortest): the session ends with several drills still sharing the machine, not one
    alone."""
    if rehearsal.name == SLOW:
        return -1
    return 1 + LAST.index(rehearsal.name) if rehearsal.name in LAST else 0


def _finished(api: httpx.Client, run_id: str) -> Callable[[], bool]:
    """Whether DEPLOYED's run has ended (then its place goes to another drill): asked once a second."""
    ended = False

    def finished() -> bool:
        nonlocal ended
        ended = ended or api.get(f"/flow_runs/{run_id}").json()["state_type"] in FINAL
        return ended

    return finished


def network_channels(root: Path) -> None:
    """The demo's internal memo also goes out by webhook and Apprise: live channels a drill must not touch."""
    path = root / "playbooks" / "rappel-produit.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["channels"]["alerte_equipes"] = {"kind": "webhook", "url_env": "CRISIS_TEST_HOOK", "audiences": ["salaries"]}
    data["channels"]["mattermost"] = {"kind": "apprise", "url_env": "CRISIS_TEST_APPRISE", "audiences": ["salaries"]}
    data["communication"]["messages"].append(
        {"kind": "internal_memo", "audiences": ["salaries"], "channels": ["alerte_equipes", "mattermost"]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _slower(base: Rehearsal, root: Path) -> Rehearsal:
    """The demo's rehearsal drill with its legal approver SLOWER minutes slower (same replay)."""
    spec = yaml.safe_load((root / base.drill_file).read_text(encoding="utf-8"))
    after = spec["approvers"][LEGAL]["after"]
    assert after.endswith("m"), after
    spec["approvers"][LEGAL]["after"] = f"{int(after[:-1]) + SLOWER}m"
    path = root / ".crisis" / "rehearsals" / SLOW / "drill.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return Rehearsal(SLOW, base.source, {**base.data, "expect": {}}, drill_file=str(path.relative_to(root)))


@contextmanager
def _stack(root: Path) -> Iterator[httpx.Client]:
    """The project's own stack (as `crisis up` starts it), its demo watch paused."""
    with running_stack(root) as (_, api):
        monitor = deployment(api, "crisis-monitor", "monitor")["id"]  # the demo's watch: not for this
        assert api.post(f"/deployments/{monitor}/pause_deployment").status_code == 200
        yield api


def _start(api: httpx.Client, flow: str, name: str, parameters: dict[str, Any]) -> str:
    found = deployment(api, flow, name)
    created = api.post(f"/deployments/{found['id']}/create_flow_run", json={"parameters": parameters})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _final(api: httpx.Client, run_id: str, limit: float = 1800.0) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while (run := api.get(f"/flow_runs/{run_id}").json())["state_type"] not in FINAL:
        assert time.monotonic() < deadline, f"the drill's run is still {run['state_type']}"
        time.sleep(2)
    return run


def _logs(api: httpx.Client, run_id: str) -> list[str]:
    found: list[str] = []
    while True:
        page = api.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC",
                                              "limit": 200, "offset": len(found)}).json()
        found += [entry["message"] for entry in page]
        if len(page) < 200:
            return found
