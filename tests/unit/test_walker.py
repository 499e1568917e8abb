"""The one walk over a playbook: references, conditions and texts found from the models' annotations, parsed once,
and no file read outside templates/."""

from __future__ import annotations

import gc
import io
import json
import os
import pathlib
from pathlib import Path
from typing import Any, get_args

import pytest

from crisiscomms.errors import PlaybookError
from crisiscomms.playbook import expression, walker
from crisiscomms.playbook.communication import MessageSpec
from crisiscomms.playbook.inspect import condition_holds
from crisiscomms.playbook.loader import load_playbook
from crisiscomms.playbook.markers import Ref
from crisiscomms.playbook.step_types import STEP_TYPES
from crisiscomms.playbook.steps import StepBase
from crisiscomms.playbook.template_files import message_template, read_template
from crisiscomms.playbook.walker import walk_playbook
from crisiscomms.stack.project import Project, playbook_files

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
INVALID = TESTS / "fixtures" / "invalid"
ENGINE = TESTS / "fixtures" / "engine"


def loaded_walk(root: Path, playbook_id: str) -> walker.Walk:
    project = Project(root)
    return walk_playbook(project.load(playbook_id).playbook, project.templates_dir)


def ref_fields(model: type[StepBase]) -> list[str]:
    """Fields whose annotation (or an annotation nested in it) carries a Ref marker."""
    def has_ref(annotation: Any) -> bool:
        return isinstance(annotation, Ref) or any(has_ref(a) for a in get_args(annotation))

    return [f.alias or name for name, f in model.model_fields.items()
            if any(isinstance(m, Ref) for m in f.metadata) or has_ref(f.annotation)]


def test_every_step_field_that_names_a_step_is_typed_as_a_reference() -> None:
    assert {m.__name__: ref_fields(m) for m in STEP_TYPES if ref_fields(m) != ["after"]} == {
        "MessagePack": ["after", "assessment", "audiences_from"],
        "MessageApprove": ["after", "pack", "assessment"],
        "MessageRelease": ["after", "approval", "pack"],
        "ClaimTrack": ["after", "spread", "release"],
        "ReviewLessons": ["after", "review"],
    }


def test_the_walk_yields_each_reference_with_its_kind_target_and_yaml_path() -> None:
    walk = loaded_walk(ENGINE, "out-of-order")
    assert [(r.kind, r.target, r.loc) for r in walk.references] == [
        ("role", "comms", ("communication", "approval", "default", 0, "roles", 0)),
        ("step", "validation", ("phases", "communication", "steps", 0, "approval")),
        ("step", "messages", ("phases", "communication", "steps", 0, "pack")),
        ("step", "messages", ("phases", "communication", "steps", 1, "pack")),
        ("step", "evaluation", ("phases", "communication", "steps", 1, "assessment")),
        ("step", "evaluation", ("phases", "communication", "steps", 2, "assessment")),
    ]
    assert [t.target for t in walk.references if t.types] == ["validation", "messages", "messages", "evaluation",
                                                              "evaluation"]


def test_every_typed_reference_of_the_shipped_and_fixture_playbooks_is_walked() -> None:
    for root in (REPO, TESTS / "fixtures" / "steps", TESTS / "fixtures" / "claims", ENGINE):
        for path in playbook_files(root / "playbooks"):
            walk = loaded_walk(root, path.stem)
            walked = {(r.step.step.id, r.field, r.target) for r in walk.references if r.kind == "step" and r.step}
            for located in walk.steps.values():
                step = located.step
                for name in ref_fields(type(step)):
                    value = getattr(step, "after" if name == "after" else name)
                    for target in value if isinstance(value, list) else [value] if value else []:
                        assert (step.id, name, target) in walked, (path.name, step.id, name)


def test_the_walk_holds_every_condition_and_text_with_what_it_reads() -> None:
    walk = loaded_walk(REPO, "rappel-produit")
    diffusion = next(c for c in walk.conditions if c.step and c.step.step.id == "diffusion")
    assert diffusion.condition is not None and diffusion.condition.references() == [("validation", "decision")]
    synthese = next(t for t in walk.texts if t.step and t.step.step.id == "synthese")
    assert {".".join(r.ref) for r in synthese.reads} >= {"assessment.priority", "faits.owner_people", "inputs.marque"}
    messages = {(t.loc, t.template) for t in walk.texts if t.namespace == "message"}
    assert (("communication", "messages", 0, "kind"), "messages/holding_statement.fr.md.j2") in messages
    assert len(messages) == 11  # one per declared message: every audience speaks French, no audience-specific file


def test_a_playbook_is_walked_once_and_its_conditions_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    project = Project(REPO)
    loaded = project.load("rappel-produit")
    walk = walk_playbook(loaded.playbook, project.templates_dir)
    assert project.plan(loaded) is not None and walk_playbook(loaded.playbook, project.templates_dir) is walk

    def no_parse(text: str) -> expression.Condition:
        raise AssertionError(f"condition parsed again: {text}")

    monkeypatch.setattr(expression, "parse", no_parse)
    step = walk.steps["escalade"].step
    values = {"inputs": {"gravite": "critique"}}
    assert condition_holds(loaded, project.catalog, "assessment", step, values) is True
    assert condition_holds(loaded, project.catalog, "assessment", step, {"inputs": {"gravite": "moyenne"}}) is False


