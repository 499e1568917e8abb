"""One plan per run: a run reads and checks its playbook once, and a release refuses to go on with a playbook file
that changed since the run started — naming both hashes, sending nothing."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run

from crisiscomms.playbook import inspect as inspection
from crisiscomms.playbook import loader
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.steps import CallRecord
from flows.engine import RunHistory, walk_phase
from flows.playbook import run_playbook
from tests.flows.test_approval import _paused_run, _wait_until_not_paused

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> tuple[Counter[str], Counter[str]]:
    """How many times each playbook file is parsed, and each playbook inspected."""
    loads: Counter[str] = Counter()
    inspections: Counter[str] = Counter()
    load, inspect = loader.load_playbook, inspection.inspect_playbook

    def counting_load(path: Path, display: str | None = None) -> LoadedPlaybook:
        loads[path.stem] += 1
        return load(path, display)

    def counting_inspect(loaded: LoadedPlaybook, catalog: Any) -> Any:
        inspections[loaded.playbook.id] += 1
        return inspect(loaded, catalog)

    monkeypatch.setattr(loader, "load_playbook", counting_load)
    monkeypatch.setattr(inspection, "inspect_playbook", counting_inspect)
    return loads, inspections


def test_a_run_reads_and_checks_its_playbook_and_its_callee_once(
        counted: tuple[Counter[str], Counter[str]]) -> None:
    loads, inspections = counted
    history = run_playbook(playbook="rappel-produit", inputs={"soumettre": False})
    assert history.status("cellule") == "completed"  # the demo calls cellule-de-crise
    assert dict(loads) == {"rappel-produit": 1, "cellule-de-crise": 1}
    assert dict(inspections) == {"rappel-produit": 1, "cellule-de-crise": 1}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    shutil.copytree(FIXTURES, root)
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))
    return root


@flow
def _communication(root: str) -> RunHistory:
    return walk_phase(root, "message-approve", "communication", {}, RunHistory())


def test_a_playbook_edited_while_its_pack_waits_for_approval_is_not_released(project: Path, tmp_path: Path) -> None:
    playbook = project / "playbooks" / "message-approve.yaml"
    started = hashlib.sha256(playbook.read_bytes()).hexdigest()
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(state=_communication(str(project), return_state=True)))
    thread.start()
    for name in ("Sophie Lefèvre", "Claire Martin"):
        _answer(name)
    # Someone edits the playbook (another channel title) while the last approver reads the pack.
    playbook.write_text(playbook.read_text(encoding="utf-8").replace("title: Site web", "title: Autre site"),
                        encoding="utf-8")
    edited = hashlib.sha256(playbook.read_bytes()).hexdigest()
    _answer("Julien Roche")
    thread.join(timeout=120)
    state = outcome["state"]
    assert state.is_failed()
    with pytest.raises(Exception, match="release") as refused:
        state.result()
    assert started in str(refused.value) and edited in str(refused.value)
    assert not list((tmp_path / "state").rglob("outbox/**/*.json"))  # nothing sent, not even to the file channel


def _answer(name: str) -> None:
    run_id = _paused_run(timeout=60)
    resume_flow_run(run_id, run_input={"decision": "approve", "name": name, "comment": "", "edits": "",
                                       "link_receipt": ""})
    _wait_until_not_paused(run_id)



@flow
def _preparation(root: str) -> RunHistory:
    return walk_phase(root, "playbook-call", "preparation", {"marque": "Marque Y"}, RunHistory())


@flow
def _preparation_twice(root: str, edit: str) -> tuple[RunHistory, RunHistory]:
    """The same run walks the call twice, reading the playbooks afresh the second time: what a run suspended for
    an approval does when it resumes from the top."""
    first = walk_phase(root, "playbook-call", "preparation", {"marque": "Marque Y"}, RunHistory())
    callee = Path(root) / "playbooks" / "checklist-item.yaml"
    callee.write_text(callee.read_text(encoding="utf-8").replace("Léa Petit", edit), encoding="utf-8")
    return first, walk_phase(root, "playbook-call", "preparation", {"marque": "Marque Y"}, RunHistory())


def _latest_artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        found = sorted((a for a in client.read_artifacts() if a.key == key), key=lambda a: a.created)
    return str(found[-1].data)


def test_a_callee_edited_while_the_run_waits_is_not_run_when_the_run_resumes(project: Path) -> None:
    callee = project / "playbooks" / "checklist-item.yaml"
    before = hashlib.sha256(callee.read_bytes()).hexdigest()
    state = _preparation_twice(str(project), "Léo Petit", return_state=True)
    assert state.is_failed()  # the second walk's call step stops the run (on_failure: stop)
    after = hashlib.sha256(callee.read_bytes()).hexdigest()
    table = _latest_artifact("playbook-call-preparation")
    assert "changed while this run was waiting" in table and before in table and after in table


def test_inputs_a_callee_refuses_fail_the_call_step_by_its_on_failure(project: Path) -> None:
    callee = project / "playbooks" / "checklist-item.yaml"
    callee.write_text(callee.read_text(encoding="utf-8").replace(
        "  marque: {default: Marque X}", "  marque: {default: Marque X}\n  nombre: {type: integer, default: 1}"),
        encoding="utf-8")
    caller = project / "playbooks" / "playbook-call.yaml"
    caller.write_text(caller.read_text(encoding="utf-8").replace(
        'with: {marque: "{{ inputs.marque }}"}',
        'with: {marque: "{{ inputs.marque }}", nombre: "{{ inputs.marque }}"}\n        on_failure: continue'),
        encoding="utf-8")
    history = _preparation(str(project))
    assert history.status("appel") == "failed"  # and the run went on
    assert history.record("appel", CallRecord).status == "failed"
    assert "'Marque Y' is not of type integer" in _latest_artifact("playbook-call-preparation")
