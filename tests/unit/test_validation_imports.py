"""`crisis validate` answers fast because it imports only what it needs: never Prefect, spaCy, Great Expectations,
pandas, FastAPI, numpy or httpx (bench/validate_speed.py times it). Each check runs in a fresh interpreter, since
this test session has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("prefect", "spacy", "great_expectations", "pandas", "fastapi", "numpy", "httpx", "sqlalchemy", "uvicorn")
PROBE = """
import json, os, sys
from typer.testing import CliRunner
from crisiscomms.stack.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(os.environ["HEAVY"])))
print(json.dumps({"exit": result.exit_code, "heavy": loaded, "models": "crisiscomms.playbook.models" in sys.modules}))
"""


def loaded_by(*args: str) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", "HEAVY": json.dumps(HEAVY), "HOME": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("command", [["validate"], ["validate", "playbooks/rappel-produit.yaml"], ["list"],
                                     ["schema", "--check"], ["plan", "rappel-produit"]])
def test_playbook_commands_import_neither_prefect_nor_the_analysis_stack(command: list[str]) -> None:
    assert loaded_by(*command) == {"exit": 0, "heavy": [], "models": True}


def test_pending_starts_without_the_playbook_models() -> None:
    # No server here (no PREFECT_API_URL): pending says so and stops, having read no playbook.
    found = loaded_by("pending")
    assert found["exit"] == 2 and found["models"] is False and "prefect" not in found["heavy"]
