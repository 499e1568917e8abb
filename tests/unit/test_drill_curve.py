"""A volume curve as a drill's replay: every shipped replay is exactly what its drill file's command writes; a curve
with a bad row is refused at its line and field; a long silence after the onset is replayed as silence and said;
a drill given the curve itself replays the same mentions as the script would write."""

from __future__ import annotations

import json
import shlex
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crisiscomms.errors import CrisisError
from crisiscomms.stack.drills.curve import Shape, read_curve, read_texts, replay
from crisiscomms.stack.drills.replay import prepare
from crisiscomms.stack.drills.spec import DrillSpec
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
DRILLS = sorted(p for p in (ROOT / "drills").glob("*.yaml") if not p.name.endswith(".texts.yaml"))
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _command(drill: Path) -> dict[str, str]:
    """The `scripts/drill_replay.py` options its header comment gives."""
    header = []
    for line in drill.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip().removesuffix("\\"))
    command = " ".join(header).split(".venv/bin/python scripts/drill_replay.py", 1)[1]
    head, _, tail = command.partition(" --out ")
    words = [*shlex.split(head), "--out", tail.split()[0]]
    return {words[i].removeprefix("--"): words[i + 1] for i in range(0, len(words) - 1, 2)
            if words[i].startswith("--") and not words[i + 1].startswith("--")}


@pytest.mark.parametrize("drill", DRILLS, ids=[p.stem for p in DRILLS])
def test_each_shipped_replay_is_what_its_drill_files_command_writes(drill: Path) -> None:
    options = _command(drill)
    assert options["out"] == f"data/drills/{drill.stem}.jsonl" and options["texts"] == f"drills/{drill.stem}.texts.yaml"
    shape = Shape(**{k: v for k, v in options.items() if k in ("before", "after", "peak", "calm", "seed")})
    made = replay(ROOT / options["curve"], ROOT / options["texts"], shape)
    shipped = (ROOT / options["out"]).read_text(encoding="utf-8").splitlines()
    assert [json.dumps(m, ensure_ascii=False) for m in made.mentions] == shipped


def _curve(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "curve.csv"
    path.write_text("minute_utc,tweets\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_curve_with_a_bad_row_is_refused_at_its_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(CrisisError, match=r"curve.csv:3: minute_utc: 'yesterday' is not a time"):
        read_curve(_curve(tmp_path, ["2013-04-23T09:59:00Z,1", "yesterday,4"]))
    with pytest.raises(CrisisError, match=r"curve.csv:2: tweets: -2 is below 0"):
        read_curve(_curve(tmp_path, ["2013-04-23T09:59:00Z,-2"]))
    with pytest.raises(CrisisError, match=r"curve.csv:2: tweets: 'many' is not a whole number"):
        read_curve(_curve(tmp_path, ["2013-04-23T09:59:00Z,many"]))
    with pytest.raises(CrisisError, match="never rises to an onset"):
        replay(_curve(tmp_path, ["2013-04-23T09:59:00Z,1", "2013-04-23T12:00:00Z,1"]),
               ROOT / "drills" / "rappel-produit.texts.yaml", Shape())


def test_a_long_silence_after_the_onset_is_replayed_as_silence_and_said(tmp_path: Path) -> None:
    rows = [f"2013-04-23T10:{m:02d}:00Z,6" for m in range(0, 20)]  # the onset: a burst from 10:00
    rows += [f"2013-04-23T12:{m:02d}:00Z,3" for m in range(0, 10)]  # then nothing for 100 minutes
    made = replay(_curve(tmp_path, rows), ROOT / "drills" / "rappel-produit.texts.yaml",
                  Shape(before=10, after=200, peak=30, calm=0))
    assert len(made.gaps) == 1 and "no row for 100 minutes from 2013-04-23 10:20 UTC" in made.gaps[0]
    minutes = {m["created_at"][11:16] for m in made.mentions}
    assert "06:40" not in minutes and "06:15" in minutes  # replay clock 06:00: onset at 06:10, silence 06:30-08:10


def test_the_scenario_posts_are_checked_before_the_drill(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("lang: en\ncalm: [fine]\ncrisis: [ok, {lang: fr}]\n", encoding="utf-8")
    with pytest.raises(CrisisError, match=r"t.yaml: crisis\[1\]: a post is a text or"):
        read_texts(path)
    path.write_text("lang: en\ncalm: []\ncrisis: [ok]\n", encoding="utf-8")
    with pytest.raises(CrisisError, match="calm: at least one post is needed"):
        read_texts(path)
    path.write_text("lang: en\ncalm: [fine]\ncrisis: [ok, {text: grave, lang: fr}]\n", encoding="utf-8")
    assert read_texts(path).crisis == [("ok", "en"), ("grave", "fr")]


def test_a_drill_given_the_curve_replays_what_the_script_writes(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for part in ("playbooks", "templates", "drills", "data/crisislex"):
        shutil.copytree(ROOT / part, project / part)
    shutil.copy(ROOT / "prefect.yaml", project / "prefect.yaml")
    curve = "data/crisislex/2013_Spain_train_crash-volume_per_minute.csv"
    shape = Shape(before=45, after=180, peak=60, calm=0.8)
    spec = DrillSpec(playbook="rappel-produit", replay=curve, curve=shape)
    playbook = Project(project).load("rappel-produit").playbook
    prepared = prepare(project, spec, playbook, tmp_path / "drill", NOW)
    expected = replay(ROOT / curve, ROOT / "drills" / "rappel-produit.texts.yaml", shape).mentions
    assert prepared.replay_lines == len(expected) == 1093 and prepared.unreadable == 0
    assert [json.loads(line.text)["id"] for line in prepared.lines] == [m["id"] for m in expected]
    assert "a volume curve, replayed as 1093 mentions over 225 minutes" in prepared.notes[0]