def test_a_walk_is_forgotten_with_its_playbook() -> None:
    playbook = load_playbook(REPO / "playbooks" / "cellule-de-crise.yaml").playbook
    walk_playbook(playbook, REPO / "templates")
    key = (id(playbook), REPO / "templates")
    assert key in walker._WALKS
    del playbook
    gc.collect()
    assert key not in walker._WALKS


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file opened from now on (pathlib reads through io.open; so does builtins.open; playbooks through
    os.open, non-blocking, so that a pipe cannot hang validation)."""
    seen: list[Path] = []
    real_open, real_os_open = io.open, os.open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | pathlib.PurePath):
            seen.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    def os_spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(Path(file).resolve())
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", spy)
    monkeypatch.setattr("builtins.open", spy)
    monkeypatch.setattr(os, "open", os_spy)
    return seen


@pytest.mark.parametrize("name", ["template-outside", "template-encoding", "message-template", "missing-template"])
def test_validation_opens_no_file_outside_templates(opened: list[Path], name: str) -> None:
    with pytest.raises(PlaybookError):
        Project(INVALID).check(INVALID / "playbooks" / f"{name}.yaml")
    templates = (INVALID / "templates").resolve()
    playbooks = (INVALID / "playbooks").resolve()
    assert opened, "the spy saw nothing: it no longer sees how files are read"
    assert [p for p in opened if not p.is_relative_to(templates) and not p.is_relative_to(playbooks)] == []


@pytest.mark.parametrize("name", ["/proc/self/environ", "../../../../etc/passwd", "notes/../../prefect.yaml",
                                  "~/.ssh/id_rsa", ""])
def test_a_template_name_that_leaves_templates_is_refused_before_any_file_is_opened(
        opened: list[Path], name: str) -> None:
    found = read_template(INVALID / "templates", name)
    assert found.text is None and found.problem
    assert opened == []


def test_a_message_template_is_the_audience_specific_one_when_present_else_the_general_one(tmp_path: Path) -> None:
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "faq.clients.fr.md.j2").write_text("# FAQ\n", encoding="utf-8")
    faq = MessageSpec(kind="faq", audiences=["clients", "presse"], channels=["site"])
    assert message_template(tmp_path, faq, "clients", "fr") == "messages/faq.clients.fr.md.j2"
    assert message_template(tmp_path, faq, "presse", "fr") == "messages/faq.fr.md.j2"
    own = MessageSpec(kind="faq", audiences=["clients"], channels=["site"], template="x/faq.md.j2")
    assert message_template(tmp_path, own, "clients", "fr") == "x/faq.md.j2"


def test_an_audience_specific_link_is_used_and_so_reported_never_skipped_for_the_general_one(tmp_path: Path) -> None:
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "faq.clients.fr.md.j2").symlink_to("/etc/hostname")
    faq = MessageSpec(kind="faq", audiences=["clients"], channels=["site"])
    name = message_template(tmp_path, faq, "clients", "fr")
    assert name == "messages/faq.clients.fr.md.j2"
    assert read_template(tmp_path, name).problem == f"template '{name}' is a link leading outside templates/"


ESSAI = """\
id: essai
version: 1.0.0
title: Essai
inputs:
  marque: {default: Duval}
audiences:
  clients: {title: Clients, default: true}
channels:
  site: {kind: website, audiences: [clients]}
communication:
  messages:
    - {kind: holding_statement, audiences: [clients], channels: [site]}
phases:
  assessment:
    steps:
      - {id: faits, type: note.log, text: Faits}
