"""Rehearsals: every shipped scenario's drill (tests/rehearsals/<playbook>.yaml) runs at high speed with its scripted
approvers, on its own stack, and shows what its rehearsal expects — the post-mortem's timeline in order, each
message sent to each audience in each language, every target of its score met (the score read from the drill's
run history by the review code, never from its script). The demo's runs from the project's own stack, through the
`crisis-drill/drill` deployment (the Run form). See tests/rehearse.py for the file's format."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.rehearse import Rehearsal, check

from .conftest import CHECKOUT
from .drilling import DEPLOYED, FILES, Drilled

# Apprise imports imghdr (deprecated in Python 3.11, gone in 3.13): its warning, not ours.
pytestmark = [pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"), pytest.mark.drill_stack]


def _scenarios() -> list[str]:
    """The shipped playbooks a crisis runs through: a communication phase and monitoring (not the sub-playbooks
    others call, such as cellule-de-crise)."""
    found = []
    for path in sorted((CHECKOUT / "playbooks").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "communication" in data.get("phases", {}) and data.get("monitoring"):
            found.append(path.stem)
    return found


def test_every_shipped_scenario_has_a_rehearsal_and_a_drill() -> None:
    scenarios = _scenarios()
    assert len(scenarios) >= 7  # the demo and the six scenarios of the library
    assert [path.stem for path in FILES] == scenarios
    assert all((CHECKOUT / "drills" / f"{name}.yaml").is_file() for name in scenarios)


@pytest.mark.server
@pytest.mark.parametrize("name", [path.stem for path in FILES])
def test_the_scenario_rehearses_as_expected(drilled: Drilled, name: str) -> None:
    rehearsal = drilled.by_name[name]
    assert rehearsal.code == 0, rehearsal.said[-3000:]
    assert check(rehearsal) == [], rehearsal.said[-3000:]


@pytest.mark.server
def test_a_drill_run_from_the_run_form_logs_its_progress_and_leaves_its_score_as_an_artifact(
        drilled: Drilled) -> None:
    said = drilled.by_name[DEPLOYED].said
    assert drilled.run["state"]["name"] == "Targets met", drilled.run["state"]
    assert "drill stack up: http://127.0.0.1:" in said and " opened by monitoring" in said
    score = [a for a in drilled.artifacts if a["flow_run_id"] == drilled.run["id"]]
    assert len(score) == 1 and score[0]["type"] == "markdown", drilled.artifacts
    assert score[0]["data"].startswith("# Drill rappel-produit-") and "| time to detect |" in score[0]["data"]


def test_a_rehearsal_that_expects_more_than_its_drill_showed_fails(tmp_path: Path) -> None:
    """The checks can fail: a drill's real post-mortem, held to expectations it does not meet."""
    drill = tmp_path / "drill"
    review = drill / "project" / ".crisis" / "reviews" / "c-1"
    review.mkdir(parents=True)
    (review / "post-mortem.json").write_text(
        '{"timeline": [{"kind": "alert"}, {"kind": "pack"}, {"kind": "release"}], "sent": ['
        '{"kind": "holding_statement", "audience": "clients", "language": "fr", "status": "sent"},'
        '{"kind": "correction", "audience": "clients", "language": "fr", "status": "failed"}]}', encoding="utf-8")
    (drill / "score.json").write_text('{"rows": [{"measure": "time to detect", "value": "20 min", '
                                      '"target": "15 min", "met": false}]}', encoding="utf-8")
    rehearsal = Rehearsal("x", tmp_path / "x.yaml", {"expect": {
        "timeline": ["release", "alert"], "sent": ["holding_statement/clients/fr", "correction/clients/fr"],
        "targets": "all"}}, said=f"score: {drill / 'score.md'}; the drill's folder: {drill}")
    problems = check(rehearsal)
    assert [p.split(":")[0] for p in problems] == ["timeline", "sent", "targets"]
    assert "never sent correction/clients/fr" in problems[1] and "time to detect: 20 min" in problems[2]
