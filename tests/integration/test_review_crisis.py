"""A whole crisis on a real local stack, then its review, with the product's clock under the script's control.

Monitoring replays a scripted rise → its alert opens the crisis and the automation runs the assessment → the
communication phase (pack, two approval stages, release) → an update → a correction → the all-clear, whose release
closes the crisis and starts the review on its own → the team answers the review questions. Every figure of the
post-mortem is then the value the script fixed (tests/integration/crisis_script.py), the timeline holds every
milestone in order, and the evidence pack verifies.

The stack is this module's own (a copy of the project whose demo playbook reads the script's mentions, with a
two-stage chain and deadlines far enough to never fire), its processes reading "now" from CRISIS_CLOCK_FILE.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crisiscomms import clock
from crisiscomms.communication import signing
from crisiscomms.review import crises, evidence
from crisiscomms.review.model import PostMortem
from crisiscomms.stack.server import Stack

from . import crisis_script
from .conftest import copy_project, running_stack
from .helpers import deployment, tail, wait_final

PLAYBOOK = "rappel-produit"
LEGAL, COMMS = "Sophie Lefèvre", "Claire Martin"


@dataclass
class CrisisStack:
    stack: Stack
    api: httpx.Client
    clock_file: Path
    script: crisis_script.Script
    data: Path

    @property
    def log(self) -> Path:
        return self.stack.state_dir / "logs" / "worker.log"

    def at(self, moment: datetime) -> None:
        clock.set_time(self.clock_file, moment)


def _prepare(root: Path, script: crisis_script.Script) -> Path:
    """The demo playbook on the script's mentions (no replay, no communication started on an alert); two stages
    whatever the priority; deadlines a week away (the script's times lie two days back: a deadline run must not
    answer for anyone); no scheduled monitoring."""
    data = root / "data" / "script.jsonl"
    crisis_script.write(data, script.mentions(until=script.t0))
    playbook = root / "playbooks" / f"{PLAYBOOK}.yaml"
    text = playbook.read_text(encoding="utf-8")
    source = "      path: data/drills/rappel-produit.jsonl\n      replay_speed: 12\n"
    assert source in text and "  communicate_on_alert: p2\n" in text, "the demo's source changed: update this test"
    # the script's own mentions, read as they are; the script's team starts each communication itself
    text = text.replace(source, "      path: data/script.jsonl\n").replace("  communicate_on_alert: p2\n", "")
    # the script's calm runs at 36 mentions an hour: what this playbook's team would write as its usual volume
    text = text.replace("    window: 5m\n", "    window: 5m\n    usual_volume: 36\n", 1)
    chains = re.compile(r"  approval:\n    chains:\n.*?\n  pause_poll", re.S)
    text = chains.sub("  approval:\n    default:\n"
                      "      - {roles: [juridique], timeout: 7d}\n"
                      "      - {roles: [direction_communication], timeout: 7d}\n  pause_poll", text)
    playbook.write_text(text, encoding="utf-8")
    flows = root / "prefect.yaml"
    flows.write_text(flows.read_text(encoding="utf-8").replace("      - interval: 300\n        active: true",
                                                               "      - interval: 300\n        active: false"),
                     encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def crisis_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrisisStack]:
    root = copy_project(tmp_path_factory.mktemp("crisis-review"))
    script = crisis_script.Script(crisis_script.start_of_script(datetime.now(UTC)))
    data = _prepare(root, script)
    clock_file = root / "clock.txt"
    clock.set_time(clock_file, script.first_pass)
    env = {clock.CLOCK_FILE: str(clock_file), "CRISIS_STATE_DIR": str(root / ".crisis")}
    with running_stack(root, env) as (stack, api):
        yield CrisisStack(stack, api, clock_file, script, data)


# --- driving the stack ------------------------------------------------------------------------------------------

def _start(cs: CrisisStack, flow: str, name: str, parameters: dict[str, Any]) -> str:
    created = cs.api.post(f"/deployments/{deployment(cs.api, flow, name)['id']}/create_flow_run",
                          json={"parameters": parameters, "state": {"type": "SCHEDULED"}})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _runs_of(cs: CrisisStack, crisis_id: str) -> list[dict[str, Any]]:
    body = {"flow_runs": {"tags": {"all_": [crises.tag(crisis_id)]}}, "sort": "EXPECTED_START_TIME_ASC"}
    return list(cs.api.post("/flow_runs/filter", json=body).json())


def _settled(cs: CrisisStack, crisis_id: str, wait: float = 240.0) -> list[dict[str, Any]]:
    """Every run of the crisis once none is scheduled, pending or running (reminders and assessments included)."""
    deadline = time.monotonic() + wait
    while True:
        runs = _runs_of(cs, crisis_id)
        busy = [r["name"] for r in runs if r["state_type"] in {"PENDING", "RUNNING"}
                or (r["state_type"] == "SCHEDULED" and _due(r))]
        if not busy:
            return runs
        assert time.monotonic() < deadline, f"still busy: {busy}\n{tail(cs.log)}"
        time.sleep(1)


def _appears(cs: CrisisStack, crisis_id: str, name: str, wait: float = 90.0) -> None:
    deadline = time.monotonic() + wait
    while not any(r["name"] == name for r in _runs_of(cs, crisis_id)):
        assert time.monotonic() < deadline, f"no run {name} in the crisis\n{tail(cs.log)}"
        time.sleep(1)


def _due(run: dict[str, Any]) -> bool:
    """A scheduled run that will start soon (not a deadline a week away)."""
    expected = datetime.fromisoformat(run["expected_start_time"].replace("Z", "+00:00"))
    return expected < datetime.now(UTC) + timedelta(minutes=5)


def _paused_at(cs: CrisisStack, run_id: str, key: str, wait: float = 400.0) -> None:
    deadline = time.monotonic() + wait
    while True:
        run = cs.api.get(f"/flow_runs/{run_id}").json()
        details = run["state"]["state_details"]
        if run["state_type"] == "PAUSED" and details.get("pause_key") == key and _form_saved(cs, run_id, details):
            return
        assert run["state_type"] not in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}, (
            f"{run['name']} ended {run['state_name']} before pausing at {key}: {run['state'].get('message')}\n"
            f"{tail(cs.log)}")
        assert time.monotonic() < deadline, f"{run['name']} never paused at {key}\n{tail(cs.log)}"
        time.sleep(0.5)


def _form_saved(cs: CrisisStack, run_id: str, details: dict[str, Any]) -> bool:
    """Prefect pauses the run first and saves the form's schema just after: a resume before it is refused."""
    schema = (details.get("run_input_keyset") or {}).get("schema")
    return bool(schema) and cs.api.get(f"/flow_runs/{run_id}/input/{schema}").status_code == 200


