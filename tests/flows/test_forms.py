"""Each playbook has its own Run form: its inputs as fields with their defaults and choices, the phase, nothing
internal; a run name typed in the form is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.utilities.callables import parameter_schema

from crisiscomms.stack.project import Project, validate
from flows import forms

ROOT = Path(__file__).resolve().parents[2]


def test_every_playbook_of_the_project_has_a_form_deployment() -> None:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    entrypoints = {d["name"]: d["entrypoint"] for d in deployments if "playbook-form" in d.get("tags", [])}
    ids = Project(ROOT).playbook_ids()
    assert entrypoints == {pb: f"flows/forms.py:form_{pb.replace('-', '_')}" for pb in ids}
    assert set(forms.FORMS) == set(ids)


@pytest.mark.parametrize("playbook_id", Project(ROOT).playbook_ids())
def test_a_form_holds_the_phase_and_the_playbooks_inputs_with_their_defaults(playbook_id: str) -> None:
    playbook = Project(ROOT).load(playbook_id).playbook
    schema = parameter_schema(forms.FORMS[playbook_id].fn).model_dump()
    properties = schema["properties"]
    assert list(properties) == ["phase", *playbook.inputs, "crisis_id"]
    required = {name for name, spec in playbook.inputs.items() if spec.required}
    assert set(schema.get("required") or []) == required
    for name, spec in playbook.inputs.items():
        field = properties[name]
        assert "anyOf" not in field  # a plain field, not "Property is type 'None'"
        assert field.get("default") == spec.default
        if spec.choices:
            assert field["enum"] == spec.choices


def test_a_run_through_the_form_runs_the_chosen_phase_with_the_defaults() -> None:
    state = forms.FORMS["rappel-produit"](phase="assessment", gravite="critique", return_state=True)
    history = state.result()
    assert history.status("escalade") == "completed"  # gravite critique >= haute
    assert history.status("synthese") == "completed"
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "rappel-produit/assessment"
    # Every value the run used is on the run (the audit trail): what was typed, and the defaults.
    assert (run.parameters["gravite"], run.parameters["marque"]) == ("critique", "Laiterie Duval")


@pytest.mark.parametrize(("given", "kept"), [
    ("Crise yaourts Auvergne", True), ("crise-lactalis", True), ("alpha centauri", True), ("beta-test", True),
    ("alpha-team", True), ("gamma-ray", True),
    ("fancy-bear", False), ("rho2-milika", False), ("delta-cygni-vega", False), ("lambda-mothallah", False),
    ("", False),
])
def test_a_typed_run_name_is_kept_and_a_generated_one_replaced(monkeypatch: pytest.MonkeyPatch, given: str,
                                                              kept: bool) -> None:
    monkeypatch.setattr(forms.flow_run, "get_name", lambda: given)
    monkeypatch.setattr(forms.flow_run, "get_parameters", lambda: {"phase": "communication"})
    name: Any = forms.run_name("rappel-produit")()
    assert name == (given if kept else "rappel-produit/communication")


def test_no_playbook_id_can_shadow_a_name_of_the_forms_module() -> None:
    own = {name for name, value in vars(forms).items() if value not in forms.FORMS.values()}
    assert not any(name.startswith("form_") for name in own)
    for playbook_id in ("play", "flow", "build-form", "run-name", "generated-name", "annotations"):
        assert forms.entrypoint_name(playbook_id) not in own


@pytest.mark.parametrize("name", ["phase", "class", "lambda"])
def test_an_input_the_form_cannot_hold_is_refused_by_validation(tmp_path: Path, name: str) -> None:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "prefect.yaml").write_text("name: x\n", encoding="utf-8")
    path = tmp_path / "playbooks" / "p.yaml"
    path.write_text(f"id: p\nversion: '1'\ntitle: P\ninputs:\n  {name}: {{default: x}}\nphases: {{}}\n", encoding="utf-8")
    _, issues = validate([path], Project(tmp_path))
    assert [(i.path, i.message) for i in issues] == [
        (f"inputs.{name}", f"'{name}' cannot name an input: the Run form uses it (rename it, e.g. '{name}_crise')")]
