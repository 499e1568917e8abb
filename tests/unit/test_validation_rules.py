"""Every validation rule, shown on a playbook that breaks it and nothing else.

The fixtures form a tiny project (tests/fixtures/invalid: prefect.yaml, playbooks/, templates/). Each
playbook holds exactly the mistake(s) its name says, and each test asserts the whole list of issues:
(line, column, path, message). Reading this table is the quickest way to learn what `crisis validate`
says, and where.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from crisiscomms.errors import PlaybookError, PlaybookFileError
from crisiscomms.playbook import inspect as inspect_module
from crisiscomms.stack.project import Project, playbook_files, validate

# The fixtures' folders, the command and the table shape are the crash tests' own; CRASHES: one file per kind
from tests.unit.test_validation_crashes import CRASHES, CRISIS, FIXTURES, PLAYBOOKS, Expected

REPO = Path(__file__).resolve().parents[2]
COMPUTED = ("of a computed template name: name the template literally: a computed name cannot be checked before the "
            "run (template line 1)")

# One fixture per rule listed in the docstring of crisiscomms/playbook/inspect.py (plus variants).
SEMANTIC: dict[str, Expected] = {
    "id-matches-file": [
        (2, 5, "id", "id 'autre-nom' must equal the file name 'id-matches-file'"),
    ],
    "duplicate-step": [
        (19, 13, "phases.communication.steps[0].id",
         "duplicate step id 'convocation' (first defined at line 13)"),
    ],
    "reserved-id": [
        (14, 13, "phases.preparation.steps[0].id",
         "step id 'inputs' is reserved: texts and conditions read alert, inputs, playbook, team as such, never as a "
         "step"),
    ],
    # Validated, then `{{ range.text }}` read Jinja's range at run time.
    "reserved-jinja": [
        (9, 13, "phases.assessment.steps[0].id",
         "step id 'range' is reserved: in a text, Jinja reads caller, cycler, dict, false, joiner, kwargs, lipsum, "
         "loop, namespace, none, range, self, super, true, varargs as its own, never as a step"),
        (12, 13, "phases.assessment.steps[1].id",
         "step id 'loop' is reserved: in a text, Jinja reads caller, cycler, dict, false, joiner, kwargs, lipsum, "
         "loop, namespace, none, range, self, super, true, varargs as its own, never as a step"),
    ],
    "unknown-after": [
        (21, 29, "phases.communication.steps[1].after[1]",
         "unknown step 'legal_ok' (known: publication, validation)"),
    ],
    "after-forward-only": [
        (17, 17, "phases.preparation.steps[0].after[0]",
         "step 'publication' is in phase 'communication', which runs after 'preparation': "
         "a step can only follow steps of its own phase or of an earlier one"),
    ],
    # Was (17, 16) on `after` with "redaction → validation → publication → redaction": now at the link, with the
    # field of each link named, in the direction "waits for".
    "cycle": [
        (17, 17, "phases.communication.steps[0].after[0]",
         "steps wait for each other: redaction waits for publication (after), publication waits for validation "
         "(after), validation waits for redaction (after)"),
    ],
    # Linked by typed references and a condition, not by `after`: the same rule, each link named.
    "reference-cycle": [
        (10, 15, "phases.communication.steps[0].when",
         "steps wait for each other: messages waits for diffusion (condition reads diffusion.status), diffusion "
         "waits for messages (reference: pack)"),
    ],
    "unknown-role": [
        (20, 16, "phases.communication.steps[0].owner",
         "unknown role 'juristes' (known: coordination, juridique)"),
    ],
    "unknown-backup": [
        (10, 13, "team.coordination.backup",
         "unknown role 'porte_parol' (known: coordination, porte_parole)"),
    ],
    "unknown-channel": [
        (21, 18, "phases.communication.steps[0].channel", "unknown channel 'intranet_rh' (known: intranet)"),
    ],
    "unknown-audience": [
        (16, 26, "channels.reseaux_sociaux.audiences[1]",
         "unknown audience 'journaliste' (known: clients, journalistes)"),
    ],
    "audience-default": [
        (13, 3, "audiences.journalistes",
         "audiences have `match` rules but none is `default: true`: say which audience takes the mentions no "
         "rule claims"),
    ],
    "audience-defaults": [
        (14, 57, "audiences.salaries.default", "only one audience can be the default ('clients' already is)"),
    ],
    "missing-template": [
        (12, 19, "phases.communication.steps[0].template",
         "template 'notes/declaration.fr.md.j2' not found in templates/"),
    ],
    "template-error": [
        (15, 19, "phases.communication.steps[0].template",
         "template syntax error: unexpected '}' (template line 3)"),
    ],
    # Validation reads nothing outside templates/: not /etc/hostname, not ../playbooks/…, not through a link.
    "template-outside": [
        (11, 19, "phases.communication.steps[0].template",
         "template '/etc/hostname' must be a path under templates/, not an absolute path"),
        (14, 19, "phases.communication.steps[1].template",
         "template '../playbooks/callee.yaml' leaves templates/ ('..' and '\\' are not allowed in template paths)"),
        (17, 19, "phases.communication.steps[2].template",
         "template 'notes/lien.fr.md.j2' is a link leading outside templates/"),
    ],
    "template-encoding": [
        (10, 19, "phases.communication.steps[0].template",
         "template 'notes/binaire.fr.md.j2' is binary, not text (NUL byte at template line 2, column 1)"),
        (13, 19, "phases.communication.steps[1].template",
         "template 'notes/latin1.fr.md.j2' is not UTF-8 (byte 0xe9 at template line 2, column 4): save it as UTF-8"),
    ],
    # Every template a pack could render is checked: here the one for journalists only, found by its audience.
    "message-template": [
        (13, 50, "communication.messages[0].audiences[1]",
         "messages/press_release.journalistes.fr.md.j2: template syntax error: unexpected '}' (template line 3)"),
    ],
    "message-unknown-name": [
        (12, 14, "communication.messages[0].kind",
         "messages/holding_statement.fr.md.j2 uses unknown name(s) audiences (known: assessment, audience, channel, "
         "claim, facts, inputs, message, org, playbook)"),
    ],
    "bad-when": [
        (21, 15, "phases.assessment.steps[0].when",
         "cannot parse condition 'inputs.gravite >= = haute': invalid syntax at column 19"),
    ],
    # Validated, then failed when the branch or the filter rendered: Jinja checks these names that late.
    "unknown-filter": [
        (12, 15, "phases.assessment.steps[0].text", "unknown test 'marque' (template line 1)"),
        (15, 15, "phases.assessment.steps[1].text", "unknown filter 'majuscules' (template line 1)"),
        (18, 15, "phases.assessment.steps[2].text", "unknown test 'egal' (template line 1)"),
        (21, 15, "phases.assessment.steps[3].text", "unknown filter 'majuscules' (template line 1)"),
    ],
    # Validated, then failed at run time: a name read through {% set %}, {% with %} or a loop is the name it stands
    # for; below a literal the template set, only its methods.
    "alias-read": [
        (15, 87, "communication.messages[0].template",
         "notes/alias-message.fr.md.j2 reads 'facts.faq[].reponse': facts.faq[] has no field 'reponse' (fields: "
         "question, answer) (template line 4)"),
        (21, 15, "phases.assessment.steps[0].text",
         "text reads 'inputs.gone': unknown input 'gone' (known: marque) (template line 1)"),
        (24, 19, "phases.assessment.steps[1].template",
         "template reads 'note.statut': step 'note' (note.log) has no result field 'statut' (fields: text, level) "
         "(template line 3)"),
        (27, 15, "phases.assessment.steps[2].text",
         "text reads 'x.nope': x is a text: it has no field 'nope' (template line 1)"),
    ],
    # A template named by a computed value cannot be checked (nor kept under templates/) before the run; a literal
    # list to include is checked name by name.
    "computed-template-name": [
        (13, 15, "phases.assessment.steps[0].text", f"{{% include %}} {COMPUTED}"),
        (16, 15, "phases.assessment.steps[1].text", f"{{% include %}} {COMPUTED}"),
        (19, 15, "phases.assessment.steps[2].text", f"{{% import %}} {COMPUTED}"),
        (22, 15, "phases.assessment.steps[3].text", f"{{% extends %}} {COMPUTED}"),
        (25, 15, "phases.assessment.steps[4].text",
         "template 'notes/absent.fr.md.j2' not found in templates/ (read through {% include %})"),
    ],
    "input-member": [
        (12, 15, "phases.assessment.steps[0].text",
         "text reads 'inputs.marque.nope': inputs.marque is a text: it has no field 'nope' (template line 1)"),
    ],
    "unknown-name": [
        (12, 15, "phases.communication.steps[0].text",
         "template uses unknown name 'responsable': unknown step 'responsable' (known: journal)"),
    ],
    "unknown-field": [
        (13, 15, "phases.communication.steps[1].text",
         "text reads 'pack.nope': step 'pack' (message.pack) has no result field 'nope' (fields: hash, variants, "
         "problems, path, next_update, author, status, note) (template line 1)"),
        (13, 15, "phases.communication.steps[1].text",
         "text reads 'playbook.title': playbook has no field 'title' (fields: id, version) (template line 1)"),
    ],
    # The run would fail on each (a text) or silently read null (the condition).
    "input-removed": [
        (21, 24, "phases.preparation.steps[0].with.marque",
         "text reads 'inputs.marque': unknown input 'marque' (known: gravite) (template line 1)"),
        (24, 15, "phases.preparation.steps[1].text",
         "text reads 'inputs.produit': unknown input 'produit' (known: gravite) (template line 1)"),
        (29, 15, "phases.preparation.steps[2].when", "unknown input 'produit' (known: gravite)"),
    ],
    # Values of different kinds never match: the run reads such a comparison as false (it used to crash there).
    "when-kinds": [
        (16, 15, "phases.assessment.steps[1].when",
         "'journal.text in 5' looks for a text in a number: `in` looks in a list, or for a text in a text"),
        (20, 15, "phases.assessment.steps[2].when",
         "'inputs.nombre == 'un'' compares a number with a text: values of different kinds never match (the "
         "condition would always be false)"),
        (20, 15, "phases.assessment.steps[2].when",
         "'journal.text >= 3' compares a text with a number: values of different kinds never match (the condition "
         "would always be false)"),
    ],
    "unknown-name-when": [
        (19, 15, "phases.assessment.steps[0].when",
         "unknown name 'urgent' (write inputs.urgent, a step result like step_id.field, "
         "or quote a text value)"),
    ],
    # Fails today: the misspelt input also yields "unknown name 'haute' (write inputs.haute …)" and
    # "… compares values that have no order": three issues, two misleading, for one typo.
    "unknown-input": [
        (21, 15, "phases.assessment.steps[0].when", "unknown input 'gravitee' (known: gravite)"),
    ],
    "unknown-result": [
        (21, 15, "phases.assessment.steps[1].when",
         "step 'faits' (checklist.item) has no result field 'statut' "
         "(fields: item, owner, owner_people, status, recorded_at)"),
    ],
    "unknown-playbook": [
        (10, 19, "phases.preparation.steps[0].playbook",
         "unknown playbook 'cellule-de-crise' (no valid playbooks/cellule-de-crise.yaml)"),
    ],
    "call-self": [
        (10, 19, "phases.preparation.steps[0].playbook", "a playbook cannot call itself"),
    ],
    "call-cycle": [
        (10, 19, "phases.preparation.steps[0].playbook",
         "playbook calls loop: call-cycle → call-cycle-partner → call-cycle"),
    ],
    "call-cycle-partner": [
        (10, 19, "phases.preparation.steps[0].playbook",
         "playbook calls loop: call-cycle-partner → call-cycle → call-cycle-partner"),
    ],
    # Fails today: the message reads "unknown input of 'callee' 'produit' (…)" and points at the
    # value `Yaourt` (column 49) instead of the unknown key `produit` (column 40).
    "call-inputs": [
        (11, 40, "phases.preparation.steps[0].with.produit",
         "unknown input 'produit' of 'callee' (known: gravite, marque)"),
    ],
    "call-inputs-value": [
        (13, 20, "phases.preparation.steps[0].with.gravite",
         "'extreme' is not one of faible, moyenne, haute"),
    ],
    "call-inputs-missing": [
        (10, 19, "phases.preparation.steps[0].playbook", "'callee' needs input marque in `with`"),
    ],
    "claim-references": [
        (8, 3, "communication.claim_input", "no input 'rumeur' for a spreading claim: monitoring's correction run "
         "fills it with the claim id; declare `inputs.rumeur` or name yours in `communication.claim_input`"),
        (10, 12, "communication.claims[1].id", "duplicate claim id 'lots'"),
        (19, 16, "phases.communication.steps[1].claim",
         "unknown claim 'lot' (known: lots) (or a text from the inputs: `{{ inputs.rumeur }}`)"),
        (22, 17, "phases.communication.steps[2].kinds[0]",
         "no `correction` message in communication.messages: declare one (its audiences and channels)"),
        (23, 25, "phases.communication.steps[2].audiences_from", "step 'note' is not a claim.spread step"),
    ],
    # Validated, then the English clients got the French facts and claim inside English sentences.
    "fact-languages": [
        (13, 3, "communication.facts", "audience clients_en is written to in en but the fact sheet has no en version: "
         "give it under `translations: {en: …}`"),
        (21, 7, "communication.claims[0]", "claim 'toute_la_production' is corrected in en (clients_en) but has no en "
         "version: give `translations: {en: {claim: …, truth: …}}`"),
    ],
    "partial-translation": [
        (21, 9, "communication.facts.translations.en.advice",
         "partial translation: `advice` is given in fr but not in en"),
        (23, 16, "communication.facts.translations.en.known",
         "partial translation: `known` has 2 item(s) in fr but 1 in en"),
        (24, 7, "communication.facts.translations.fr",
         "the fact sheet is already in fr, the playbook's language: translations are for its other languages"),
        (33, 13, "communication.claims[0].translations.en.truth",
         "partial translation: the truth of claim 'toute_la_production' is given in fr but not in en"),
    ],
}

# Mistakes the models refuse (pydantic); semantic checks never run on these files.
MODEL: dict[str, Expected] = {
    "unknown-key": [
        (15, 9, "phases.preparation.steps[0].titre", "unknown key 'titre' (allowed: id, title, after, when, on_failure, retries, timeout, type, item, owner, channel)"),
    ],
    "misspelt-phase": [
        (11, 3, "phases.comunication", "unknown key 'comunication' (allowed: preparation, assessment, communication, post_crisis)"),
    ],
    "unknown-step-type": [
        (14, 15, "phases.preparation.steps[0].type",
         "unknown step type 'checklist.itme' (known: assessment.run, checklist.item, claim.spread, claim.track, message.approve, message.pack, message.release, note.log, playbook.call, readiness.check, review.actions, "
         "review.collect, review.lessons)"),
    ],
    "missing-field": [
        (8, 9, "phases.preparation.steps[0]", "missing required field 'owner'"),
    ],
    "bad-duration": [
        (17, 18, "phases.preparation.steps[0].timeout", "'soon' is not a duration: write 30s, 15m, 2h or 1d"),
    ],
    "next-update": [
        (11, 44, "communication.facts.next_update",
         "'bientôt' is neither a delay (30m, 2h, 1d) nor an ISO date and time (2026-03-12T18:00)"),
    ],
    # Validated, then rendering the pack overflowed (OverflowError) speaking the time in Paris time.
    "next-update-year": [
        (6, 44, "communication.facts.next_update",
         "'9999-12-31T23:59:00-12:00' is not a date to promise: the next update falls between the years 2000 and "
         "2100"),
    ],
    # Validated, then the pack was sent as no drill at all.
    "drill-word": [
        (17, 16, "phases.communication.steps[0].drill",
         "'exercice' is not a yes/no word: write true or false (or a text like `{{ inputs.exercice }}` that renders "
         "to one)"),
    ],
    "replay-speed": [
        (14, 84, "monitoring.sources[0].replay_speed", "input should be greater than or equal to 0.001"),
    ],
    # Was taken as the text "1.1": a version quietly different from the one written.
    "version-number": [
        (3, 10, "version", "this version is the number 1.1 to YAML, which drops trailing zeros (1.10 becomes 1.1): "
                           'put it in quotes, e.g. version: "1.10"'),
    ],
    "choice-without-choices": [
        (7, 5, "inputs.gravite", "`choices` goes with `type: choice`, and a choice needs choices"),
    ],
}

TEN_MISTAKES: Expected = [
    (15, 13, "team.coordination.backup", "unknown role 'porte_parole' (known: coordination)"),
    (19, 47, "channels.reseaux_sociaux.audiences[0]", "unknown audience 'client' (known: clients)"),
    (27, 17, "phases.preparation.steps[0].after[0]",
     "step 'declaration' is in phase 'communication', which runs after 'preparation': "
     "a step can only follow steps of its own phase or of an earlier one"),
    (30, 19, "phases.preparation.steps[1].playbook",
     "unknown playbook 'cellule-de-crise' (no valid playbooks/cellule-de-crise.yaml)"),
    (36, 16, "phases.assessment.steps[0].owner", "unknown role 'direction' (known: coordination)"),
    (37, 15, "phases.assessment.steps[0].when",
     "unknown name 'urgent' (write inputs.urgent, a step result like step_id.field, or quote a text value)"),
    (42, 19, "phases.communication.steps[0].template",
     "template 'notes/declaration.fr.md.j2' not found in templates/"),
    (47, 18, "phases.communication.steps[1].channel", "unknown channel 'reseaux' (known: reseaux_sociaux)"),
    (48, 30, "phases.communication.steps[1].after[1]",
     "unknown step 'validation' (known: cellule, convocation, declaration, escalade, reponses)"),
    (49, 13, "phases.communication.steps[2].id", "duplicate step id 'escalade' (first defined at line 33)"),
]

VALID = ["callee"]  # the playbook the call-* fixtures call


@pytest.fixture
def project() -> Project:
    return Project(FIXTURES)


def issues_of(project: Project, name: str) -> PlaybookError:
    with pytest.raises(PlaybookError) as caught:
        project.check(PLAYBOOKS / f"{name}.yaml")
    return caught.value


def located(error: PlaybookError) -> Expected:
    return [(i.line, i.column, i.path, i.message) for i in error.issues]


@pytest.mark.parametrize("name", list(SEMANTIC))
def test_a_semantic_mistake_is_reported_at_its_line_and_column(project: Project, name: str) -> None:
    error = issues_of(project, name)
    assert located(error) == SEMANTIC[name]
    assert {Path(i.file).name for i in error.issues} == {f"{name}.yaml"}


@pytest.mark.parametrize("name", list(MODEL))
def test_a_model_mistake_is_reported_at_its_line_and_column(project: Project, name: str) -> None:
    error = issues_of(project, name)
    assert not isinstance(error, PlaybookFileError)  # the YAML is fine; the playbook is not
    assert located(error) == MODEL[name]
    assert {Path(i.file).name for i in error.issues} == {f"{name}.yaml"}


def test_every_rule_listed_in_inspect_has_its_fixture() -> None:
    listing = inspect_module.__doc__.split("Rules", 1)[1].split(":", 1)[1].split(".\n", 1)[0]
    rules = re.findall(r"[a-z]+(?:-[a-z]+)*", listing)
    assert len(rules) == 25
    assert [r for r in rules if r not in SEMANTIC] == []


def test_every_fixture_file_is_in_a_table() -> None:
    on_disk = {p.stem for p in playbook_files(PLAYBOOKS)}
    assert on_disk == {*SEMANTIC, *MODEL, "ten-mistakes", *VALID, *CRASHES}


def test_the_called_playbook_fixture_is_valid(project: Project) -> None:
    assert project.check(PLAYBOOKS / "callee.yaml").playbook.id == "callee"


def test_validating_the_folder_reports_each_file_as_checking_it_alone_does() -> None:
    count, issues = validate([PLAYBOOKS], Project(FIXTURES))
    assert count == len(playbook_files(PLAYBOOKS))
    alone = Project(FIXTURES)
    expected = []
    for path in playbook_files(PLAYBOOKS):
        if path.stem not in VALID:
            expected += issues_of(alone, path.stem).issues
    assert issues == expected


def test_ten_mistakes_in_one_file_yield_ten_issues(project: Project) -> None:
    error = issues_of(project, "ten-mistakes")
    assert located(error) == TEN_MISTAKES
    assert len({message for *_, message in TEN_MISTAKES}) == 10


def crisis(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}  # like CI: not a terminal
    return subprocess.run([str(CRISIS), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_cli_prints_one_line_per_issue_and_exits_1() -> None:
    # Fails today: rich wraps the lines at 80 columns when stdout is not a terminal (23 lines, not 10).
    done = crisis("validate", "playbooks/ten-mistakes.yaml", cwd=FIXTURES)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines == [f"playbooks/ten-mistakes.yaml:{line}:{column}: {path}: {message}"
                     for line, column, path, message in TEN_MISTAKES]
    assert all(re.fullmatch(r"playbooks/ten-mistakes\.yaml:\d+:\d+: [\w.\[\]]+: .+", line) for line in lines)
    assert "10 problem(s) in 1 playbook file(s)" in done.stderr


def test_cli_accepts_the_project_playbooks() -> None:
    done = crisis("validate", cwd=REPO)
    assert (done.returncode, done.stdout) == (0, "")
    assert "playbook file(s) OK" in done.stderr
