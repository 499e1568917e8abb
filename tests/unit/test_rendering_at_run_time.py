"""What a text or a message template meets at run time that validation could not see: names without a value in this
run, names computed while rendering, values a template cannot compute with, and a promise already past.

Validation refuses the names no run could have; these are the names a run may lack (a step skipped, blocked or in a
phase not run; the alert when none started the run; the assessment or the claim of a pack that has none). They read
as an empty record, never an error. A name computed at run time (`{% include inputs.quoi %}`) is read from
templates/ only, as validation reads template files.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from pydantic import ValidationError

from crisiscomms.communication.messages import PackContext, render_pack
from crisiscomms.playbook import expression, rendering
from crisiscomms.playbook.communication import FactSheet
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import MessagePack, yes_no
from crisiscomms.stack.project import Project

NOW = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)
PLAYBOOK = """\
    id: essai
    version: 1.0.0
    title: Essai
    inputs:
      quoi: {default: notes/suivi.j2}
      go: {type: boolean, default: false}
    phases:
      preparation:
        steps:
          - {id: prep, type: note.log, text: Préparé}
      assessment:
        steps:
          - {id: first, type: note.log, text: Premier, when: inputs.go}
          - {id: second, type: note.log, text: "Après {{ first.text }}"}
    """
MESSAGES = """\
    id: messages
    version: 1.0.0
    title: Messages
    audiences:
      clients: {title: Clients, default: true}
    channels:
      site: {kind: website, audiences: [clients]}
    communication:
      organisation: {name: Duval}
      facts: {subject: Yaourt, next_update: "2h"}
      messages:
        - {kind: holding_statement, audiences: [clients], channels: [site]}
    phases: {}
    """


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "prefect.yaml").write_text("# test project\n", encoding="utf-8")
    for folder in ("playbooks", "templates/notes", "templates/messages"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "playbooks" / "essai.yaml").write_text(textwrap.dedent(PLAYBOOK), encoding="utf-8")
    (tmp_path / "templates" / "notes" / "suivi.j2").write_text("Suivi de {{ inputs.quoi }}", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("SECRET", encoding="utf-8")
    (tmp_path / "templates" / "notes" / "fuite.j2").symlink_to(tmp_path / "secret.txt")
    return tmp_path


def context(root: Path, results: dict[str, Any] | None = None, alert: dict[str, Any] | None = None,
            **inputs: Any) -> Any:
    project = Project(root)
    frozen = project.freeze("essai")
    return frozen.context("assessment", {"quoi": "notes/suivi.j2", "go": False, **inputs}, results or {}, alert)


# --- a name without a value in this run reads as an empty record ------------------------------------------------

@pytest.mark.parametrize(("text", "rendered"), [
    ("après {{ first.text }}", "après "),  # skipped by its `when:`
    ("suite de {{ prep.text }}", "suite de "),  # in a phase this run did not run
    ("{% if first %}oui{% else %}non{% endif %}", "non"),
    ("{% if first.text == 'Premier' %}oui{% else %}non{% endif %}", "non"),
    ("{% if first.level > 'a' or first.level < 'a' %}oui{% else %}non{% endif %}", "non"),
    ("{{ 'Note : ' + first.text }}", "Note : "),
    ("{{ first.text | upper }}{{ first.text | length }}", "0"),
    ("[{% for line in first.lines %}{{ line }}{% endfor %}]", "[]"),
    ("{{ first.text | default('rien') }}", "rien"),
    ("Alerte : {{ alert.reason }}{% if alert %} !{% endif %}", "Alerte : "),  # no alert started the run
    ("{{ alert.volume * 2 }}|{{ 10 - alert.volume }}", "|"),
])
def test_a_step_without_a_result_and_a_missing_alert_read_as_empty_records(root: Path, text: str,
                                                                           rendered: str) -> None:
    # Failed the step before: 'first' is undefined, 'None' has no attribute 'reason'.
    assert context(root).render(text) == rendered


def test_a_result_and_an_alert_that_exist_are_read_as_they_are(root: Path) -> None:
    step = context(root, results={"first": {"text": "Premier", "level": "info"}}, alert={"reason": "pic"})
    assert step.render("{{ first.text }} / {{ alert.reason }}{% if first %} !{% endif %}") == "Premier / pic !"


def test_a_condition_reads_a_step_without_a_result_as_null(root: Path) -> None:
    values = context(root).namespace()
    assert expression.evaluate(expression.parse("first.text == null"), values, lambda ref: expression.Scale())
    assert not expression.evaluate(expression.parse("first.text == 'x'"), values, lambda ref: expression.Scale())
    assert not expression.evaluate(expression.parse("alert.volume > 3"), values, lambda ref: expression.Scale())


# --- templates are read from templates/ only, whatever computes their name ---------------------------------------

def test_an_inline_text_includes_a_template_as_a_template_file_does(root: Path) -> None:
    # Failed before: "no loader for this environment specified".
    assert context(root).render("{% include 'notes/suivi.j2' %}") == "Suivi de notes/suivi.j2"


@pytest.mark.parametrize("quoi", ["notes/fuite.j2", "../secret.txt", str(Path("/etc/hostname"))])
def test_a_computed_include_never_reads_outside_templates(root: Path, quoi: str) -> None:
    # notes/fuite.j2 is a link to a file outside templates/: it rendered the file before.
    with pytest.raises(jinja2.TemplateError) as caught:
        context(root, quoi=quoi).render("{% include inputs.quoi %}")
    assert "SECRET" not in str(caught.value)
    with pytest.raises(jinja2.TemplateError):
        rendering.render_file(root / "templates", "notes/fuite.j2", {})


def test_a_computed_include_of_a_missing_template_says_which(root: Path) -> None:
    with pytest.raises(jinja2.TemplateNotFound, match=re.escape("template 'notes/absent.j2' not found in templates/")):
        context(root, quoi="notes/absent.j2").render("{% include inputs.quoi %}")


# --- a message template that cannot be rendered is a pack problem naming it --------------------------------------

def pack_with(root: Path, template: str, now: datetime = NOW, **context: Any) -> Any:
    (root / "templates" / "messages" / "holding_statement.fr.md.j2").write_text(template, encoding="utf-8")
    playbook = Playbook.model_validate(yaml.safe_load(textwrap.dedent(MESSAGES)))
    return render_pack(playbook, root / "templates", PackContext(inputs=context.pop("inputs", {}), now=now,
                                                                 **context))


@pytest.mark.parametrize(("template", "problem"), [
    ("# T\n\n{{ channel.max_length - 10 }}", "messages/holding_statement.fr.md.j2 line 3: cannot compute a value "
                                            "(TypeError: unsupported operand type(s) for -: 'NoneType' and 'int')"),
    ("# T\n{{ 10 / 0 }}", "messages/holding_statement.fr.md.j2 line 2: cannot compute a value (ZeroDivisionError: "
                          "division by zero)"),
    ("# T\n{{ 1 + 'a' }}", "messages/holding_statement.fr.md.j2 line 2: cannot compute a value (TypeError: "
                           "unsupported operand type(s) for +: 'int' and 'str')"),
    ("# T\n\n{% include inputs.quoi %}", "messages/holding_statement.fr.md.j2 line 3: template notes/absent.j2 not "
                                         "found in templates/"),
    ("# T\n\n{% include 'notes/fuite.j2' %}", "messages/holding_statement.fr.md.j2 line 3: template "
                                              "'notes/fuite.j2' is a link leading outside templates/"),
])
def test_a_template_that_raises_is_a_problem_of_its_variant_naming_it(root: Path, template: str,
                                                                      problem: str) -> None:
    pack = pack_with(root, template, inputs={"quoi": "notes/absent.j2"})
    assert pack.problems == [f"holding_statement/clients/site/fr: {problem}"]


def test_a_pack_without_assessment_or_claim_reads_them_as_empty_records(root: Path) -> None:
    # Refused the pack before: 'None' has no attribute 'priority'.
    pack = pack_with(root, "# T\n\nPriorité : {{ assessment.priority }}. Faux : {{ claim.text }}."
                           "{% if claim %} Correction.{% endif %}")
    assert pack.problems == []
    assert pack.variants[0].text == "# T\n\nPriorité : . Faux : .\n"


# --- the next update: a date to promise, and not one already past ------------------------------------------------

@pytest.mark.parametrize("moment", ["2000-01-01T00:00", "2100-12-31T23:59:00-12:00"])
def test_a_next_update_between_2000_and_2100_is_accepted(moment: str) -> None:
    assert FactSheet(next_update=moment).next_update == moment


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:00-12:00", "1999-12-31T23:59", "2101-01-01"])
def test_a_next_update_out_of_2000_to_2100_is_refused(moment: str) -> None:
    with pytest.raises(ValidationError, match="is not a date to promise: the next update falls between the years "
                                              "2000 and 2100"):
        FactSheet(next_update=moment)


def test_a_promise_already_past_is_a_pack_problem_not_a_stale_promise(root: Path) -> None:
    template = "# T\n\nProchain point : {{ facts.next_update }}."
    past = FactSheet(next_update="2026-03-12T08:00")  # 9:00 in Paris, half an hour before NOW
    pack = pack_with(root, template, facts=past)
    assert pack.problems == ["holding_statement/clients/site/fr: the next update time 12 mars 2026 à 08:00 (heure "
                             "de Paris) is already past: give a later date and time, or a delay (2h), in the fact "
                             "sheet"]
    assert pack_with(root, template, facts=FactSheet(next_update="2026-03-12T18:00")).problems == []
    assert pack_with(root, "# T\n\nSans promesse.", facts=past).problems == []  # nothing promised


# --- drill: a yes or a no, never another word ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "meant"), [
    ("true", True), ("Oui", True), (" VRAI ", True), ("1", True), ("yes", True),
    ("False", False), ("non", False), ("faux", False), ("0", False), ("no", False),
    ("exercice", None), ("", None), ("truex", None),
])
def test_a_drill_is_read_from_yes_no_words_only(text: str, meant: bool | None) -> None:
    assert yes_no(text) is meant


@pytest.mark.parametrize("drill", [True, "oui", "{{ inputs.exercice }}", "{% if inputs.x %}oui{% else %}non{% endif %}"])
def test_a_drill_given_as_yes_no_or_as_a_text_to_render_is_accepted(drill: Any) -> None:
    assert MessagePack(id="pack", type="message.pack", drill=drill).drill == drill


def test_a_drill_given_as_another_word_is_refused() -> None:
    with pytest.raises(ValidationError, match="'exercice' is not a yes/no word"):
        MessagePack(id="pack", type="message.pack", drill="exercice")
