"""Shared test setup: tests never touch the checkout's .crisis/ nor the user's ~/.prefect."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Before anything imports Prefect: an isolated home and no telemetry.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="crisiscomms-tests-")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("PREFECT_API_URL", None)
# Monitoring and assessment state (SQLite) of the runs tests make: a scratch directory, never the checkout's.
os.environ["CRISIS_STATE_DIR"] = tempfile.mkdtemp(prefix="crisiscomms-state-")
