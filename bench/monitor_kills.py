"""Two Prefect workers and one monitored source, killed at random (issue 16): no record read twice or lost.

    .venv/bin/python bench/monitor_kills.py [--kills 20] [--postgres] [--port PORT]

Everything is real and local: a copy of this project in a temporary folder with a playbook watching one growing
JSONL source (CrisisLex tweets), started with `crisis up` as a user would (`--postgres`: as `crisis up --postgres`
starts it, runs and state in a PostgreSQL cluster of its own), and a second `prefect worker` pulling the same work
pool. Runs of the `crisis-monitor/monitor` deployment for that playbook are kept two at a time in flight (its limit
of one run at a time lifted, as two deployments of one playbook would have it), so the two workers pass over the one
source at once, kept apart by the source's slot alone; the source grows meanwhile; `--kills` times, the process of
one of those runs is SIGKILLed at a random moment of its first `--within` seconds of running (wherever it is:
loading, waiting for the source's slot, reading, enriching, committing). Then passes go on until every record is in.

The bench fails (exit 1) unless: every record was read once (read = processed + quarantined = records written),
the store holds each mention once, and no monitoring run failed (a killed run is `Crashed`, the others complete).
It reports the kills, the runs, and how long passes waited on a killed holder's slot (its 60 s lease).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

import httpx  # noqa: E402
from project_copy import make_project, say  # noqa: E402

from crisiscomms.monitoring.store import open_store  # noqa: E402
from crisiscomms.stack import server  # noqa: E402
from crisiscomms.stack.server import LOCAL, Stack  # noqa: E402
from crisiscomms.state import URL_VARIABLE  # noqa: E402
from tests.integration.helpers import FINAL_STATES, flow_run_processes  # noqa: E402

PLAYBOOK_ID = "veille-kills"
TWEETS = ROOT / "data" / "crisislex" / "2013_Spain_train_crash.jsonl"
PLAYBOOK = """\
id: veille-kills
version: 1.0.0
title: Veille — deux workers
monitoring:
  languages: [fr, en]
  watch:
    en: {keywords: [recall, explosion, train], hashtags: ["#foodsafety"]}
  sources:
    - {id: flux, type: file, path: mentions.jsonl}
  detection: {window: 1m}
phases: {}
"""


class Feed:
    """The monitored file, growing in chunks of CrisisLex tweets (crowd labels left out, as the product reads)."""

    def __init__(self, path: Path) -> None:
        self.path, self.lines, self.written = path, TWEETS.read_text(encoding="utf-8").splitlines(), 0

    def grow(self, count: int) -> None:
        """`count` more, dated the last `count` seconds (a live feed: older ones would be quarantined as stale)."""
        now = datetime.now(UTC)
        with self.path.open("a", encoding="utf-8") as handle:
            chunk = self.lines[self.written:self.written + count]
            for index, line in enumerate(chunk):
                record = json.loads(line)
                record.pop("gold", None)
                record["created_at"] = (now - timedelta(seconds=len(chunk) - index)).isoformat()
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.written = min(len(self.lines), self.written + count)


class Passes:
    """The bench's monitoring runs: kept `width` at a time in flight."""

    def __init__(self, api: httpx.Client, width: int = 2) -> None:
        self.api, self.width, self.runs = api, width, list[str]()
        self.deployment = api.get("/deployments/name/crisis-monitor/monitor").json()["id"]
        api.post(f"/deployments/{self.deployment}/pause_deployment")  # no scheduled pass of the demo meanwhile
        # Its limit of one run at a time lifted, as two deployments watching one playbook would have it: only the
        # source's slot keeps the two workers' passes apart.
        api.patch(f"/deployments/{self.deployment}", json={"concurrency_limit": width}).raise_for_status()

    def states(self) -> dict[str, str]:
        if not self.runs:
            return {}
        found = self.api.post("/flow_runs/filter", json={"flow_runs": {"id": {"any_": self.runs}},
                                                           "limit": 200}).json()
        return {run["id"]: run["state_type"] for run in found}

    def running(self) -> set[str]:
        return {run_id for run_id, state in self.states().items() if state == "RUNNING"}

    def in_flight(self) -> set[str]:
        return {run_id for run_id, state in self.states().items() if state not in FINAL_STATES}

    def top_up(self) -> None:
        for _ in range(self.width - len(self.in_flight())):
            created = self.api.post(f"/deployments/{self.deployment}/create_flow_run",
                                    json={"state": {"type": "SCHEDULED"}, "parameters": {"playbook": PLAYBOOK_ID}})
            self.runs.append(created.json()["id"])


