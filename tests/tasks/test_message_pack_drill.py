"""message.pack reads `drill:` as a yes or a no: a text that renders to another word fails the step, never sends the
pack as "not a drill" (it did: `drill: "exercice"`, or an input holding "exercice", meant no drill)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crisiscomms.errors import CrisisError
from crisiscomms.stack.project import Project
from tasks.messages import pack_context

PLAYBOOK = """\
    id: exercice
    version: 1.0.0
    title: Exercice
    inputs:
      exercice: {default: "oui"}
    audiences:
      clients: {title: Clients, default: true}
    channels:
      site: {kind: website, audiences: [clients]}
    communication:
      messages:
        - {kind: holding_statement, audiences: [clients], channels: [site]}
    phases:
      communication:
        steps:
          - {id: messages, type: message.pack, drill: "{{ inputs.exercice }}"}
    """


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "prefect.yaml").write_text("# test project\n", encoding="utf-8")
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "templates" / "messages").mkdir(parents=True)
    (tmp_path / "playbooks" / "exercice.yaml").write_text(textwrap.dedent(PLAYBOOK), encoding="utf-8")
    (tmp_path / "templates" / "messages" / "holding_statement.fr.md.j2").write_text("# T\n", encoding="utf-8")
    return Project(tmp_path)


def drill_of(project: Project, exercice: str) -> bool:
    frozen = project.freeze("exercice")
    step = frozen.playbook.phases.communication.steps[0]
    return pack_context(step, frozen.context("communication", {"exercice": exercice}, {})).drill


@pytest.mark.parametrize(("exercice", "drill"), [("oui", True), ("True", True), ("Non", False), ("false", False)])
def test_a_drill_text_rendering_to_yes_or_no_says_so(project: Project, exercice: str, drill: bool) -> None:
    assert drill_of(project, exercice) is drill


@pytest.mark.parametrize("exercice", ["exercice", "", "peut-être"])
def test_a_drill_text_rendering_to_another_word_fails_the_step(project: Project, exercice: str) -> None:
    with pytest.raises(CrisisError, match=f"step 'messages': drill renders to '{exercice}', not a yes/no word"):
        drill_of(project, exercice)
