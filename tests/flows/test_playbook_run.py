"""Real flow runs on the session's Prefect harness: the demo playbook, the audit trail, semantics."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterTags,
)

from crisiscomms.playbook.steps import AssessmentRecord, CallRecord, ChecklistRecord, NoteRecord, PackRecord
from flows.engine import RunHistory, StepFailed, walk_phase
from flows.phases import communication
from flows.playbook import run_playbook

ROOT = Path(__file__).resolve().parents[2]
ENGINE_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
DEMO_STEPS = {
    "cellule", "protocoles", "modeles", "brief", "assessment", "faits", "parties_prenantes", "escalade", "synthese",
    "messages", "validation_juridique", "declaration", "reseaux", "memo_salaries", "actions_ouvertes", "post_mortem",
    "bilan", "mise_a_jour",
}


CORRECTION_STEPS = ("rumeur", "correction", "validation_correction", "diffusion_correction", "suivi_rumeur")
ALL_CLEAR_STEPS = ("fin_alerte", "validation_fin", "diffusion_fin")


# The demo's pack waits for approval by default; these tests are about the phase walk, not the approval
# (tests/flows/test_approval.py and tests/integration/test_ui_approval.py answer it).
NO_APPROVAL = {"soumettre": False}


@pytest.fixture(scope="module")
def demo_run() -> tuple[Any, RunHistory]:
    state = run_playbook(playbook="rappel-produit", inputs=NO_APPROVAL, return_state=True)
    return state, state.result()


def _children(parent_id: Any) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id]))
        )


def _subflows_of(parent_id: Any) -> list[Any]:
    """Sub-flow runs hang off task runs of the parent in Prefect 3: walk parent task runs → flows."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["playbook:rappel-produit"])))
        task_runs = {t.id for t in client.read_task_runs() if t.flow_run_id == parent_id}
    return [r for r in runs if r.parent_task_run_id in task_runs]


def test_demo_playbook_runs_all_four_phases_green(demo_run: tuple[Any, RunHistory]) -> None:
    state, history = demo_run
    assert state.is_completed()
    assert history.statuses == {**dict.fromkeys(DEMO_STEPS, "completed"), "alerte": "skipped",
                                   "prise_de_parole": "completed", "veille_renforcee": "skipped",
                                   "validation": "skipped", "diffusion": "skipped",
                                   # the crisis is not over: its post-mortem is provisional, no questions asked
                                   "retour_experience": "skipped",
                                   # the correction branch runs only for a claim (`inputs.rumeur`), the all-clear
                                   # only when the crisis ends (`inputs.fin_de_crise`)
                                   **dict.fromkeys(CORRECTION_STEPS + ALL_CLEAR_STEPS, "skipped")}


def test_the_assessment_priority_chooses_the_communication_branch(demo_run: tuple[Any, RunHistory]) -> None:
    _, history = demo_run
    verdict = history.record("assessment", AssessmentRecord)
    assert verdict.priority in {"p1", "p2"}  # the demo crisis is grave and urgent: the team must speak
    assert verdict.reasons[0].startswith(verdict.priority)
    assert history.has_result("prise_de_parole") and not history.has_result("veille_renforcee")
    assert f"priorité {verdict.priority}" in history.record("synthese", NoteRecord).text


def test_later_steps_read_earlier_results(demo_run: tuple[Any, RunHistory]) -> None:
    _, history = demo_run
    assert "Faits rassemblés par Karim Benali" in history.record("synthese", NoteRecord).text
    assert "Cellule : completed" in history.record("brief", NoteRecord).text
    assert history.record("cellule", CallRecord).steps == {
        "convocation": "completed", "salle": "completed", "journal": "completed"}


