"""Scale-out (issue 16): monitoring throughput with 1 and 2 worker processes, workers as separate "machines", and a
large burst through the distributed enrichment.

    .venv/bin/python bench/scale_out.py [--count 40000] [--part 5000] [--workers 1,2] [--burst 0]

Everything is real and local: the burst flow (`flows/burst.py`: the same monitoring pass as `crisis monitor`, on a
Dask cluster through prefect-dask) on a Prefect API of its own (a temporary home), on `--count` mentions built
from the CrisisLex tweets as bench/monitor_throughput.py builds them. For each number of workers N:

- a Dask scheduler and N `dask worker` processes, each started in a process group of its own (a session: what a
  machine of its own shares with the others is the scheduler's address and the file), one thread each;
- the burst's wall time and records/s, each worker's own records/s (its records over the seconds its parts took)
  and peak resident memory;
- the scaling against one worker: records/s with N ÷ records/s with 1 (target ≥ 0.8·N).

`--burst 1000000` then runs a burst of that many mentions on the largest N: wall time and peak memory per worker.
The machine's cores cap N: on 2 cores, 2 workers (a third would share a core).

Besides the measured scaling, the report gives the scaling of N *simulated* machines: the burst's orchestration
(the time of the 1-worker run that its worker did not spend on parts: cutting, models, putting together) plus the
longest of the N workers' shares at the rate one worker had alone, i.e. N machines that share nothing but the
scheduler. On this machine the N workers share its cores with each other, the scheduler, the flow and its API.

`--runs K` first measures concurrent playbook runs: a `crisis up` stack (`--postgres`: on PostgreSQL) on a copy of
the project with 2·K playbooks, each watching a file of `--per-run` mentions of its own; its worker is replaced by
N `prefect worker` processes, each in a process group of its own and running one flow run at a time (`--limit 1`:
a machine); K monitoring runs (one per playbook, the deployment's limit of one run at a time lifted as K per-playbook
deployments would have it) from the first created to the last finished: runs/min and mentions/s with 1 and 2
workers, every run checked to have stored all its mentions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

from project_copy import make_project, say  # noqa: E402

from crisiscomms.stack.ports import free_port  # noqa: E402

PLAYBOOK = "rappel-produit"


class Machines:
    """A Dask scheduler and `n` workers, each in a process group of its own; stopped when the block ends."""

    def __init__(self, n: int, folder: Path) -> None:
        self.n, self.folder = n, folder
        self.port = free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def __enter__(self) -> Machines:
        self._start("scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", str(self.port), "--dashboard-address", ":0"])
        for index in range(self.n):
            self._start(f"worker-{index}", [sys.executable, "-m", "distributed.cli.dask_worker", self.address,
                                            "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                                            "--memory-limit", "0", "--name", f"machine-{index}"])
        self._wait_for_workers()
        return self

    def _start(self, name: str, command: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("wb")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                               start_new_session=True, env=os.environ.copy()))

    def _wait_for_workers(self, timeout: float = 120) -> None:
        from distributed import Client

        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(self.n, timeout=timeout)

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def one_burst(path: Path, out: Path, part: int, machines: Machines) -> dict[str, Any]:
    from flows.burst import burst

    shutil.rmtree(out, ignore_errors=True)
    return burst(playbook=PLAYBOOK, path=str(path), out=str(out), records_per_part=part, scheduler=machines.address)


def worker_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"worker": name, "parts": w["parts"], "records": w["records"],
             "per_second": round(w["records"] / w["seconds"], 1) if w["seconds"] else 0.0,
             "peak_mb": round(w["peak_mb"])} for name, w in sorted(summary["workers"].items())]


def measure(count: int, part: int, workers: list[int], burst_count: int, work: Path) -> dict[str, Any]:
    from monitor_throughput import build_stream

    stream = work / "stream.jsonl"
    build_stream(count, stream)
    results: dict[str, Any] = {"count": count, "part": part, "cores": os.cpu_count(), "runs": []}
    for n in workers if count else []:
        with Machines(n, work) as machines:
            summary = one_burst(stream, work / "out", part, machines)
        run = {"workers": n, "seconds": summary["seconds"], "per_second": summary["per_second"],
               "read": summary["read"], "each": worker_rows(summary)}
        results["runs"].append(run)
        say(f"{n} worker(s): {summary['read']:,} records in {summary['seconds']} s, {summary['per_second']:,}/s; "
            + "; ".join(f"{w['worker']} {w['per_second']}/s, {w['peak_mb']} MB" for w in run["each"]))
    if results["runs"]:
        base = results["runs"][0]["per_second"] / results["runs"][0]["workers"]
        for run in results["runs"]:
            run["scaling"] = round(run["per_second"] / base, 2)
            run["target"] = round(0.8 * run["workers"], 2)
        simulated(results)
    if burst_count:
        big = work / "burst.jsonl"
        build_stream(burst_count, big)
        n = max(workers)
        with Machines(n, work) as machines:
            summary = one_burst(big, work / "out-burst", 20_000, machines)
        results["burst"] = {"count": burst_count, "workers": n, "seconds": summary["seconds"],
                            "per_second": summary["per_second"], "each": worker_rows(summary),
                            "processed": summary["processed"], "quarantined": summary["quarantined"]}
        say(f"burst: {burst_count:,} records on {n} worker(s) in {summary['seconds']} s")
    return results


def simulated(results: dict[str, Any]) -> None:
    """Each run's scaling on N machines sharing only the scheduler (see the module docstring)."""
    alone = results["runs"][0]
    if alone["workers"] != 1 or not alone["each"] or not alone["each"][0]["per_second"]:
        return
    rate = alone["each"][0]["per_second"]
    orchestration = max(0.0, alone["seconds"] - alone["read"] / rate)
    for run in results["runs"]:
        longest = max(w["records"] for w in run["each"]) / rate
        run["simulated_seconds"] = round(orchestration + longest, 1)
        run["simulated_scaling"] = round(alone["seconds"] / run["simulated_seconds"], 2)
    results["orchestration_seconds"] = round(orchestration, 1)


