"""The Run form's parameters: playbook as a choice, crisis inputs as typed fields, checked per playbook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from crisiscomms.errors import InputError
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.parameters import inputs_model, playbook_choice, resolve_inputs
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def playbooks() -> list[Playbook]:
    project = Project(ROOT)
    return [project.load(i).playbook for i in project.playbook_ids()]


def _playbook(**inputs: Any) -> Playbook:
    return Playbook.model_validate({"id": "p", "version": "1", "title": "P", "inputs": inputs, "phases": {}})


def test_the_playbook_parameter_is_a_choice_of_the_project_playbooks() -> None:
    from pydantic import TypeAdapter

    schema = TypeAdapter(playbook_choice(["cellule-de-crise", "rappel-produit"])).json_schema()
    assert schema["enum"] == ["cellule-de-crise", "rappel-produit"]


def test_crisis_inputs_become_typed_optional_fields(playbooks: list[Playbook]) -> None:
    schema = inputs_model(playbooks).model_json_schema()
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert props["gravite"]["anyOf"][0]["enum"] == ["faible", "moyenne", "haute", "critique"]
    assert props["exercice"]["anyOf"][0]["type"] == "boolean"
    assert props["incident"]["anyOf"][0]["type"] == "string"
    assert props["marque"]["title"] == "Marque"
    assert "rappel-produit = Laiterie Duval" in props["marque"]["description"]
    assert "cellule-de-crise (required)" in props["marque"]["description"]
    assert all(p.get("default") is None for p in props.values())


def test_the_form_refuses_values_of_the_wrong_type_or_unknown_fields(playbooks: list[Playbook]) -> None:
    model = inputs_model(playbooks)
    for bad in ({"gravite": "apocalyptique"}, {"exercice": "peut-être"}, {"inconnu": 1}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)


def test_inputs_declared_with_different_types_in_two_playbooks_are_refused() -> None:
    with pytest.raises(InputError, match="input 'seuil' has different types"):
        inputs_model([_playbook(seuil={"type": "integer", "default": 3}),
                      _playbook(seuil={"type": "string", "default": "3"})])


def test_resolving_inputs_fills_defaults_and_converts_command_line_text() -> None:
    pb = _playbook(n={"type": "integer", "default": 1}, ok={"type": "boolean", "default": False},
                   g={"type": "choice", "choices": ["bas", "haut"], "default": "bas"}, x={"type": "number", "default": 1.5})
    assert resolve_inputs(pb, {"n": "7", "ok": "oui", "x": "2"}) == {"n": 7, "ok": True, "g": "bas", "x": 2.0}


def test_resolving_inputs_reports_every_problem_at_once() -> None:
    pb = _playbook(marque={"type": "string"}, g={"type": "choice", "choices": ["bas", "haut"], "default": "bas"},
                   n={"type": "integer", "default": 1})
    with pytest.raises(InputError) as caught:
        resolve_inputs(pb, {"g": "moyen", "n": "beaucoup", "autre": 1})
    message = str(caught.value)
    assert "'autre' is not an input of playbook 'p'" in message
    assert "input 'g': 'moyen' is not one of bas, haut" in message
    assert "input 'n': 'beaucoup' is not of type integer" in message
    assert "input 'marque' is required" in message
