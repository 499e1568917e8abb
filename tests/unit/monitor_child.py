"""A scheduled monitoring pass in a process of its own, for the kill tests: `python -m tests.unit.monitor_child
PROJECT STATE_DB RUN_ID`. Prints `ready` once loaded, then reads the project's `flux` source to its end, 50 records a
batch, as the scheduled flow does (entities off: the test kills the pass, not spaCy's loading)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from crisiscomms.monitoring import monitor
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import StoreLedger
from crisiscomms.monitoring.sources import FileReader
from crisiscomms.monitoring.store import Store
from crisiscomms.stack.project import Project

NOW = datetime(2013, 8, 1, 12, 0, tzinfo=UTC)


def main(root: Path, state: Path, run_id: str) -> None:
    playbook = Project(root).load("veille").playbook
    store = Store(state)
    run = monitor.MonitoringPass(playbook, StoreLedger(store, playbook.id, run_id), Enricher(playbook, entities=False),
                                 lambda: NOW)
    print("ready", flush=True)
    done = run.read(FileReader("flux", root / "mentions.jsonl"), chunk=50)
    print(f"done {done.totals.read} {done.failure}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
