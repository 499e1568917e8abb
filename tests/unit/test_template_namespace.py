"""One typed namespace per kind of template, used to render and to check: what `crisis validate` accepts in a text
or a message template is what renders, and what it reports is what would fail at run time."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from crisiscomms.communication import messages
from crisiscomms.errors import PlaybookError
from crisiscomms.playbook import rendering
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.loader import load_playbook
from crisiscomms.playbook.models import Person, Playbook, Role
from crisiscomms.playbook.namespace import STEP_NAMES, Found, MessageNamespace, StepNamespace, step_scope
from crisiscomms.playbook.steps import ChecklistRecord
from crisiscomms.stack.project import Project

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = """\
    id: essai
    version: 1.0.0
    title: Essai
    inputs:
      marque: {{title: Marque}}
      gravite: {{type: choice, choices: [faible, haute], default: haute}}
    team:
      coordination: {{title: Coordination, members: [{{name: Ana}}]}}
    audiences:
      clients: {{title: Clients, default: true}}
    channels:
      site: {{kind: website, audiences: [clients]}}
    communication:
      messages:
        - {{kind: holding_statement, audiences: [clients], channels: [site]}}
    phases:
      assessment:
        steps:
          - {{id: faits, type: checklist.item, item: Faits, owner: coordination}}
          - id: journal
            type: note.log
            text: {text!r}
    """
FAITS = ChecklistRecord(item="Faits", owner="coordination", owner_people=["Ana"], status="recorded",
                        recorded_at="2026-03-12T10:00:00+00:00").model_dump()


def project_with(tmp_path: Path, text: str = "ok", message: str = "# Sujet\n\nok\n") -> Project:
    (tmp_path / "playbooks").mkdir(exist_ok=True)
    (tmp_path / "templates" / "messages").mkdir(parents=True, exist_ok=True)
    (tmp_path / "prefect.yaml").write_text("# test project\n", encoding="utf-8")
    (tmp_path / "playbooks" / "essai.yaml").write_text(textwrap.dedent(PLAYBOOK).format(text=text), encoding="utf-8")
    (tmp_path / "templates" / "messages" / "holding_statement.fr.md.j2").write_text(message, encoding="utf-8")
    return Project(tmp_path)


def reported(project: Project) -> list[str]:
    try:
        project.check(project.playbooks_dir / "essai.yaml")
    except PlaybookError as exc:
        return [i.message for i in exc.issues]
    return []


def step_namespace(inputs: dict[str, Any]) -> dict[str, Any]:
    """What the engine renders a step text with: as it builds it (team roles dumped, results as records' dumps)."""
    team = {"coordination": Role(title="Coordination", members=[Person(name="Ana")]).model_dump()}
    playbook = Playbook.model_validate(yaml.safe_load(textwrap.dedent(PLAYBOOK).format(text="ok")))
    context = StepContext.model_construct(playbook=playbook, playbook_id="essai", playbook_version="1.0.0",
                                          inputs=inputs, results={"faits": FAITS}, team=team, alert=None)
    return context.namespace()


STEP_TEXTS = {
    "{{ inputs.marque }} {{ inputs.gravite }}": True,
    "{{ playbook.id }} v{{ playbook.version }}": True,
    "{{ faits.owner_people | join(', ') }}": True,
    "{{ team.coordination.title }}": True,
    "{% for p in faits.owner_people %}{{ p.upper() }}{% endfor %}": True,
    "{% set x = inputs %}{{ x.marque }} {{ range(2) | list }}": True,
    "{{ faits['status'] }}": True,
    "{{ inputs.produit }}": False,  # an input removed from `inputs:`
    "{{ audiences }}": False,  # not a name of the step namespace
    "{{ playbook.title }}": False,  # a step sees the playbook's id and version
    "{{ faits.statut }}": False,
    "{{ faits['statut'] }}": False,
    "{{ team.direction.title }}": False,
    # Names read through a template's own variables: checked as the name they stand for.
    "{% set i = inputs %}{{ i.gone }}": False,
    "{% with f = faits %}{{ f.statut }}{% endwith %}": False,
    "{% for p in faits.owner_people %}{{ p.nope }}{% endfor %}": False,
    "{% set x = 'texte' %}{{ x.upper() }}": True,
    "{% set x = 'texte' %}{{ x.nope }}": False,
    "{% for k in inputs %}{{ k.nope }}{% endfor %}": False,  # a mapping's keys are texts
    "{% macro m(inputs) %}{{ inputs.gone }}{% endmacro %}{{ m({'gone': 1}) }}": True,
    "{% set ns = namespace(n=0) %}{% for p in faits.owner_people %}{% set ns.n = loop.index %}{% endfor %}"
    "{{ ns.n }}": True,
}


@pytest.mark.parametrize(("text", "valid"), list(STEP_TEXTS.items()))
def test_a_step_text_validates_exactly_when_it_renders(tmp_path: Path, text: str, valid: bool) -> None:
    problems = reported(project_with(tmp_path, text=text))
    try:
        rendering.render_text(text, step_namespace({"marque": "Duval", "gravite": "haute"}))
        renders = True
    except jinja2.UndefinedError:
        renders = False
    assert (problems == [], renders) == (valid, valid), problems


MESSAGE_TEMPLATES = {
    "# {{ org.name }}\n\n{{ facts.summary }} {{ audience.title }} {{ channel.kind }} {{ message.kind }}": True,
    "# {{ playbook.title }}\n\n{{ inputs.marque }} {{ assessment.priority if assessment else '' }}": True,
    "# S\n\n{% for q in facts.faq %}{{ q.question }}{% endfor %}{{ claim.text if claim else '' }}": True,
    "# S\n\n{{ audiences | join(', ') }}": False,
    "# S\n\n{{ facts.nope }}": False,
    "# S\n\n{{ message.nope }}": False,
    "# S\n\n{{ inputs.produit }}": False,
    "# S\n\n{% set a = facts %}{{ a.subject }}": True,
    "# S\n\n{% set a = facts %}{{ a.nope }}": False,
    "# S\n\n{% for k in inputs %}{{ k.upper() }}{% endfor %}": True,
}


@pytest.mark.parametrize(("template", "valid"), list(MESSAGE_TEMPLATES.items()))
def test_a_message_template_validates_exactly_when_the_pack_renders_it(tmp_path: Path, template: str,
                                                                       valid: bool) -> None:
    project = project_with(tmp_path, message=template)
    problems = reported(project)
    playbook = load_playbook(project.playbooks_dir / "essai.yaml").playbook
    pack = messages.render_pack(playbook, project.templates_dir,
                                messages.PackContext(inputs={"marque": "Duval", "gravite": "haute"}))
    missing = [p for p in pack.problems if "missing variable" in p]
    assert (problems == [], missing == []) == (valid, valid), (problems, missing)


def test_a_message_is_rendered_with_exactly_the_names_of_its_namespace() -> None:
    project = Project(REPO)
    playbook = project.load("rappel-produit").playbook
    spec = playbook.communication.messages[0]
    context = messages.PackContext(inputs={"marque": "Duval"}, assessment=None)
    values = messages._values(playbook, context, playbook.communication.facts, None, spec, "clients", "site_web", "fr")
    assert list(values) == list(MessageNamespace.model_fields)
    assert values["assessment"] is values["claim"] is rendering.ABSENT  # none in this pack: an empty record
    # The values have the shapes validation checks templates against (an absent record is the model's None).
    MessageNamespace.model_validate({k: None if v is rendering.ABSENT else v for k, v in values.items()})


def test_a_step_text_is_rendered_with_results_and_exactly_the_names_of_its_namespace() -> None:
    values = step_namespace({"marque": "Duval"})
    assert set(values) == {"faits", "journal", *StepNamespace.model_fields}
    assert values["journal"] is values["alert"] is rendering.ABSENT  # no result yet, no alert: empty records
    StepNamespace.model_validate({k: None if v is rendering.ABSENT else v for k, v in values.items()
                                  if k in STEP_NAMES})


def test_dotted_names_resolve_against_the_models_and_the_playbooks_inputs_and_roles() -> None:
    scope = step_scope(Project(REPO).load("rappel-produit").playbook)
    assert scope.resolve(("inputs", "gravite")) == Found(str, ordered=("faible", "moyenne", "haute", "critique"))
    assert isinstance(scope.resolve(("assessment", "priority")), Found)
    assert scope.resolve(("assessment", "priority"), leaf=True).ordered == ("p4", "p3", "p2", "p1")  # type: ignore[union-attr]
    assert scope.resolve(("assessment", "audiences", "clients", "share")) == Found()  # a mapping: not checked below
    assert scope.resolve(("team", "juridique", "members")) != Found() and \
        isinstance(scope.resolve(("team", "juridique", "members")), Found)
    assert scope.resolve(("inputs", "gravitee")) == ("unknown input 'gravitee' (known: exercice, fin_de_crise, "
                                                      "gravite, incident, marque, mentions, produit, redacteur, rumeur, soumettre, verite)")
    assert scope.resolve(("team", "presse", "title")).startswith("unknown role 'presse'")  # type: ignore[union-attr]
    assert scope.resolve(("faits", "statut")) == ("step 'faits' (checklist.item) has no result field 'statut' "
                                                   "(fields: item, owner, owner_people, status, recorded_at)")


def test_a_condition_may_not_read_past_a_value_a_template_may() -> None:
    scope = step_scope(Project(REPO).load("rappel-produit").playbook)
    assert scope.resolve(("inputs", "marque", "upper")) == Found()  # a text's method, in a template
    assert scope.resolve(("inputs", "marque", "upper"), leaf=True) == (
        "'inputs.marque.upper' reads past a value: inputs.marque has no fields")


def test_a_text_too_long_a_chain_to_analyse_is_reported_not_a_crash(tmp_path: Path) -> None:
    problems = reported(project_with(tmp_path, text="{{ inputs" + ".x" * 2000 + " }}"))
    assert problems == ["template too complex to read: write it more simply (template line 1)"]


def test_what_an_included_template_reads_or_lacks_is_reported_on_the_text_that_includes_it(tmp_path: Path) -> None:
    project = project_with(tmp_path, text="{% include 'notes/inc.j2' %}{% include '../prefect.yaml' %}")
    (tmp_path / "templates" / "notes").mkdir()
    (tmp_path / "templates" / "notes" / "inc.j2").write_text("\n{{ inputs.gone }}", encoding="utf-8")
    assert reported(project) == [
        "template '../prefect.yaml' leaves templates/ ('..' and '\\' are not allowed in template paths) (read through "
        "{% include %})",
    ]
    (tmp_path / "playbooks" / "essai.yaml").write_text(
        textwrap.dedent(PLAYBOOK).format(text="{% include 'notes/inc.j2' %}"), encoding="utf-8")
    assert reported(Project(tmp_path)) == [
        "text reads 'inputs.gone': unknown input 'gone' (known: gravite, marque) (notes/inc.j2 line 2)"]
