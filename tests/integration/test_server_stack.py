"""The local stack end to end: deployments registered by `crisis up`, runs started the way the
Prefect UI starts them, picked up by the worker, checked by the server, stopped by `crisis down`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from .conftest import LiveStack
from .helpers import child_runs, deployment, run_ids_of, table_rows, tail, task_runs, ui_run, wait_final

pytestmark = pytest.mark.server

PLAYBOOK_IDS = sorted(path.stem for path in (Path(__file__).resolve().parents[2] / "playbooks").glob("*.yaml"))
PHASES = ["preparation", "assessment", "communication", "post_crisis"]


def _deployments_of_prefect_yaml(stack: LiveStack) -> list[tuple[str, str]]:
    """(flow name, deployment name) of every deployment in prefect.yaml."""
    config = yaml.safe_load((stack.root / "prefect.yaml").read_text(encoding="utf-8"))
    flows = {"flows/playbook.py:run_playbook": "crisis-playbook"}
    flows.update({f"flows/phases.py:{phase}": f"phase-{phase.replace('_', '-')}" for phase in PHASES})
    flows["flows/monitor.py:monitor"] = "crisis-monitor"
    flows["flows/updates.py:update_reminder"] = "update-reminder"
    flows["flows/killswitch.py:kill_switch"] = "kill-switch"
    flows["flows/deadline.py:approval_deadline"] = "approval-deadline"
    flows["flows/phases.py:assessment_on_alert"] = "phase-assessment"
    flows["flows/readiness.py:readiness"] = "crisis-readiness"
    flows["flows/drill.py:drill"] = "crisis-drill"
    flows["flows/burst.py:burst"] = "crisis-burst"
    flows.update({f"flows/forms.py:form_{pb.replace('-', '_')}": "crisis-playbook" for pb in PLAYBOOK_IDS})
    return [(flows[d["entrypoint"]], d["name"]) for d in config["deployments"]]


def test_deployments_are_registered_with_typed_enforced_parameters(live_stack: LiveStack) -> None:
    expected = _deployments_of_prefect_yaml(live_stack)
    # the shared playbook form, one form per playbook, 4 phases, the alert's assessment, monitor, update-reminder,
    # kill-switch, approval-deadline, the weekly readiness report, the drill and the burst
    assert len(expected) == 1 + len(PLAYBOOK_IDS) + 4 + 8
    for flow_name, name in expected:
        found = deployment(live_stack.api, flow_name, name)
        assert found["enforce_parameter_schema"] is True, name
        assert found["work_pool_name"] == "crisis-pool", name
        # No `pull:` in prefect.yaml: deploy records the project folder, where the worker runs flows.
        assert found["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(live_stack.root)}}
        ], name
        if name == "approval-deadline":  # scheduled by a stage for its own run: a run id and a stage id
            assert set(found["parameter_openapi_schema"]["required"]) == {"flow_run_id", "stage_id"}
            continue
        if name in PLAYBOOK_IDS or name == "drill":  # a playbook's own form, a drill's: no playbook to pick
            assert "playbook" not in found["parameter_openapi_schema"]["properties"], name
            continue
        scope = ["all"] if name == "kill-switch" else []  # the kill switch halts every playbook by default
        assert found["parameter_openapi_schema"]["properties"]["playbook"]["enum"] == scope + PLAYBOOK_IDS, name

    monitor = deployment(live_stack.api, "crisis-monitor", "monitor")
    assert monitor["parameters"] == {"playbook": "rappel-produit"}
    assert [s["schedule"]["interval"] for s in monitor["schedules"]] == [300.0]
    assert monitor["concurrency_limit"] == 1 or monitor.get("global_concurrency_limit")
    made = live_stack.monitor_runs  # the fixture paused the schedule once these were made
    assert made, "the server's scheduler made no run of the monitor"
    assert all(run["auto_scheduled"] and run["deployment_id"] == monitor["id"] for run in made), made

    schema = deployment(live_stack.api, "crisis-playbook", "playbook")["parameter_openapi_schema"]
    assert schema["required"] == ["playbook"]
    assert set(schema["properties"]) == {"playbook", "phase", "inputs", "crisis_id"}  # nothing internal (alert…)
    assert schema["properties"]["playbook"]["enum"] == PLAYBOOK_IDS


def test_the_drill_deployment_offers_each_drill_of_the_project_and_scripted_approvers_by_default(
        live_stack: LiveStack) -> None:
    schema = deployment(live_stack.api, "crisis-drill", "drill")["parameter_openapi_schema"]
    properties = schema["properties"]
    drills = sorted(p.stem for p in (live_stack.root / "drills").glob("*.yaml") if ".texts" not in p.name)
    assert "rappel-produit" in drills and schema["required"] == ["drill"]
    assert properties["drill"]["enum"] == drills
    assert (properties["people"]["default"], properties["speed"]["default"]) == (False, 60.0)


def test_each_playbook_has_its_own_run_form_with_its_inputs_and_their_defaults(live_stack: LiveStack) -> None:
    schema = deployment(live_stack.api, "crisis-playbook", "rappel-produit")["parameter_openapi_schema"]
    properties = schema["properties"]
    # in the order the UI shows them, by position (PostgreSQL keeps the schema as JSONB, which sorts its keys)
    assert sorted(properties, key=lambda name: properties[name]["position"]) == [
                                "phase", "marque", "produit", "incident", "gravite", "exercice", "mentions",
                                "soumettre", "redacteur", "rumeur", "verite", "fin_de_crise",
                                "crisis_id"]  # the playbook's order, then the crisis it joins; no internals
    assert schema.get("required", []) == []  # every input of the demo has a default: the form starts filled in
    assert properties["phase"]["enum"] == ["all", *PHASES] and properties["phase"]["default"] == "all"
    assert properties["gravite"]["enum"] == ["faible", "moyenne", "haute", "critique"]
    assert properties["gravite"]["default"] == "haute"
    assert (properties["exercice"]["type"], properties["exercice"]["default"]) == ("boolean", True)
    assert properties["marque"]["default"] == "Laiterie Duval"
    assert properties["gravite"]["description"].startswith("Gravité — ")
    assert all("anyOf" not in field for field in properties.values())  # no "Property is type 'None'"


def test_playbook_run_from_the_ui_form(live_stack: LiveStack) -> None:
    api = live_stack.api
    dep = deployment(api, "crisis-playbook", "rappel-produit")
    parameters = {"phase": "all", "gravite": "critique", "exercice": True, "soumettre": False}
    response = api.post(f"/deployments/{dep['id']}/create_flow_run", json={
        "state": {"type": "SCHEDULED", "message": "Run from the Prefect UI"}, "parameters": parameters,
        "name": "Crise yaourts Auvergne", "enforce_parameter_schema": True})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["parameters"] == parameters

    run = wait_final(api, created["id"], live_stack.worker_log)
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["name"] == "Crise yaourts Auvergne"  # the name typed in the form is kept
    assert {"crisiscomms", "playbook:rappel-produit", "playbook-version:1.0.0"} <= set(run["tags"])

    playbook_file = live_stack.root / "playbooks" / "rappel-produit.yaml"
    file_hash = hashlib.sha256(playbook_file.read_bytes()).hexdigest()
    labels = run["labels"]
    assert re.fullmatch(r"[0-9a-f]{64}", labels["crisis.playbook.sha256"])
    assert labels["crisis.playbook.sha256"] == file_hash
    # The playbook is untracked in the project copy (the checkout's copy is committed): this shows the
    # worker ran the flows and playbooks of the copy, from the deployment's working directory.
    assert labels["crisis.playbook.git"] == "unversioned"
    assert labels["crisis.playbook.id"] == "rappel-produit"
    assert labels["crisis.playbook.version"] == "1.0.0"
    assert labels["prefect.worker.name"] == "crisis-worker"
    assert run["flow_version"] == f"rappel-produit@1.0.0+sha256.{file_hash[:12]}"

    # The phases run in the run itself (an approval can then suspend it): their steps are its task runs, tagged
    # with their phase; so do the called playbook's steps (no sub-flow at all).
    assert child_runs(api, run["id"]) == []
    steps = {"cellule", "protocoles", "modeles", "brief", "faits", "parties_prenantes", "escalade",
             "synthese", "validation_juridique", "declaration", "reseaux", "memo_salaries",
             "retour_experience", "bilan", "mise_a_jour"}
    expected = {f"rappel-produit:{step}" for step in steps}
    tasks = {t["name"]: t for t in task_runs(api, [run["id"]], expect=expected)}
    assert {f"phase:{p}" for p in PHASES} == {tag for t in tasks.values() for tag in t["tags"] if tag.startswith(
        "phase:")}
    assert expected <= set(tasks)
    # gravite critique >= haute: the escalation runs (with the default, haute, it runs too; faible skips it)
    assert tasks["rappel-produit:escalade"]["state_name"] == "Completed"
    assert all(t["state_type"] == "COMPLETED" for t in tasks.values())
    called_steps = {"convocation", "salle", "journal"}
    assert {f"cellule-de-crise:{step}" for step in called_steps} <= set(tasks)
    assert "called-by:rappel-produit:cellule" in tasks["cellule-de-crise:journal"]["tags"]


@pytest.mark.parametrize(("parameters", "reason"), [
    pytest.param({"playbook": "inconnu"}, "field 'playbook'. Failure reason: 'inconnu' is not one of",
                 id="unknown-playbook"),
    pytest.param({"playbook": "rappel-produit", "inputs": {"gravite": "apocalyptique"}},
                 "field 'inputs.gravite'. Failure reason: 'apocalyptique' is not one of",
                 id="gravite-not-a-choice"),
    pytest.param({"playbook": "rappel-produit", "inputs": {"budget": 1000}},
                 "Failure reason: Additional properties are not allowed ('budget' was unexpected)",
                 id="unknown-input"),
    pytest.param({"playbook": "rappel-produit", "inputs": {"exercice": "peut-être"}},
                 "field 'inputs.exercice'. Failure reason: 'peut-être' is not valid",
                 id="exercice-not-boolean"),
    pytest.param({"playbook": "rappel-produit", "phase": "toutes"},
                 "field 'phase'. Failure reason: 'toutes' is not one of", id="unknown-phase"),
    pytest.param({}, "'playbook' is a required property", id="playbook-missing"),
])
def test_invalid_parameters_are_refused_by_the_server(live_stack: LiveStack, parameters: dict,
                                                      reason: str) -> None:
    api = live_stack.api
    dep = deployment(api, "crisis-playbook", "playbook")
    before = run_ids_of(api, dep["id"])
    # No "Validate parameters" override in the request: the deployment's enforcement refuses them.
    response = ui_run(api, dep["id"], {"phase": "all", **parameters})
    # Prefect 3.8.8 answers 409 Conflict when a run's parameters do not match an enforced schema.
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert detail.startswith("Error creating flow run: Validation failed"), detail
    assert reason in detail, detail
    assert run_ids_of(api, dep["id"]) == before


def test_phase_deployment_run_from_the_ui_form(live_stack: LiveStack) -> None:
    api = live_stack.api
    dep = deployment(api, "phase-assessment", "assessment")
    response = ui_run(api, dep["id"], {"playbook": "rappel-produit"})
    assert response.status_code == 201, response.text

    run = wait_final(api, response.json()["id"], live_stack.worker_log)
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["name"] == "rappel-produit/assessment"
    assert run["parent_task_run_id"] is None
    tasks = {t["name"]: t["state_name"] for t in task_runs(api, [run["id"]])}
    assert tasks == {"rappel-produit:provenance": "Completed",  # the playbook pinned for this run
                     "rappel-produit:crisis": "Completed",  # the run joined its crisis (tag crisis:<id>)
                     "rappel-produit:alerte": "Skipped",  # no monitoring alert started this run
                     "rappel-produit:assessment": "Completed", "rappel-produit:faits": "Completed", "rappel-produit:parties_prenantes": "Completed",
                     "rappel-produit:escalade": "Completed",  # the playbook's default gravite, haute
                     "rappel-produit:synthese": "Completed"}


def _artifacts(api: httpx.Client, flow_run_id: str) -> dict[str, dict[str, Any]]:
    response = api.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})
    assert response.status_code == 200, response.text
    return {a["key"]: a for a in response.json() if a["key"]}


def test_the_assessment_artifacts_are_read_back_from_the_server(live_stack: LiveStack) -> None:
    api = live_stack.api
    dep = deployment(api, "phase-assessment", "assessment")
    response = ui_run(api, dep["id"], {"playbook": "rappel-produit"})
    run = wait_final(api, response.json()["id"], live_stack.worker_log)
    assert run["state_type"] == "COMPLETED", run["state"]
    artifacts = _artifacts(api, run["id"])
    markdown = artifacts["rappel-produit-crisis-assessment"]
    assert markdown["type"] == "markdown"
    verdict = re.search(r"\*\*[🔴🟠🟡🟢] (P[1-4])\*\*", markdown["data"])
    assert verdict, markdown["data"][:500]
    for section in ("### Why this priority", "### Audiences", "### Entities", "### Most shared mentions"):
        assert section in markdown["data"]
    assert "Laiterie Duval" in markdown["data"]  # the brand, merged from its spellings, is a top entity
    table = artifacts["rappel-produit-crisis-assessment-audiences"]
    rows = table_rows(table)
    assert table["type"] == "table"
    assert {r["audience"] for r in rows} == {"journalistes", "autorites", "salaries", "distributeurs", "clients"}
    assert sum(r["mentions"] for r in rows) > 0
    for key in ("rappel-produit-crisis-assessment-timeline", "rappel-produit-crisis-assessment-audiences-chart"):
        image = artifacts[key]
        assert image["type"] == "image"
        header, payload = image["data"].split(",", 1)
        assert header == "data:image/svg+xml;base64"
        assert ET.fromstring(base64.b64decode(payload)).tag == "{http://www.w3.org/2000/svg}svg"
    result = api.get(f"/flow_runs/{run['id']}").json()
    assert result["state_type"] == "COMPLETED"
    priority = verdict.group(1).lower()
    tasks = {t["name"]: t for t in task_runs(api, [run["id"]])}
    assert tasks["rappel-produit:assessment"]["state_name"] == "Completed"
    assert f"priority {priority}" in _logged(api, run["id"], f"priority {priority}")


def _logged(api: httpx.Client, flow_run_id: str, needle: str, wait: float = 20.0) -> str:
    """The run's log messages joined, once `needle` shows (the worker ships logs in batches, after the run)."""
    deadline = time.monotonic() + wait
    while True:
        logs = api.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}}).json()
        text = "\n".join(log["message"] for log in logs)
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_cli_run_goes_to_the_local_server_when_it_is_up(live_stack: LiveStack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "crisis"), "run", "rappel-produit", "--phase", "post_crisis"],
        cwd=live_stack.root, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"local server {live_stack.stack.ui_url}" in done.stderr
    runs = live_stack.api.post("/flow_runs/filter", json={
        "flow_runs": {"name": {"any_": ["rappel-produit/post_crisis"]}, "deployment_id": {"is_null_": True}},
    }).json()
    assert any(r["state_type"] == "COMPLETED" and r["parent_task_run_id"] is None for r in runs)