RUNS_PLAYBOOK = """\
id: {id}
version: 1.0.0
title: Charge {id}
monitoring:
  languages: [fr, en]
  watch:
    fr: {{keywords: [rappel, contamination, train, accident]}}
    en: {{keywords: [recall, explosion, train, crash]}}
  sources:
    - {{id: flux, type: file, path: {file}}}
  detection: {{window: 5m}}
phases: {{}}
"""


def playbook_runs(k: int, per_run: int, workers: list[int], postgres: bool, work: Path) -> dict[str, Any]:
    """K monitoring runs at once with 1, then 2, … workers of one run at a time (see the module docstring)."""
    import httpx
    from monitor_throughput import build_stream

    from crisiscomms.stack import server
    from crisiscomms.stack.server import LOCAL, Stack

    ids = {n: [f"charge-{n}w-{i}" for i in range(k)] for n in workers}
    every = [playbook for names in ids.values() for playbook in names]
    project = make_project(work / "runs-project", {
        playbook: RUNS_PLAYBOOK.format(id=playbook, file=f"{playbook}.jsonl") for playbook in every})
    build_stream(per_run, work / "runs-stream.jsonl")
    for playbook in every:
        shutil.copy2(work / "runs-stream.jsonl", project / f"{playbook}.jsonl")
    stack = Stack(project, port=free_port(), database=LOCAL if postgres else "")
    server.up(stack, say)
    user, _, password = (stack.credential() or "").partition(":")
    results: dict[str, Any] = {"runs": k, "per_run": per_run, "backend": "PostgreSQL" if postgres else "SQLite",
                               "workers": []}
    try:
        server.down_one(stack, "worker")  # the bench's workers stand in for the machines
        with httpx.Client(base_url=stack.api_url, auth=(user, password), timeout=90) as api:
            monitor = api.get("/deployments/name/crisis-monitor/monitor").json()["id"]
            api.post(f"/deployments/{monitor}/pause_deployment")  # no scheduled pass of the demo meanwhile
            api.patch(f"/deployments/{monitor}", json={"concurrency_limit": k}).raise_for_status()
            for n in workers:
                results["workers"].append(_runs_on(api, stack, monitor, ids[n], n))
                say(f"{k} playbook runs on {n} worker(s): {results['workers'][-1]}")
        os.environ.update(stack.database_env())
        _check_stored(project, ids, per_run)
    finally:
        server.down(stack, say)
    base = results["workers"][0]["runs_per_minute"] / results["workers"][0]["workers"]
    for row in results["workers"]:
        row["scaling"] = round(row["runs_per_minute"] / base, 2)
    return results


def _runs_on(api: Any, stack: Any, monitor: str, playbooks: list[str], n: int) -> dict[str, Any]:
    from crisiscomms.stack import server

    names = [f"machine-{n}-{j}" for j in range(n)]
    for name in names:
        server.spawn(stack, name, server.prefect_command("worker", "start", "--pool", server.WORK_POOL, "--name",
                                                         name, "--limit", "1"))
    try:
        runs = [api.post(f"/deployments/{monitor}/create_flow_run",
                         json={"state": {"type": "SCHEDULED"}, "parameters": {"playbook": p}}).json()
                for p in playbooks]
        ids = [run["id"] for run in runs]
        while True:
            found = api.post("/flow_runs/filter", json={"flow_runs": {"id": {"any_": ids}}, "limit": 200}).json()
            if all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") for r in found):
                break
            time.sleep(1)
    finally:
        for name in names:
            server.down_one(stack, name)
    failed = [r["state_name"] for r in found if r["state_type"] != "COMPLETED"]
    if failed:
        raise RuntimeError(f"{len(failed)} playbook run(s) did not complete: {failed}")
    start = min(_when(r["created"]) for r in found)
    wall = max(_when(r["end_time"]) for r in found) - start
    per_run = [round(r["total_run_time"], 1) for r in found]
    return {"workers": n, "seconds": round(wall, 1), "runs_per_minute": round(60 * len(found) / wall, 2),
            "mean_run_seconds": round(sum(per_run) / len(per_run), 1)}


