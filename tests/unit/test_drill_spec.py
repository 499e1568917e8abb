"""A drill's file and its replay, before any stack: clear errors at their line, the recorded crisis re-stamped
onto the drill's clock in its own order, broken lines kept in place for monitoring to quarantine, injects added."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from crisiscomms.errors import CrisisError, PlaybookError
from crisiscomms.stack.drills.replay import DOWN, SOURCE, prepare
from crisiscomms.stack.drills.spec import DrillSpec, check_against, read_approvers, read_drill, spec_for
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def test_the_shipped_drill_file_reads() -> None:
    spec = read_drill(ROOT / "drills" / "rappel-produit.yaml")
    assert spec.playbook == "rappel-produit" and spec.approvers and spec.injects[0].kind == "claim"


def test_a_bad_drill_file_names_each_problem_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    path.write_text("playbook: rappel-produit\nreplay: x.jsonl\ninjects:\n  - {at: 1h30m, claim: a}\n"
                    "  - {at: 2h, claim: a, question: why?}\nspeed: 3\n", encoding="utf-8")
    with pytest.raises(PlaybookError) as caught:
        read_drill(path, "d.yaml")
    lines = [str(issue) for issue in caught.value.issues]
    assert any(text.startswith("d.yaml:4:") and "'1h30m' is not a duration" in text for text in lines), lines
    assert any(text.startswith("d.yaml:5:") and "exactly one of claim, question, channel_down" in text
               for text in lines), lines
    assert any(text.startswith("d.yaml:6:") and "unknown key 'speed'" in text for text in lines), lines


def test_scripted_approvers_and_the_command_line_over_the_drill_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("Sophie Lefèvre: {after: 30m}\n", encoding="utf-8")
    base = read_drill(ROOT / "drills" / "rappel-produit.yaml")
    spec = spec_for(base, "rappel-produit", "other.jsonl", read_approvers(path))
    assert spec.replay == "other.jsonl" and list(spec.approvers or {}) == ["Sophie Lefèvre"]
    assert spec.injects == base.injects
    with pytest.raises(CrisisError, match="not autre"):
        spec_for(base, "autre", None, None)
    with pytest.raises(CrisisError, match="say what to drill"):
        spec_for(None, "rappel-produit", None, None)


def test_the_replay_keeps_its_order_on_the_drill_clock_with_broken_lines_in_place_and_injects_added(
        tmp_path: Path) -> None:
    project = tmp_path / "project"
    for part in ("playbooks", "templates", "data/demo"):
        (project / part).parent.mkdir(parents=True, exist_ok=True)
        import shutil
        shutil.copytree(ROOT / part, project / part)
    (project / "prefect.yaml").write_text((ROOT / "prefect.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    t0 = datetime(2013, 7, 24, 19, 0, tzinfo=UTC)
    lines = [json.dumps({"id": "a", "created_at": (t0 + timedelta(minutes=5)).isoformat(), "text": "x"}),
             "{broken", json.dumps({"id": "b", "created_at": t0.isoformat(), "text": "y", "gold": {"x": 1}}),
             json.dumps({"id": "c", "created_at": (t0 + timedelta(minutes=9)).isoformat(), "text": "z"})]
    (project / "data" / "replay.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = DrillSpec.model_validate({"playbook": "rappel-produit", "replay": "data/replay.jsonl", "injects": [
        {"at": "7m", "claim": "toute_la_production", "mentions": 2}, {"at": "8m", "channel_down": "site_web"}]})
    playbook = Project(project).load("rappel-produit").playbook
    prepared = prepare(project, spec, playbook, tmp_path / "drill", NOW)
    assert prepared.start < NOW - timedelta(days=1) and prepared.start.minute % 5 == 0
    texts = [line.text for line in prepared.lines]
    ids = [json.loads(t)["id"] if t.startswith("{\"") else t for t in texts]
    assert ids == ["b", "a", "{broken", "inject-claim-420-0", "inject-claim-420-1", "c"]
    assert (prepared.replay_lines, prepared.unreadable) == (4, 1)
    assert [line.at - prepared.start for line in prepared.lines][:2] == [timedelta(0), timedelta(minutes=5)]
    assert "gold" not in texts[0]
    copy = prepared.root
    assert yaml.safe_load((copy / "playbooks" / "rappel-produit.yaml").read_text("utf-8"))["monitoring"][
        "sources"] == [{"id": "drill", "type": "file", "title": "Drill replay", "path": SOURCE}]
    config = yaml.safe_load((copy / "prefect.yaml").read_text("utf-8"))
    assert all(not s["active"] for d in config["deployments"] for s in d.get("schedules") or [])
    downs = json.loads((copy / ".crisis" / DOWN).read_text("utf-8"))
    assert list(downs) == ["site_web"]


def test_a_claim_the_playbook_does_not_declare_is_refused(tmp_path: Path) -> None:
    spec = DrillSpec.model_validate({"playbook": "rappel-produit", "replay": "data/drills/rappel-produit.jsonl",
                                     "injects": [{"at": "7m", "claim": "inconnue"}]})
    playbook = Project(ROOT).load("rappel-produit").playbook
    with pytest.raises(CrisisError, match="claim 'inconnue' is not declared"):
        prepare(ROOT, spec, playbook, tmp_path / "drill", NOW)


def test_a_scripted_approver_not_in_the_team_or_a_channel_the_playbook_lacks_is_refused_by_name() -> None:
    playbook = Project(ROOT).load("rappel-produit").playbook
    base = read_drill(ROOT / "drills" / "rappel-produit.yaml")
    check_against(base, playbook)  # the shipped drill names real people and channels
    stranger = base.model_copy(update={"approvers": {"Sophie Lefevre": base.approvers["Sophie Lefèvre"],  # type: ignore[index]
                                                     "Jean Inconnu": base.approvers["Claire Martin"]}})  # type: ignore[index]
    with pytest.raises(CrisisError, match="not in playbook rappel-produit's team: Jean Inconnu \\("):
        check_against(stranger, playbook)
    down = DrillSpec.model_validate({"playbook": "rappel-produit", "replay": "x",
                                     "injects": [{"at": "5m", "channel_down": "fax"}]})
    with pytest.raises(CrisisError, match="does not have: fax"):
        check_against(down, playbook)



def test_a_drill_whose_crisis_never_closed_is_scored_as_such() -> None:
    from crisiscomms.stack.drills.score import markdown, score

    spec = read_drill(ROOT / "drills" / "rappel-produit.yaml")
    result = score("d-1", spec, None, NOW, {"read": 3}, crisis="rappel-produit-20261202-1")
    assert result.crisis == "rappel-produit-20261202-1" and result.met == 0 and result.held == 1
    assert "the all-clear was never released" in markdown(result)
    never = score("d-2", spec, None, NOW, {})
    assert never.rows[0].value == "never: no crisis was opened"