def _emit_alert(live_stack: LiveStack, level: str) -> None:
    """Emit the event exactly as tasks/monitoring.py does, from another process, to the live server."""
    _emit(f"crisis.alert.{level}", {"prefect.resource.id": "crisiscomms.playbook.rappel-produit",
                                    "crisiscomms.playbook.id": "rappel-produit"},
          {"kind": "volume", "level": level, "window_start": "2026-03-12T08:00:00Z",
           "window_end": "2026-03-12T08:05:00Z", "volume": 240, "baseline": 12.0, "score": 9.5,
           "reason": "volume x20"}, live_stack)


def _emit(event: str, resource: dict[str, str], payload: dict[str, Any], live_stack: LiveStack) -> None:
    script = ("import json, sys; from prefect.events import emit_event; "
              "emit_event(event=sys.argv[1], resource=json.loads(sys.argv[2]), payload=json.loads(sys.argv[3]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_API_URL": live_stack.stack.api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_API_AUTH_STRING": live_stack.stack.credential() or ""})
    done = subprocess.run([sys.executable, "-c", script, event, json.dumps(resource), json.dumps(payload)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def _started_run(live_stack: LiveStack, deployment_id: str, before: set[str]) -> str:
    """The one run an automation started for a deployment (waits up to 90 s for it)."""
    deadline = time.monotonic() + 90
    new: set[str] = set()
    while time.monotonic() < deadline and not new:
        time.sleep(1)
        new = run_ids_of(live_stack.api, deployment_id) - before
    assert len(new) == 1, f"the automation did not start deployment {deployment_id}: {len(new)} new run(s)"
    return new.pop()


def test_a_crisis_alert_event_starts_the_assessment_phase_through_the_automation(live_stack: LiveStack) -> None:
    assessment = deployment(live_stack.api, "phase-assessment", "on-alert")
    before = run_ids_of(live_stack.api, assessment["id"])
    _emit_alert(live_stack, "crisis")
    run = wait_final(live_stack.api, _started_run(live_stack, assessment["id"], before), live_stack.worker_log)
    assert run["state_type"] == "COMPLETED"
    assert run["parameters"]["playbook"] == "rappel-produit"
    assert run["parameters"]["alert"]["level"] == "crisis" and run["parameters"]["alert"]["volume"] == 240
    names = {t["name"]: t for t in task_runs(live_stack.api, [run["id"]])}
    assert names["rappel-produit:alerte"]["state_name"] == "Completed"  # `when: alert.level >= alert` held


def test_a_spreading_claim_event_starts_the_correction_branch_through_the_automation(live_stack: LiveStack) -> None:
    communication = deployment(live_stack.api, "phase-communication", "communication")
    before = run_ids_of(live_stack.api, communication["id"])
    _emit("crisis.claim.spreading", {  # as tasks/monitoring.py emits it (resource of tasks.monitoring._claim_resource)
        "prefect.resource.id": "crisiscomms.playbook.rappel-produit.claim.toute_la_production",
        "crisiscomms.playbook.id": "rappel-produit", "crisiscomms.claim.id": "toute_la_production"},
        {"claim_id": "toute_la_production", "mentions": 3, "threshold": 2}, live_stack)
    run_id = _started_run(live_stack, communication["id"], before)
    run = live_stack.api.get(f"/flow_runs/{run_id}").json()
    # The event names no crisis (monitoring's own events do: `crisiscomms.crisis.id`): the run joins or opens one.
    assert run["parameters"] == {"playbook": "rappel-produit", "claim": "toute_la_production", "crisis_id": ""}
    deadline = time.monotonic() + 120  # the correction pack waits for its approval: nothing leaves before
    while run["state_type"] != "PAUSED" and run["state_type"] not in {"COMPLETED", "FAILED", "CRASHED"}:
        assert time.monotonic() < deadline, f"run still {run['state_type']}\n{tail(live_stack.worker_log)}"
        time.sleep(1)
        run = live_stack.api.get(f"/flow_runs/{run_id}").json()
    assert run["state_type"] == "PAUSED", run["state"]
    tasks = {t["name"]: t["state_name"] for t in task_runs(live_stack.api, [run_id], settle=0)}
    assert (tasks["rappel-produit:rumeur"], tasks["rappel-produit:correction"]) == ("Completed", "Completed")
    assert tasks["rappel-produit:messages"] == "Skipped"  # the usual pack is not made for a correction run
    # The chain depends on the stack's latest assessment: legal first (p1, p2) or communications (default).
    for name in ("Sophie Lefèvre", "Claire Martin"):
        answer = {"decision": "reject", "name": name, "comment": "test", "edits": "", "link_receipt": ""}
        if _answer(live_stack, run_id, answer) not in {None, "PAUSED"}:  # None: not offered at this stage
            break
    assert wait_final(live_stack.api, run_id, live_stack.worker_log)["state_type"] == "COMPLETED"


def _answer(live_stack: LiveStack, run_id: str, answer: dict[str, str]) -> str | None:
    """Resume a paused run with an answer; the state the flow settles in next (PAUSED again when refused), or None
    when the server refused the input (a name the stage's form does not offer)."""
    paused = live_stack.api.get(f"/flow_runs/{run_id}").json()["state"]["id"]
    resumed = live_stack.api.post(f"/flow_runs/{run_id}/resume", json={"run_input": answer})
    if resumed.json()["status"] == "REJECT":  # the name is not one the stage's form offers
        return None
    assert resumed.status_code == 201 and resumed.json()["status"] == "ACCEPT", resumed.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = live_stack.api.get(f"/flow_runs/{run_id}").json()
        if run["state"]["id"] != paused and run["state_type"] != "RUNNING":
            return str(run["state_type"])
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not settle after the answer\n{tail(live_stack.worker_log)}")


def test_a_watch_level_event_starts_nothing(live_stack: LiveStack) -> None:
    assessment = deployment(live_stack.api, "phase-assessment", "on-alert")
    before = run_ids_of(live_stack.api, assessment["id"])
    _emit_alert(live_stack, "watch")
    time.sleep(12)  # longer than the ~7 s the automation takes when it does fire
    assert run_ids_of(live_stack.api, assessment["id"]) == before
