"""Shared test setup: tests never touch the checkout's .crisis/ nor the user's ~/.prefect."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import postgres_server, state_backend  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]

# Before anything imports Prefect: an isolated home and no telemetry.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="crisiscomms-tests-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("PREFECT_API_URL", None)
# Monitoring and assessment state (SQLite) of the runs tests make: a scratch directory, never the checkout's.
os.environ["CRISIS_STATE_DIR"] = tempfile.mkdtemp(prefix="crisiscomms-state-")
# The flows serve this checkout's playbooks unless a command says otherwise.
os.environ.pop("CRISIS_PROJECT_ROOT", None)


@pytest.fixture(autouse=True)
def _project_root_restored() -> Iterator[None]:
    """Commands run in this process (CliRunner) set CRISIS_PROJECT_ROOT for the flows they start: undone after each
    test, so no later test — nor a stack it starts — serves another test's project."""
    before = os.environ.get("CRISIS_PROJECT_ROOT")
    yield
    if before is None:
        os.environ.pop("CRISIS_PROJECT_ROOT", None)
    else:
        os.environ["CRISIS_PROJECT_ROOT"] = before
