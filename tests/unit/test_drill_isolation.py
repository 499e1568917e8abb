"""A drill's stack is its own, on SQLite in the drill's folder, whatever the project uses: started from a project
whose runs and state are in PostgreSQL, it never writes there (nor where real crises are)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crisiscomms.stack.drills.run import _drill_environment
from crisiscomms.stack.server import Stack


def test_a_drill_started_where_the_project_is_on_postgresql_runs_on_sqlite_in_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = {"CRISIS_STATE_DATABASE_URL": "postgresql://crisis:pw@db.internal/crisis?options=-csearch_path%3Dx",
               "PREFECT_API_DATABASE_CONNECTION_URL": "postgresql+asyncpg://crisis:pw@db.internal/crisis",
               "CRISIS_STATE_DIR": str(tmp_path / "project-state")}
    for key, value in project.items():
        monkeypatch.setenv(key, value)
    with _drill_environment("drill-1", tmp_path / "clock", hidden=[]):
        assert not set(project) & set(os.environ)
        env = Stack(tmp_path / "drill" / "project", port=4999).env()  # the drill's stack, as run.py makes it
        assert not set(project) & set(env)
        assert env["PREFECT_HOME"] == str(tmp_path / "drill" / "project" / ".crisis" / "prefect")
    assert {key: os.environ[key] for key in project} == project  # the caller's environment is given back