def _answer(cs: CrisisStack, run_id: str, key: str, at: datetime, run_input: dict[str, Any]) -> None:
    _paused_at(cs, run_id, key)
    cs.at(at)
    resumed = cs.api.post(f"/flow_runs/{run_id}/resume", json={"run_input": run_input})
    assert resumed.status_code in (200, 201) and resumed.json().get("status") == "ACCEPT", resumed.text


def _approve(name: str) -> dict[str, str]:
    return {"decision": "approve", "name": name, "comment": "", "edits": "", "link_receipt": ""}


def _communicate(cs: CrisisStack, crisis_id: str, step: str, times: tuple[datetime, datetime, datetime],
                 **inputs: Any) -> str:
    """A communication run started as the UI does: its pack at times[0], legal approves at times[1], then
    communications at times[2] (the release)."""
    cs.at(times[0])
    run_id = _start(cs, "phase-communication", "communication", {
        "playbook": PLAYBOOK, "crisis_id": crisis_id,
        "inputs": {"exercice": False, "soumettre": True, **inputs}})
    key = step.replace("_", "-")  # a pause key is lowercase letters, digits and dashes
    _answer(cs, run_id, f"{key}-0", times[1], _approve(LEGAL))
    _answer(cs, run_id, f"{key}-1", times[2], _approve(COMMS))
    done = wait_final(cs.api, run_id, cs.log, 240)
    assert done["state_type"] == "COMPLETED", f"{done['state_name']}: {done['state'].get('message')}\n{tail(cs.log)}"
    _settled(cs, crisis_id)  # the reminder the release scheduled has read the clock before it moves on
    return run_id


# --- the crisis ------------------------------------------------------------------------------------------------

ACTIONS = "Raccourcir la validation juridique ; Sophie Lefèvre ; 2027-01-15\n" \
          "Tenir la FAQ prête | Claire Martin | 2027-02-01"