def _when(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _check_stored(project: Path, ids: dict[int, list[str]], per_run: int) -> None:
    from crisiscomms.monitoring.store import open_store

    store = open_store(project)
    try:
        read = {p: store.totals(p).read for names in ids.values() for p in names}
    finally:
        store.close()
    short = {playbook: count for playbook, count in read.items() if count != per_run}
    if short:
        raise RuntimeError(f"runs that did not read their {per_run} mentions: {short}")


def report(results: dict[str, Any]) -> str:
    lines = [f"{results['count']:,} mentions, parts of {results['part']:,}, on {results['cores']} cores", "",
             "| workers | wall (s) | records/s | scaling vs 1 | target | each worker: records/s, peak memory |",
             "|--:|--:|--:|--:|--:|---|"] if results["runs"] else [f"on {results['cores']} cores"]
    for run in results["runs"]:
        each = "; ".join(f"{w['per_second']}/s, {w['peak_mb']} MB" for w in run["each"])
        lines.append(f"| {run['workers']} | {run['seconds']} | {run['per_second']:,} | {run['scaling']} | "
                     f"≥ {run['target']} | {each} |")
    if "orchestration_seconds" in results:
        lines += ["", f"N machines simulated (orchestration {results['orchestration_seconds']} s + the longest "
                      "share at one worker's rate alone): " + "; ".join(
                          f"{run['workers']} → {run['simulated_seconds']} s, scaling {run['simulated_scaling']}"
                          for run in results["runs"])]
    if "playbook_runs" in results:
        r = results["playbook_runs"]
        lines += ["", f"{r['runs']} monitoring runs at once ({r['per_run']:,} mentions each, {r['backend']}), each "
                      "worker one run at a time:", "",
                  "| workers | wall (s) | runs/min | scaling vs 1 | mean run (s) |", "|--:|--:|--:|--:|--:|"]
        lines += [f"| {w['workers']} | {w['seconds']} | {w['runs_per_minute']} | {w['scaling']} | "
                  f"{w['mean_run_seconds']} |" for w in r["workers"]]
    if "burst" in results:
        b = results["burst"]
        each = "; ".join(f"{w['worker']}: {w['records']:,} records, {w['per_second']}/s, peak {w['peak_mb']} MB"
                         for w in b["each"])
        lines += ["", f"Burst of {b['count']:,} mentions on {b['workers']} worker(s): {b['seconds']} s "
                      f"({b['per_second']:,} records/s); {each}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40_000)
    parser.add_argument("--part", type=int, default=5_000, help="records a part (a multiple of 5,000 is exact)")
    parser.add_argument("--workers", default="1,2", help="the numbers of workers to measure, e.g. 1,2")
    parser.add_argument("--burst", type=int, default=0, help="then a burst of this many mentions (e.g. 1000000)")
    parser.add_argument("--runs", type=int, default=0, help="first, this many playbook runs at once (e.g. 8)")
    parser.add_argument("--per-run", type=int, default=2_000, help="mentions each playbook run reads")
    parser.add_argument("--postgres", action="store_true", help="the playbook runs' stack on PostgreSQL")
    args = parser.parse_args(argv)
    for key in [k for k in os.environ if k.startswith(("PREFECT_", "CRISIS_"))]:
        del os.environ[key]
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as tmp:
        work = Path(tmp)
        runs = playbook_runs(args.runs, args.per_run, [int(n) for n in args.workers.split(",")], args.postgres,
                             work) if args.runs else None
        for key in [k for k in os.environ if k.startswith(("PREFECT_", "CRISIS_"))]:
            del os.environ[key]
        os.environ.update({"PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                           "CRISIS_STATE_DIR": str(work / "state"), "PREFECT_LOGGING_LEVEL": "WARNING"})
        for key in [k for k in os.environ if k.startswith("PREFECT_API_")]:
            del os.environ[key]
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        results: dict[str, Any] = {"count": 0, "part": args.part, "cores": os.cpu_count(), "runs": []}
        if args.count or args.burst:
            with prefect_test_harness():  # one API for the flow and every worker's task runs
                os.environ["PREFECT_API_URL"] = str(PREFECT_API_URL.value())  # the workers' environment
                results = measure(args.count, args.part, [int(n) for n in args.workers.split(",")], args.burst,
                                  work)
    if runs:
        results["playbook_runs"] = runs
    print(report(results))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