def totals(root: Path) -> tuple[int, int, int, int, int]:
    store = open_store(root)
    try:
        found = store.totals(PLAYBOOK_ID)
        mentions, distinct = store.database.execute(
            "SELECT COUNT(*), COUNT(DISTINCT id) FROM mentions WHERE playbook=?", (PLAYBOOK_ID,)).fetchone()
        return found.read, found.processed, found.quarantined, int(mentions), int(distinct)
    finally:
        store.close()


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    project = make_project(tmp / "project", {PLAYBOOK_ID: PLAYBOOK})
    feed = Feed(project / "mentions.jsonl")
    feed.grow(400)
    stack = Stack(project, port=args.port, database=LOCAL if args.postgres else "")
    server.up(stack, say)
    os.environ.update({k: v for k, v in stack.database_env().items() if k == URL_VARIABLE})
    user, _, password = (stack.credential() or "").partition(":")
    kills, started = 0, time.monotonic()
    try:
        server.spawn(stack, "worker-2", server.prefect_command("worker", "start", "--pool", server.WORK_POOL,
                                                              "--name", "crisis-worker-2"))
        with httpx.Client(base_url=stack.api_url, auth=(user, password), timeout=90) as api:
            passes = Passes(api)
            while kills < args.kills:
                passes.top_up()
                running = passes.running()
                victims = flow_run_processes(running)
                if not victims:
                    time.sleep(0.5)
                    continue
                pid = rng.choice(sorted(victims))
                # Anywhere in the pass once its flow runs: loading the playbook and models, waiting for the
                # source's slot, reading, enriching, committing (a pass here takes about 8 s).
                time.sleep(rng.uniform(0.0, args.within))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                    say(f"kill {kills}/{args.kills}: run {victims[pid]} (pid {pid}); {feed.written} records written")
                    if kills % 4 == 0:
                        feed.grow(100)  # the source grows meanwhile, as a live feed does
            killed_at = time.monotonic()
            while totals(project)[0] < feed.written and time.monotonic() - killed_at < args.settle:
                passes.top_up()
                time.sleep(2)
            while passes.in_flight():
                time.sleep(1)
            states = Counter(passes.states().values())
            read, processed, quarantined, mentions, distinct = totals(project)
    finally:
        server.down_one(stack, "worker-2")
        server.down(stack, say)
    return {"backend": "PostgreSQL" if args.postgres else "SQLite", "kills": kills, "records": feed.written,
            "read": read, "processed": processed, "quarantined": quarantined, "mentions": mentions,
            "distinct": distinct, "runs": dict(states), "seconds": round(time.monotonic() - started, 1),
            "settle_seconds": round(time.monotonic() - killed_at, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--postgres", action="store_true", help="runs and state in PostgreSQL (crisis up --postgres)")
    parser.add_argument("--port", type=int, default=4291)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--within", type=float, default=8.0, help="a kill lands up to this many seconds after the "
                        "run is seen running")
    parser.add_argument("--settle", type=float, default=600, help="seconds to read what is left after the kills")
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith(("PREFECT_", "CRISIS_"))]:
        del os.environ[key]
    with tempfile.TemporaryDirectory(prefix="bench-kills-") as tmp:
        result = run(args, Path(tmp))
    problems = []
    if not result["read"] == result["processed"] + result["quarantined"] == result["records"]:
        problems.append("records lost or read twice: read {read}, processed {processed}, quarantined "
                        "{quarantined}, written {records}".format(**result))
    if not result["processed"]:
        problems.append("nothing processed: the bench's feed is not what the playbook reads")
    if not result["mentions"] == result["distinct"] == result["processed"]:
        problems.append("a mention stored twice: {mentions} rows, {distinct} distinct, {processed} processed"
                        .format(**result))
    if result["runs"].get("FAILED"):
        problems.append(f"{result['runs']['FAILED']} monitoring run(s) failed")
    print(f"{result['backend']}: {result['kills']} kills; {result['records']} records written, {result['read']} "
          f"read ({result['processed']} processed, {result['quarantined']} quarantined), {result['mentions']} "
          f"stored, {result['distinct']} distinct; runs {result['runs']}; {result['seconds']} s in all, "
          f"{result['settle_seconds']} s to read the rest after the last kill")
    print(json.dumps({**result, "problems": problems}))
    for problem in problems:
        say(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