@pytest.fixture(scope="module")
def reviewed(crisis_stack: CrisisStack) -> tuple[str, PostMortem]:
    cs, s = crisis_stack, crisis_stack.script
    monitor = _start(cs, "crisis-monitor", "monitor", {"playbook": PLAYBOOK})  # clock at s.first_pass
    assert wait_final(cs.api, monitor, cs.log, 240)["state_type"] == "COMPLETED", tail(cs.log)
    opened = crises.under_way(cs.stack.root, PLAYBOOK)
    assert opened is not None and opened.opened_by == "monitoring", tail(cs.log)
    _appears(cs, opened.id, f"{PLAYBOOK}/assessment")  # the automation (≈ 7 s after the alert's event)
    time.sleep(15)  # every alert of the pass has had time to start its assessment
    _settled(cs, opened.id)
    _communicate(cs, opened.id, "validation", (s.pack, s.stage_1, s.stage_2))
    _communicate(cs, opened.id, "validation", (s.update, s.update_1, s.update_2))
    _communicate(cs, opened.id, "validation_correction", (s.correction, s.correction_1, s.correction_2),
                 rumeur="toute_la_production")
    # The crisis since the first pass, up to the second (monitoring takes no mention from its future).
    crisis_script.write(cs.data, s.mentions(since=s.t0, until=s.second_pass), append=True)
    cs.at(s.second_pass)
    monitor = _start(cs, "crisis-monitor", "monitor", {"playbook": PLAYBOOK})
    assert wait_final(cs.api, monitor, cs.log, 240)["state_type"] == "COMPLETED", tail(cs.log)
    _settled(cs, opened.id)
    _communicate(cs, opened.id, "validation_fin", (s.all_clear, s.all_clear_1, s.all_clear_2), fin_de_crise=True)
    _appears(cs, opened.id, f"{PLAYBOOK}/post_crisis")  # started by the all-clear's release
    review = next(r for r in _runs_of(cs, opened.id) if r["name"] == f"{PLAYBOOK}/post_crisis")
    _answer(cs, review["id"], "lessons-retour-experience-0", s.lessons, {
        "answered_by": COMMS, "q1": "La veille a vu la hausse tôt.", "q2": "Le juridique a attendu le pack.",
        "q3": "Oui", "q4": "Préparer la FAQ à l'avance.", "worked": "L'alerte et le pack.",
        "not_worked": "La correction est arrivée tard.", "actions": ACTIONS})
    done = wait_final(cs.api, review["id"], cs.log, 240)
    assert done["state_type"] == "COMPLETED", f"{done['state'].get('message')}\n{tail(cs.log)}"
    path = cs.stack.root / ".crisis" / "reviews" / opened.id / "post-mortem.json"
    return opened.id, PostMortem.model_validate_json(path.read_text(encoding="utf-8"))


def _value(pm: PostMortem, key: str) -> Any:
    figure = pm.figure(key)
    assert figure.missing is None, f"{key}: {figure.missing}"
    return figure.value


def test_every_figure_of_the_review_is_the_value_the_script_fixed(reviewed: tuple[str, PostMortem],
                                                                   crisis_stack: CrisisStack) -> None:
    _, pm = reviewed
    s, minutes = crisis_stack.script, 60
    assert not pm.provisional and not pm.crisis.drill and pm.crisis.closed_at == s.all_clear_2
    assert _value(pm, "time_to_detect") == (s.first_pass - s.onset).total_seconds() == 35 * minutes
    assert _value(pm, "time_to_first_statement") == (s.stage_2 - s.first_pass).total_seconds() == 25 * minutes
    assert _value(pm, "pack_to_release") == (s.stage_2 - s.pack).total_seconds() == 20 * minutes
    assert _value(pm, "duration") == (s.all_clear_2 - s.first_pass).total_seconds()
    waits = {f.key: f.value for f in pm.figures if f.key.startswith("approval_wait.")}
    assert waits == {"approval_wait.p1.s1.sophie_lefevre": 12 * minutes, "approval_wait.p1.s2.claire_martin": 8 * minutes,
                     "approval_wait.p2.s1.sophie_lefevre": 6 * minutes, "approval_wait.p2.s2.claire_martin": 9 * minutes,
                     "approval_wait.p3.s1.sophie_lefevre": 6 * minutes, "approval_wait.p3.s2.claire_martin": 4 * minutes,
                     "approval_wait.p4.s1.sophie_lefevre": 5 * minutes, "approval_wait.p4.s2.claire_martin": 7 * minutes}
    # Promises: the first release's (2 h) kept by the update, the update's by the correction, the correction's
    # kept late by the all-clear, which promises nothing more.
    assert {k: _value(pm, f"updates_{k}") for k in ("on_time", "late", "missed", "open")} == {
        "on_time": 2, "late": 1, "missed": 0, "open": 0}
    assert _value(pm, "updates_promised") == 3
    assert _value(pm, "effort.juridique") == round(29 / 60, 3) and _value(pm, "effort.direction_communication") == \
        round(28 / 60, 3)
    assert _value(pm, "cost_total") == round(29 / 60 * 120 + 28 / 60 * 95, 2)
    assert _value(pm, "sentiment_return") == (s.sentiment_back - s.first_pass).total_seconds()
    assert _value(pm, "claim.toute_la_production.before") == 7 and _value(pm, "claim.toute_la_production.since") == 3
    failed = [m for m in pm.sent if m.status == "failed"]
    assert failed and all(m.channel == "email_partenaires" for m in failed)  # no SMTP server here: refused, once
    assert _value(pm, "sends_failed") == len(failed) and _value(pm, "sends_in_doubt") == 0
    assert _value(pm, "messages_sent") == sum(m.status == "sent" for m in pm.sent) > 0
    assert pm.lessons is not None and [a.owner for a in pm.lessons.actions] == [LEGAL, COMMS]


