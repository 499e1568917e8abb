"""The layering is enforced, not stated: the import contracts name packages, so a module dropped anywhere in the
library is checked the day it is written, without editing pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    for folder in ("src/crisiscomms", "flows", "tasks"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{project / 'src'}{os.pathsep}{project}", "COLUMNS": "400"}
    return subprocess.run([str(LINT), "--no-cache", "--config", str(project / "pyproject.toml")], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_project_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("where", "source", "broken"), [
    ("src/crisiscomms/newdomain.py", "X = 1\n", "every module in a layer"),
    ("src/crisiscomms/monitoring/feed.py", "import prefect\n", "no Prefect"),
    ("src/crisiscomms/playbook/peek.py", "from crisiscomms.communication import release\n", "playbook below"),
    ("src/crisiscomms/communication/shortcut.py", "import flows.engine\n", "never the other way"),
    ("tasks/reach_up.py", "from flows import engine\n", "never the other way"),
    ("src/crisiscomms/monitoring/loop.py", "from crisiscomms.monitoring import monitor\n", "No import cycle"),
], ids=["unlisted-module", "prefect-in-a-domain", "playbook-imports-up", "library-imports-flows",
        "task-imports-flow", "cycle"])
def test_a_new_module_anywhere_is_checked(tmp_path: Path, where: str, source: str, broken: str) -> None:
    project = _copy(tmp_path)
    (project / where).write_text(source)
    if where.endswith("loop.py"):  # close the loop: monitor imports the new module, which imports monitor
        monitor = project / "src/crisiscomms/monitoring/monitor.py"
        monitor.write_text(monitor.read_text() + "\nfrom crisiscomms.monitoring import loop  # noqa\n")
    result = _lint(project)
    assert result.returncode == 1, result.stdout
    assert broken in result.stdout.split("Broken contracts")[-1], result.stdout
