"""A scheduled monitoring pass in a process of its own, for the kill tests: `python -m tests.unit.monitor_child
PROJECT STATE_DB RUN_ID [loop]`. Prints `ready` once loaded, then reads the project's `flux` source to its end, 50
records a batch, as the scheduled flow does (entities off: the test kills the pass, not spaCy's loading). STATE_DB
`-`: the project's own state, where the environment puts it (SQLite or PostgreSQL). `loop`: a worker's passes, one
after the other, until it is killed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from crisiscomms.monitoring import monitor
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import StoreLedger
from crisiscomms.monitoring.sources import FileReader
from crisiscomms.monitoring.store import Store, open_store
from crisiscomms.stack.project import Project

NOW = datetime(2013, 8, 1, 12, 0, tzinfo=UTC)


def main(root: Path, state: str, run_id: str, loop: bool = False) -> None:
    playbook = Project(root).load("veille").playbook
    store = open_store(root) if state == "-" else Store(Path(state))
    enricher = Enricher(playbook, entities=False)
    print("ready", flush=True)
    passes = 0
    while True:
        run = monitor.MonitoringPass(playbook, StoreLedger(store, playbook.id, f"{run_id}-{passes}"), enricher,
                                     lambda: NOW)
        done = run.read(FileReader("flux", root / "mentions.jsonl"), chunk=50)
        if not loop:
            print(f"done {done.totals.read} {done.failure}", flush=True)
            return
        passes += 1


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], loop=sys.argv[4:] == ["loop"])
