"""Playbooks that used to crash `crisis validate`, or got unreadable messages from it: one fixture per kind.

Each fixture (tests/fixtures/invalid/playbooks/) holds exactly the mistake its name says, and each test asserts
the whole list of issues, as tests/unit/test_validation_rules.py does for the validation rules. What crashed
before: impossible dates and times, explicit tags that do not fit their value, a tag on a key, control characters,
integers of more than 4,300 digits, deeply nested conditions and templates. What validated and then failed the
run: a timeout of 10^17 days. What was unreadable: `None: unknown key 'None'`, `missing required field 'None'`, a
doubled path `type.type`, Python reprs such as `datetime.date(2024, 2, 29)`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crisiscomms.errors import Issue, PlaybookError, PlaybookFileError
from crisiscomms.playbook.steps import MAX_DURATION, parse_duration
from crisiscomms.stack.project import Project

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "invalid"
PLAYBOOKS = FIXTURES / "playbooks"
CRISIS = Path(sys.executable).parent / "crisis"

Expected = list[tuple[int, int, str, str]]
ALLOWED_TOP = ("id, version, title, language, description, inputs, team, audiences, channels, monitoring, assessment, "
               "communication, readiness, phases")

# Refused while reading the YAML (PlaybookFileError): the models never see these files.
READING: dict[str, Expected] = {
    "impossible-date": [
        (5, 14, "description", "'2024-02-30' is not a date or time (day is out of range for month)"),
    ],
    "impossible-time": [
        (12, 18, "communication.facts.next_update",
         "'2024-03-12T25:00:00Z' is not a date or time (hour must be in 0..23)"),
    ],
    "int-tag": [
        (5, 11, "language", "'abc' is not a whole number"),
    ],
    "bool-tag": [
        (18, 21, "phases.preparation.steps[0].on_failure", "'maybe' is not true or false"),
    ],
    "tag-on-key": [
        (5, 1, "language", "a key cannot carry a YAML tag (!!int): write the plain word"),
    ],
    "control-del": [
        (4, 15, "", "file contains the control character U+007F, which YAML does not allow: delete it (it is often "
                    "invisible in editors)"),
    ],
    "control-esc": [
        (15, 25, "", "file contains the control character U+001B, which YAML does not allow: delete it (it is often "
                     "invisible in editors)"),
    ],
    "huge-integer": [
        (17, 18, "phases.preparation.steps[0].retries",
         "a number of 5,000 digits is too large: a playbook number is at most 9,007,199,254,740,991"),
    ],
}

# Refused by the models or the checks, with messages that name the field and show values as YAML writes them.
CHECKING: dict[str, Expected] = {
    "huge-timeout": [
        (17, 18, "phases.preparation.steps[0].timeout",
         "'99999999999999999d' is longer than 366 days, the longest duration a playbook may set"),
    ],
    "null-key": [
        (5, 1, "null", f"unknown key 'null' (allowed: {ALLOWED_TOP})"),
    ],
    "source-missing-field": [
        (7, 7, "monitoring.sources[0]", "missing required field 'path'"),
        (8, 7, "monitoring.sources[1]", "missing required field 'type' (the source type: file, rss or http)"),
    ],
    "type-mapping": [
        (7, 11, "inputs.gravite.type", "should be 'string', 'text', 'integer', 'number', 'boolean', 'choice' or "
                                       "'datetime', not a mapping"),
    ],
    "date-default": [
        (7, 5, "inputs.gravite", "2024-02-29 is not of type choice"),
    ],
    # The first condition's 100 parentheses are redundant and fine; the second nests 100 tuples.
    "deep-parentheses": [
        (31, 15, "phases.preparation.steps[2].when", "condition nested more than 32 levels deep: write it more simply"),
    ],
    "deep-jinja": [
        (19, 15, "phases.preparation.steps[1].text",
         "template syntax error: nested more than 16 levels deep ({% if %}, {% for %}, brackets): write it flatter "
         "(template line 1)"),
    ],
}
CRASHES = {**READING, **CHECKING}


def issues_of(name: str) -> PlaybookError:
    with pytest.raises(PlaybookError) as caught:
        Project(FIXTURES).check(PLAYBOOKS / f"{name}.yaml")
    return caught.value


def issues_of_file(root: Path, path: Path) -> list[Issue]:
    with pytest.raises(PlaybookError) as caught:
        Project(root).check(path)
    return caught.value.issues


@pytest.mark.parametrize("name", list(READING))
def test_a_file_that_crashed_the_reader_is_refused_at_its_line_and_column(name: str) -> None:
    error = issues_of(name)
    assert isinstance(error, PlaybookFileError)
    assert [(i.line, i.column, i.path, i.message) for i in error.issues] == READING[name]


@pytest.mark.parametrize("name", list(CHECKING))
def test_a_mistake_that_crashed_or_read_badly_is_reported_at_its_line_and_column(name: str) -> None:
    error = issues_of(name)
    assert not isinstance(error, PlaybookFileError)
    assert [(i.line, i.column, i.path, i.message) for i in error.issues] == CHECKING[name]


def test_a_control_character_inside_a_quoted_value_is_printed_escaped_on_one_line(tmp_path: Path) -> None:
    # YAML's escapes let ESC and a right-to-left override through; printed raw, they would drive the terminal.
    (tmp_path / "prefect.yaml").write_text("name: x\n", encoding="utf-8")
    (tmp_path / "playbooks").mkdir()
    path = tmp_path / "playbooks" / "echappe.yaml"
    path.write_text('id: echappe\nversion: 1.0.0\ntitle: x\nphases: {}\n"x\\e[2J\\u202e": 1\n', encoding="utf-8")
    [issue] = issues_of_file(tmp_path, path)
    assert str(issue).endswith(f"echappe.yaml:5:1: x\\x1b[2J\\u202e: unknown key 'x\\x1b[2J\\u202e' (allowed: "
                               f"{ALLOWED_TOP})")


def test_every_problem_of_the_yaml_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "prefect.yaml").write_text("name: x\n", encoding="utf-8")
    (tmp_path / "playbooks").mkdir()
    path = tmp_path / "playbooks" / "trois.yaml"
    path.write_text("id: trois\nversion: !!int v1\ntitle: x\ntitle: y\ndescription: 2024-02-30\nphases: {}\n",
                    encoding="utf-8")
    assert [(i.line, i.path, i.message) for i in issues_of_file(tmp_path, path)] == [
        (2, "version", "'v1' is not a whole number"),
        (4, "title", "key 'title' appears twice in the same mapping (top level)"),
        (5, "description", "'2024-02-30' is not a date or time (day is out of range for month)"),
    ]


@pytest.mark.parametrize(("value", "seconds"), [(90, 90), ("45s", 45), ("30m", 1800), ("366d", MAX_DURATION)])
def test_a_duration_up_to_366_days_is_read_in_seconds(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["367d", MAX_DURATION + 1, "9" * 5000 + "s", "99999999999999999d"])
def test_a_duration_beyond_366_days_is_refused_saying_the_bound(value: object) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="is longer than 366 days, the longest duration a playbook may set"):
        parse_duration(value)
    assert time.perf_counter() - started < 0.1


def test_the_cli_prints_reading_problems_with_their_path_and_exits_1() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    done = subprocess.run([str(CRISIS), "validate", "playbooks/bool-tag.yaml", "playbooks/huge-integer.yaml"],
                          cwd=FIXTURES, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "playbooks/bool-tag.yaml:18:21: phases.preparation.steps[0].on_failure: 'maybe' is not true or false",
        "playbooks/huge-integer.yaml:17:18: phases.preparation.steps[0].retries: a number of 5,000 digits is too "
        "large: a playbook number is at most 9,007,199,254,740,991",
    ]
