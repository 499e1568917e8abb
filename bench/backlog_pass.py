"""A scheduled monitoring pass that finds a backlog waiting: time and peak memory, read in batches (the product)
against read at once (the reference: how the pass read before `monitoring.batch`), on the same lines.

    .venv/bin/python bench/backlog_pass.py [--count 200000] [--batch 5000] [--no-reference]

Each side runs in a fresh process (peak resident memory is per process: ru_maxrss of the child) with its own
store, through `MonitoringPass.read` into the SQLite store exactly as the scheduled flow's `monitor.source` task
does, with the `rappel-produit` playbook's analysis (language, watchlist, sentiment, entities, audience). The
lines are CrisisLexT26 tweets in their real order (the five events' tweets sorted by time, copies one after the
other, ids made unique, re-stamped one second apart). Data: CrisisLexT26 (Olteanu, Vieweg, Castillo, CSCW
2015; MIT).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def child(path: Path, state: Path, batch: int | None) -> None:
    """One pass over `path` into a fresh store; prints its figures as JSON."""
    from crisiscomms.monitoring import monitor
    from crisiscomms.monitoring.enrich import Enricher
    from crisiscomms.monitoring.ledger import StoreLedger
    from crisiscomms.monitoring.sources import FileReader
    from crisiscomms.monitoring.store import Store
    from crisiscomms.stack.project import Project

    playbook = Project(ROOT).load("rappel-produit").playbook
    newest = max(json.loads(line)["created_at"] for line in path.open(encoding="utf-8"))
    now = datetime.fromisoformat(newest.replace("Z", "+00:00")) + timedelta(minutes=1)  # the backlog is recent
    store = Store(state)
    run = monitor.MonitoringPass(playbook, StoreLedger(store, playbook.id, "bench"), Enricher(playbook), lambda: now)
    started = time.perf_counter()
    done = run.read(FileReader("backlog", path), chunk=batch)
    seconds = time.perf_counter() - started
    batches = store._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    print(json.dumps({"read": done.totals.read, "processed": done.totals.processed,
                      "quarantined": done.totals.quarantined, "failure": done.failure, "seconds": seconds,
                      "batches": batches, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def build(count: int, target: Path) -> None:
    """`count` CrisisLex tweets in their real order, copies of the five events one after the other (ids unique),
    re-stamped one second apart so the whole backlog is days, not the events' year, old."""
    tweets = []
    for path in sorted((ROOT / "data" / "crisislex").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record.pop("gold", None)  # crowd labels are for measuring quality only
            tweets.append(record)
    tweets.sort(key=lambda r: r["created_at"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with target.open("w", encoding="utf-8") as handle:
        for i in range(count):
            copy, record = divmod(i, len(tweets))
            tweet = dict(tweets[record])
            tweet.update(id=f"{tweet['id']}-{copy}", created_at=(start + timedelta(seconds=i)).isoformat())
            handle.write(json.dumps(tweet, ensure_ascii=False) + "\n")


def run_side(path: Path, batch: int | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as state:
        argv = [sys.executable, __file__, "--child", str(path), str(Path(state) / "monitoring.db"),
                str(batch or 0)]
        env = {**os.environ, "CRISIS_STATE_DIR": state}
        out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]) or None)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--no-reference", action="store_true", help="skip the read-at-once reference")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "backlog.jsonl"
        build(args.count, path)
        sides = {f"batches of {args.batch}": run_side(path, args.batch)}
        if not args.no_reference:
            sides["at once (reference)"] = run_side(path, None)
    print(f"{args.count} waiting lines, one scheduled pass, load average {os.getloadavg()[0]:.2f}")
    print("| read | processed | quarantined | commits | seconds | lines/s | peak MB |  |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, s in sides.items():
        print(f"| {s['read']} | {s['processed']} | {s['quarantined']} | {s['batches']} | {s['seconds']:.0f} | "
              f"{s['read'] / s['seconds']:.0f} | {s['peak_mb']:.0f} | {name} |")
    if len(sides) == 2:
        ours, ref = sides.values()
        print(f"peak memory {ours['peak_mb'] / ref['peak_mb']:.2f}× the reference, time "
              f"{ours['seconds'] / ref['seconds']:.2f}×")


if __name__ == "__main__":
    main()
