"""`crisis run` from a terminal, on the embedded default (ephemeral Prefect on SQLite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CRISIS = str(Path(sys.executable).parent / "crisis")


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project, so the run's .crisis/ state never lands in the checkout."""
    target = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "prefect.yaml", target)
    for folder in ("playbooks", "templates", "flows", "tasks", "data"):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _crisis(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return subprocess.run([CRISIS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_one_phase_runs_from_the_cli_on_the_embedded_default(project_copy: Path) -> None:
    done = _crisis(project_copy, "run", "rappel-produit", "--phase", "assessment", "--param", "gravite=moyenne")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "embedded (ephemeral server on SQLite" in done.stderr
    statuses = json.loads(done.stdout[done.stdout.index("{"):])
    assert statuses == {"alerte": "skipped", "assessment": "completed", "faits": "completed", "parties_prenantes": "completed", "escalade": "skipped",
                        "synthese": "completed"}
    assert (project_copy / ".crisis" / "prefect" / "prefect.db").is_file()  # the run history stays


def test_an_approval_on_the_embedded_default_fails_at_once_instead_of_waiting_for_nobody(project_copy: Path) -> None:
    done = _crisis(project_copy, "run", "rappel-produit", "--phase", "communication")
    assert done.returncode == 1
    assert "an approval needs a Prefect server that approvers can reach" in done.stderr
    assert not (project_copy / ".crisis" / "outbox").exists()  # nothing released
    submitted = _crisis(project_copy, "run", "rappel-produit", "--phase", "communication", "--param",
                        "soumettre=false")
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    statuses = json.loads(submitted.stdout[submitted.stdout.index("{"):])
    assert (statuses["messages"], statuses["validation"], statuses["diffusion"]) == ("completed", "skipped",
                                                                                      "skipped")


def test_bad_crisis_inputs_are_refused_before_anything_runs(project_copy: Path) -> None:
    done = _crisis(project_copy, "run", "rappel-produit", "--param", "gravite=apocalyptique", "--param", "x=1")
    assert done.returncode == 1
    assert "input 'gravite': 'apocalyptique' is not one of faible, moyenne, haute, critique" in done.stderr
    assert "'x' is not an input of playbook 'rappel-produit'" in done.stderr


def test_an_unknown_playbook_or_phase_is_refused_with_the_choices(project_copy: Path) -> None:
    unknown = _crisis(project_copy, "run", "inconnu")
    assert unknown.returncode == 1
    known = ", ".join(sorted(path.stem for path in (project_copy / "playbooks").glob("*.yaml")))
    assert "no playbook 'inconnu'" in unknown.stderr and f"(available: {known})" in unknown.stderr
    phase = _crisis(project_copy, "run", "rappel-produit", "--phase", "evaluation")
    assert phase.returncode == 2
    assert "'evaluation' is not one of all, preparation" in phase.stderr


def test_validate_schema_and_list_commands(project_copy: Path) -> None:
    assert _crisis(project_copy, "validate").returncode == 0
    assert _crisis(project_copy, "schema", "--check").returncode == 0
    listed = _crisis(project_copy, "list")
    assert "rappel-produit" in listed.stdout and "preparation:5" in listed.stdout


def test_a_run_uses_the_playbooks_of_the_project_it_is_started_in(tmp_path: Path) -> None:
    """Not those of the checkout the flows were installed from (`checklist-item` exists only in this project)."""
    other = tmp_path / "other"
    shutil.copytree(ROOT / "tests" / "fixtures" / "steps", other)
    done = _crisis(other, "run", "checklist-item", "--phase", "preparation")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout[done.stdout.index("{"):]) == {"joignable": "completed"}