def test_the_run_records_playbook_identity_for_the_audit_trail(demo_run: tuple[Any, RunHistory]) -> None:
    state, _ = demo_run
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "rappel-produit/all"
    assert {"playbook:rappel-produit", "playbook-version:1.0.0"} <= set(run.tags)
    assert run.flow_version.startswith("rappel-produit@1.0.0+sha256.")
    assert len(run.labels["crisis.playbook.sha256"]) == 64
    assert run.labels["crisis.playbook.git"]


def test_the_phases_run_in_the_playbook_run_and_each_step_is_a_named_task_run_tagged_with_its_phase(
        demo_run: tuple[Any, RunHistory]) -> None:
    state, _ = demo_run
    parent_id = state.state_details.flow_run_id
    # Not sub-flows, not even a called playbook's: a run waiting for approval must be able to suspend (Prefect
    # cannot suspend a sub-flow).
    assert _subflows_of(parent_id) == []
    with get_client(sync_client=True) as client:
        steps = [t for t in client.read_task_runs() if t.flow_run_id == parent_id]
    names = {t.name: set(t.tags) for t in steps}
    assert {f"rappel-produit:{step}" for step in (*DEMO_STEPS, "alerte")} <= set(names)
    assert {"phase:assessment", "playbook:rappel-produit", "playbook-version:1.0.0"} <= names["rappel-produit:faits"]
    assert "phase:communication" in names["rappel-produit:messages"]


def test_a_called_playbook_runs_its_phases_in_the_callers_run_on_its_own_frozen_plan(
        demo_run: tuple[Any, RunHistory]) -> None:
    state, history = demo_run
    with get_client(sync_client=True) as client:
        steps = {t.name: t for t in client.read_task_runs() if t.flow_run_id == state.state_details.flow_run_id}
    called = steps["cellule-de-crise:convocation"]
    assert {"playbook:cellule-de-crise", "phase:preparation", "called-by:rappel-produit:cellule"} <= set(called.tags)
    assert "playbook:rappel-produit" not in called.tags  # the callee's steps are tagged as the callee's
    record = history.record("cellule", CallRecord)
    callee = ROOT / "playbooks" / "cellule-de-crise.yaml"
    assert record.sha256 == hashlib.sha256(callee.read_bytes()).hexdigest()
    assert record.status == "completed" and record.phases == ["preparation"]


def test_phase_artifacts_list_the_steps_and_outcomes(demo_run: tuple[Any, RunHistory]) -> None:
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_artifacts() if a.key}
    assert {"rappel-produit-preparation", "rappel-produit-post-crisis", "rappel-produit-provenance"} <= set(artifacts)
    assert "`escalade` | checklist.item | ✅ completed" in artifacts["rappel-produit-assessment"].data


def test_low_severity_skips_conditional_steps_without_blocking_their_dependents() -> None:
    history = run_playbook(playbook="rappel-produit", inputs={"gravite": "faible", **NO_APPROVAL})
    assert history.status("escalade") == "skipped"
    assert history.status("validation_juridique") == "skipped"
    assert history.status("declaration") == "completed"  # `after` a skipped step still runs


def test_one_phase_can_run_alone() -> None:
    history = run_playbook(playbook="rappel-produit", phase="assessment", inputs={"gravite": "moyenne"})
    assert history.statuses == {
        "alerte": "skipped", "assessment": "completed", "faits": "completed", "parties_prenantes": "completed",
        "escalade": "skipped", "synthese": "completed",
    }


def test_invalid_inputs_fail_the_run_before_any_step() -> None:
    state = run_playbook(playbook="rappel-produit", inputs={"gravite": "apocalyptique"}, return_state=True)
    assert state.is_failed()
    assert _children(state.state_details.flow_run_id) == []


@flow
def _engine_fixture_phase(mode: str) -> RunHistory:
    return walk_phase(str(ENGINE_FIXTURE), "failures", "assessment", {"mode": mode}, RunHistory())


