"""Each playbook has its own Run form: its inputs as fields with their defaults and choices, the phase, nothing
internal; a run name typed in the form is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.utilities.callables import parameter_schema

from crisiscomms.stack.project import Project
from flows import forms

ROOT = Path(__file__).resolve().parents[2]


def test_every_playbook_of_the_project_has_a_form_deployment() -> None:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    entrypoints = {d["name"]: d["entrypoint"] for d in deployments if "playbook-form" in d.get("tags", [])}
    ids = Project(ROOT).playbook_ids()
    assert entrypoints == {pb: f"flows/forms.py:{pb.replace('-', '_')}" for pb in ids}
    assert set(forms.FORMS) == set(ids)


@pytest.mark.parametrize("playbook_id", Project(ROOT).playbook_ids())
def test_a_form_holds_the_phase_and_the_playbooks_inputs_with_their_defaults(playbook_id: str) -> None:
    playbook = Project(ROOT).load(playbook_id).playbook
    schema = parameter_schema(forms.FORMS[playbook_id].fn).model_dump()
    properties = schema["properties"]
    assert list(properties) == ["phase", *playbook.inputs]
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
    ("Crise yaourts Auvergne", True), ("crise-lactalis", True), ("alpha centauri", True),
    ("fancy-bear", False), ("rho2-milika", False), ("delta-cygni-vega", False), ("", False),
])
def test_a_typed_run_name_is_kept_and_a_generated_one_replaced(monkeypatch: pytest.MonkeyPatch, given: str,
                                                              kept: bool) -> None:
    monkeypatch.setattr(forms.flow_run, "get_name", lambda: given)
    monkeypatch.setattr(forms.flow_run, "get_parameters", lambda: {"phase": "communication"})
    name: Any = forms.run_name("rappel-produit")()
    assert name == (given if kept else "rappel-produit/communication")
