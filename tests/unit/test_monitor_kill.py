"""Kill -9 at random points of the scheduled pass: each batch is committed whole or not at all, so after any number
of kills the next pass goes on where the last commit left it — nothing lost, nothing read twice."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from crisiscomms.monitoring.store import Store
from crisiscomms.stack.project import Project
from tests.unit.test_monitor import _append, _tweets, project
from tests.unit.test_monitor_fuzz import _hostile_file

_ = project
KILLS = 22
ROOT = Path(__file__).resolve().parents[2]


def _start(project: Project, state: Path, run_id: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-m", "tests.unit.monitor_child", str(project.root), str(state), run_id],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_twenty_kills_at_random_points_of_the_pass_lose_nothing_and_read_nothing_twice(
        project: Project, tmp_path: Path) -> None:
    feed = project.root / "mentions.jsonl"
    records = _hostile_file(feed, seed=7)  # good and hostile records alike
    _append(feed, _tweets(600))
    records += 600
    state, rng, finished = tmp_path / "state.db", random.Random(20261203), 0
    for kill in range(KILLS):
        child = _start(project, state, f"run-{kill}")
        time.sleep(rng.uniform(0.0, 1.5))
        child.kill()  # SIGKILL: no cleanup, whatever the pass was doing (reading, gating, committing)
        finished += child.wait() == 0
    final = _start(project, state, "final")
    assert final.communicate(timeout=300)[0].startswith("done") and final.returncode == 0
    store = Store(state)
    try:
        totals = store.totals("veille")
        mentions = store._db.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM mentions").fetchone()
        quarantined = store._db.execute("SELECT COUNT(*), COUNT(DISTINCT position) FROM quarantine").fetchone()
    finally:
        store.close()
    assert finished < KILLS // 2, "most kills must land before the pass ends, or they test nothing"
    assert totals.read == totals.processed + totals.quarantined == records
    assert mentions == (totals.processed, totals.processed)  # no mention stored twice
    assert quarantined == (totals.quarantined, totals.quarantined)  # no record set aside twice