def test_the_timeline_holds_every_milestone_in_order(reviewed: tuple[str, PostMortem],
                                                     crisis_stack: CrisisStack) -> None:
    _, pm = reviewed
    s = crisis_stack.script
    times = [e.at for e in pm.timeline]
    assert times == sorted(times)
    first = {}
    for event in pm.timeline:
        first.setdefault(event.kind, event.at)
    assert [k for k in ("signal", "alert", "assessment", "pack", "approval_requested", "approval_decision",
                        "approval_outcome", "release", "update_due", "claim", "correction", "all_clear", "lessons")
            if k not in first] == []
    assert first["signal"] == s.onset and first["alert"] == s.first_pass
    assert first["signal"] < first["alert"] <= first["assessment"] <= first["pack"] < first["release"] \
        < first["correction"] < first["all_clear"] < first["lessons"]
    releases = sorted({e.at for e in pm.timeline if e.kind == "release"})
    assert releases == [s.stage_2, s.update_2, s.correction_2, s.all_clear_2]
    decisions = [e.at for e in pm.timeline if e.kind == "approval_decision"]
    assert decisions == [s.stage_1, s.stage_2, s.update_1, s.update_2, s.correction_1, s.correction_2,
                         s.all_clear_1, s.all_clear_2]
    kinds = {m.kind for m in pm.markers}
    assert kinds == {"alert", "statement", "update", "correction", "all_clear"}


def test_every_run_of_the_crisis_carries_its_id_and_the_evidence_pack_verifies(
        reviewed: tuple[str, PostMortem], crisis_stack: CrisisStack) -> None:
    crisis_id, pm = reviewed
    names = {r["name"] for r in _runs_of(crisis_stack, crisis_id)}
    assert {f"{PLAYBOOK}/monitor", f"{PLAYBOOK}/assessment", f"{PLAYBOOK}/communication",
            f"{PLAYBOOK}/post_crisis"} <= names
    assert any(n.startswith(f"{PLAYBOOK}/promise-") for n in names)  # the reminders of the crisis's promises
    assert {r.name for r in pm.runs} == names
    folder = crisis_stack.stack.root / ".crisis" / "reviews" / crisis_id
    archives = sorted(folder.glob("evidence-*.zip"))
    checked = evidence.verify(archives[-1], signing.load_key(crisis_stack.stack.root / ".crisis"))
    assert checked.ok, checked.lines()
    with zipfile.ZipFile(archives[-1]) as archive:  # what people typed in the forms, as the server kept it
        submitted = json.loads(archive.read("approvals/forms-as-submitted.json"))
    names = [answer["value"].get("name") for answers in submitted.values() for answer in answers]
    assert names.count(LEGAL) == 4 and names.count(COMMS) == 4
    assert (folder / "post-mortem.html").read_text(encoding="utf-8").count("<svg") >= 2
    assert json.loads((folder / "post-mortem.json").read_text(encoding="utf-8"))["lessons"]["answered_by"] == COMMS
    # Its actions wait for the next preparation run.
    assert [a.what for _, a in crises.open_actions(crisis_stack.stack.root, PLAYBOOK)] == [
        "Raccourcir la validation juridique", "Tenir la FAQ prête"]