def test_continue_on_failure_records_it_and_blocks_only_dependents() -> None:
    history = _engine_fixture_phase("continue")
    assert history.statuses == {
        "first": "completed", "broken_soft": "failed", "dependent": "blocked",
        "independent": "completed", "broken_hard": "skipped", "after_hard": "completed",
    }
    with get_client(sync_client=True) as client:
        runs = [t for t in client.read_task_runs() if t.name == "failures:broken_soft"]
    assert max(t.run_count for t in runs) == 2  # retries: 1 → two attempts before giving up


def test_stop_on_failure_fails_the_phase_and_runs_nothing_after() -> None:
    state = _engine_fixture_phase("stop", return_state=True)
    assert state.is_failed()
    with pytest.raises(StepFailed, match="broken_hard"):
        state.result()


STEP_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"


@flow
def _fixture_phase(playbook: str, phase: str, inputs: dict[str, Any]) -> RunHistory:
    return walk_phase(str(STEP_FIXTURES), playbook, phase, inputs, RunHistory())


def test_checklist_item_records_the_item_its_owner_and_when() -> None:
    history = _fixture_phase("checklist-item", "preparation", {"marque": "Marque X"})
    record = history.record("joignable", ChecklistRecord)
    assert record.item == "Vérifier que le porte-parole est joignable"
    assert (record.owner, record.owner_people, record.status) == ("porte_parole", ["Léa Petit"], "recorded")
    assert record.recorded_at.endswith("+00:00")


def test_note_log_renders_inline_text_and_templates_with_earlier_results() -> None:
    history = _fixture_phase("note-log", "assessment", {"marque": "Marque X"})
    assert history.record("inline", NoteRecord) == NoteRecord(text="Crise Marque X (note-log v1.0.0)", level="info")
    assert history.record("from_template", NoteRecord) == NoteRecord(
        text="Suivi : Crise Marque X (note-log v1.0.0)", level="warning")


def test_the_steps_of_a_called_playbook_carry_its_own_identity(demo_run: tuple[Any, RunHistory]) -> None:
    state, _ = demo_run
    with get_client(sync_client=True) as client:
        called = [t for t in client.read_task_runs()
                  if t.flow_run_id == state.state_details.flow_run_id and t.name.startswith("cellule-de-crise:")]
    assert called and all({"playbook:cellule-de-crise", "playbook-version:1.0.0"} <= set(t.tags) for t in called)
    assert {tag for t in called for tag in t.tags if tag.startswith("phase:")} == {"phase:preparation"}  # its
    # empty phases are not walked


def test_a_communication_run_on_its_own_reads_the_latest_assessment(demo_run: tuple[Any, RunHistory]) -> None:
    _, history = demo_run  # the demo run stored its assessment
    latest = history.record("assessment", AssessmentRecord)
    alone = communication(playbook="rappel-produit", inputs=NO_APPROVAL)  # what the UI's phase-communication deployment starts
    assert alone.status("assessment") == "completed"
    assert alone.record("assessment", AssessmentRecord).priority == latest.priority
    branch, other = ("prise_de_parole", "veille_renforcee") if latest.priority in {"p1", "p2"} else (
        "veille_renforcee", "prise_de_parole")
    assert (alone.status(branch), alone.status(other)) == ("completed", "skipped")


def test_message_pack_renders_checks_and_keeps_the_pack() -> None:
    import json

    history = _fixture_phase("message-pack", "communication", {"exercice": True})
    record = history.record("pack", PackRecord)
    assert record.variants == ["update/clients/site/fr"] and record.problems == []
    kept = json.loads(Path(record.path).read_text(encoding="utf-8"))
    assert kept["hash"] == record.hash
    assert kept["variants"][0]["text"].startswith("# [EXERCICE] ")
    with get_client(sync_client=True) as client:
        preview = [a for a in client.read_artifacts() if a.key == "message-pack-message-pack"][-1]
    assert "### `update/clients/site/fr`" in preview.data and "> # [EXERCICE]" in preview.data
