"""Two workers passing over one monitored source at once, each SIGKILLed at random 20 times in all and started
again: every record is stored once — none lost, none read into the store twice — on SQLite and on PostgreSQL. Each
batch commits only from the watermark it was read from (a worker overtaken by the other stores nothing), and a
killed worker's batch is all or nothing."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

from crisiscomms.monitoring.store import open_store
from crisiscomms.stack.project import Project
from tests.unit.test_monitor import _append, _tweets, project
from tests.unit.test_monitor_fuzz import _hostile_file

_ = project
KILLS = 20
ROOT = Path(__file__).resolve().parents[2]


def _worker(project: Project, name: str, logs: Path) -> subprocess.Popen[str]:
    with (logs / f"{name}.err").open("w") as errors:
        child = subprocess.Popen([sys.executable, "-m", "tests.unit.monitor_child", str(project.root), "-", name,
                                  "loop"], cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_two_workers_on_one_source_killed_twenty_times_store_every_record_once(
        project: Project, tmp_path: Path, state_backend: str) -> None:
    feed = project.root / "mentions.jsonl"
    records = _hostile_file(feed, seed=11)  # good and hostile records alike
    _append(feed, _tweets(400))
    records += 400
    rng = random.Random(20261204)
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = [_worker(project, "a-0", logs), _worker(project, "b-0", logs)]
    try:
        for kill in range(1, KILLS + 1):
            time.sleep(rng.uniform(0.2, 1.5))
            if kill % 5 == 0:  # the source grows meanwhile, as a live feed does
                _append(feed, _tweets(100, offset=400 + 100 * (kill // 5 - 1)))
                records += 100
            victim = rng.randrange(2)
            assert workers[victim].poll() is None, (logs / f"{workers[victim].args[5]}.err").read_text()[-3000:]
            workers[victim].kill()  # SIGKILL: whatever it was doing (reading, gating, committing)
            workers[victim].wait()
            workers[victim] = _worker(project, f"{'ab'[victim]}-{kill}", logs)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _totals(tmp_path)[0] < records:
            time.sleep(1)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    read, processed, quarantined, mentions, distinct = _totals(tmp_path)
    assert read == processed + quarantined == records  # every record once: none lost, none committed twice
    assert mentions == distinct == processed
    said = {path.name: path.read_text() for path in logs.iterdir()}
    assert not [name for name, text in said.items() if "Traceback" in text], said  # no pass failed: overtaken, not broken


def _totals(root: Path) -> tuple[int, int, int, int, int]:
    store = open_store(root)
    try:
        totals = store.totals("veille")
        mentions, distinct = store.database.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM mentions").fetchone()
        return totals.read, totals.processed, totals.quarantined, mentions, distinct
    finally:
        store.close()