"""


def reported(tmp_path: Path, *texts: str, message: str = "# S\n", files: dict[str, str] | None = None) -> list[str]:
    """What validation says of a playbook whose notes read `texts` and whose message template is `message`."""
    steps = "".join(f"      - {{id: n{i}, type: note.log, text: {json.dumps(t)}}}\n" for i, t in enumerate(texts))
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "prefect.yaml").write_text("# test project\n", encoding="utf-8")
    (tmp_path / "playbooks" / "essai.yaml").write_text(ESSAI + steps, encoding="utf-8")
    for name, text in {"messages/holding_statement.fr.md.j2": message, **(files or {})}.items():
        (tmp_path / "templates" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "templates" / name).write_text(text, encoding="utf-8")
    try:
        Project(tmp_path).check(tmp_path / "playbooks" / "essai.yaml")
    except PlaybookError as exc:
        return [i.message for i in exc.issues]
    return []


def test_a_name_read_through_a_set_variable_is_checked_as_the_name_it_stands_for(tmp_path: Path) -> None:
    assert reported(tmp_path, "{% set i = inputs %}{{ i.marque }}\n{{ i.gone }}") == [
        "text reads 'inputs.gone': unknown input 'gone' (known: marque) (template line 2)"]


def test_a_message_template_reading_through_a_variable_is_checked_too(tmp_path: Path) -> None:
    assert reported(tmp_path, message="# S\n{% set a = facts %}{{ a.subject }}{{ a.nope }}") == [
        "messages/holding_statement.fr.md.j2 reads 'facts.nope': facts has no field 'nope' (fields: subject, summary, "
        "known, doing, advice, faq, next_update) (template line 2)"]


def test_with_blocks_loops_and_chained_variables_are_followed(tmp_path: Path) -> None:
    assert reported(tmp_path, "{% with p = playbook %}{{ p.titre }}{% endwith %}",
                    "{% for n in [1] %}{% set i = inputs %}{% set m = i.marque %}{{ m.nope }}{% endfor %}",
                    "{% set f = faits %}{{ f.statut }}") == [
        "text reads 'playbook.titre': playbook has no field 'titre' (fields: id, version) (template line 1)",
        "text reads 'inputs.marque.nope': inputs.marque is a text: it has no field 'nope' (template line 1)",
        "text reads 'faits.statut': step 'faits' (note.log) has no result field 'statut' (fields: text, level) "
        "(template line 1)",
    ]


def test_a_name_set_differently_in_branches_is_checked_as_each(tmp_path: Path) -> None:
    text = "{% set i = playbook %}{% if inputs.marque %}{% set i = inputs %}{% endif %}{{ i.id }} {{ i.marque }}"
    assert reported(tmp_path, text) == [
        "text reads 'inputs.id': unknown input 'id' (known: marque) (template line 1)",
        "text reads 'playbook.marque': playbook has no field 'marque' (fields: id, version) (template line 1)"]


def test_a_local_scope_ends_with_its_block_and_macro_parameters_are_not_the_context(tmp_path: Path) -> None:
    assert reported(tmp_path, "{% for n in [1] %}{% set inputs = playbook %}{% endfor %}{{ inputs.marque }}",
                    "{% macro m(inputs) %}{{ inputs.gone }}{% endmacro %}{{ m({'gone': 1}) }}",
                    "{% set ns = namespace(n=0) %}{% for c in inputs.marque %}{% set ns.n = loop.index %}"
                    "{% endfor %}{{ ns.n }}") == []


def test_a_loop_element_is_checked_against_the_record_type_when_known(tmp_path: Path) -> None:
    message = ("# S\n{% for q in facts.faq %}{{ q.question }}{{ q.nope }}{% endfor %}"
               "{% for c in assessment.channels if assessment %}{{ c.anything }}{% endfor %}")
    assert reported(tmp_path, "{% for c in inputs.marque %}{{ c.upper() }}{{ c.nope }}{% endfor %}",
                    message=message) == [
        "messages/holding_statement.fr.md.j2 reads 'facts.faq[].nope': facts.faq[] has no field 'nope' (fields: "
        "question, answer) (template line 2)",
        "text reads 'inputs.marque[].nope': inputs.marque[] is a text: it has no field 'nope' (template line 1)",
    ]


def test_a_name_set_to_a_literal_is_a_known_scalar(tmp_path: Path) -> None:
    assert reported(tmp_path, '{% set x = "texte" %}{{ x.upper() }} {{ x.nope }}', "{% set n = 3 %}{{ n.real }}") \
        == ["text reads 'x.nope': x is a text: it has no field 'nope' (template line 1)"]


COMPUTED = {
    "{% include inputs.marque %}": "include",
    '{% include "notes/" ~ "a.j2" %}': "include",
    '{% include ["notes/a.j2", inputs.marque] %}': "include",
    "{% import inputs.marque as y %}": "import",
    "{% from inputs.marque import m %}": "from",
    "{% extends inputs.marque %}": "extends",
    '{% extends ["notes/a.j2"] %}': "extends",  # Jinja takes a list in include only
}


@pytest.mark.parametrize(("text", "keyword"), list(COMPUTED.items()))
def test_a_computed_template_name_is_refused_before_the_run(tmp_path: Path, text: str, keyword: str) -> None:
    assert reported(tmp_path, text, files={"notes/a.j2": "A"}) == [
        f"{{% {keyword} %}} of a computed template name: name the template literally: a computed name cannot be "
        "checked before the run (template line 1)"]


def test_a_literal_list_of_templates_to_include_is_checked_name_by_name(tmp_path: Path) -> None:
    assert reported(tmp_path, '{% include ["notes/a.j2"] %}', '{% include ["notes/a.j2", "notes/absent.j2"] %}',
                    files={"notes/a.j2": "{{ inputs.gone }}"}) == [
        "text reads 'inputs.gone': unknown input 'gone' (known: marque) (notes/a.j2 line 1)",
        "template 'notes/absent.j2' not found in templates/ (read through {% include %})",
    ]
