"""Every command that takes a playbook takes it by id or by path — a path into the project's playbooks/ folder.

A playbook runs from playbooks/, by its id (deployments, `playbook.call`, the run history all name it so): a file
elsewhere is refused with where it should be; an unknown id is refused with the ids there are.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crisiscomms.communication import killswitch
from crisiscomms.stack.cli import app

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "tests" / "fixtures" / "monitoring"
CRISIS = str(Path(sys.executable).parent / "crisis")


def _crisis(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return subprocess.run([CRISIS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (a run's .crisis/ state never lands in the checkout), with a playbook outside it."""
    target = tmp_path / "project"
    target.mkdir()
    shutil.copy(ROOT / "prefect.yaml", target)
    for folder in ("playbooks", "templates", "flows", "tasks", "data"):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "playbooks" / "cellule-de-crise.yaml", tmp_path / "cellule-de-crise.yaml")
    return target


def test_run_takes_a_playbook_by_its_path(project: Path) -> None:
    done = _crisis(project, "run", "playbooks/cellule-de-crise.yaml", "--phase", "preparation",
                   "--param", "marque=Laiterie Duval", "--param", "gravite=haute")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout[done.stdout.index("{"):]) == {
        "convocation": "completed", "salle": "completed", "journal": "completed"}


def test_monitor_takes_a_playbook_by_its_path(tmp_path: Path) -> None:
    mentions, out = tmp_path / "mentions.jsonl", tmp_path / "out.jsonl"
    mentions.write_text("".join(json.dumps({"id": f"m{i}", "created_at": f"2026-03-12T08:0{i}:00Z",
                                            "text": f"Rappel Laiterie Duval, lot {i}"}) + "\n" for i in range(3)),
                        encoding="utf-8")
    done = _crisis(MONITORING, "monitor", "playbooks/veille.yaml", "--input", str(mentions), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == ["m0", "m1", "m2"]


@pytest.mark.parametrize("command", [
    ["run", "../cellule-de-crise.yaml"],
    ["monitor", "../cellule-de-crise.yaml", "--input", "x.jsonl", "--out", "y.jsonl"],
    ["plan", "../cellule-de-crise.yaml"],
])
def test_a_playbook_file_outside_playbooks_is_refused_saying_where_it_belongs(
    project: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    done = CliRunner().invoke(app, command)
    assert done.exit_code in (1, 2)
    assert (f"../cellule-de-crise.yaml: not in this project's playbooks/ folder ({project / 'playbooks'}): a "
            "playbook runs from there, by its id; move or copy the file there") in done.output
    assert not (project / ".crisis").exists()  # nothing started


def test_an_unknown_playbook_id_or_file_is_refused_with_the_known_ones(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    for reference in ("inconnu", "playbooks/inconnu.yaml"):
        done = CliRunner().invoke(app, ["monitor", reference, "--input", "x.jsonl", "--out", "y.jsonl"])
        assert done.exit_code == 1
        known = ", ".join(sorted(path.stem for path in (project / "playbooks").glob("*.yaml")))
        assert "rappel-produit" in known and f"(available: {known})" in " ".join(done.output.split())


def test_the_kill_switch_takes_a_playbook_by_path_and_refuses_one_outside(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # a halt also cancels runs on a server: there is none here
    runner = CliRunner()
    outside = runner.invoke(app, ["halt", "--reason", "x", "--by", "Claire", "--playbook", "../cellule-de-crise.yaml"])
    assert outside.exit_code == 2 and "not in this project's playbooks/ folder" in outside.output
    halted = runner.invoke(app, ["halt", "--reason", "Lot", "--by", "Claire", "--playbook",
                                 "playbooks/rappel-produit.yaml"])
    assert halted.exit_code == 0, halted.output
    assert killswitch.current(project, "rappel-produit") is not None
    lifted = runner.invoke(app, ["unhalt", "--by", "Claire", "--playbook", "./playbooks/rappel-produit.yaml"])
    assert lifted.exit_code == 0 and killswitch.current(project, "rappel-produit") is None


def test_validate_and_plan_take_a_playbook_by_id_too(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    validated = CliRunner().invoke(app, ["validate", "cellule-de-crise"])
    assert validated.exit_code == 0 and "1 playbook file(s) OK" in validated.output
    planned = CliRunner().invoke(app, ["plan", "playbooks/cellule-de-crise.yaml", "--json"])
    assert planned.exit_code == 0, planned.output
    assert "convocation" in planned.stdout
