"""Reading one crisis back from Prefect for its post-mortem: `tasks.prefect_runs.runs_of_crisis` (paged, counted
server-side) against a naive reader that takes everything in single reads, on the same data.

    .venv/bin/python bench/review_collect.py [--runs 20] [--task-runs 2000] [--logs 50000] [--warnings 400]
                                            [--page 200] [--rounds 3]

A real `prefect server start` on 127.0.0.1 (free port, temporary PREFECT_HOME, SQLite, `--no-services --no-ui`:
nothing else writes while the readers read) is filled through the client API with one crisis: `--runs` flow runs
tagged `crisis:bench` (Running → Completed, one in ten Failed), `--task-runs` task runs spread over them (created in
their final state: 5 % Failed, 1 % Crashed; the async client, `--concurrency` requests at once with
`asyncio.gather` — 1 by default: on SQLite concurrent writes meet 503s and back off), `--logs` log lines
(`create_logs`, batches of 1,000), `--warnings` of them at WARNING or ERROR, and two artifacts per run.

Each reader then runs in a fresh Python process (so that its ru_maxrss is its own): a warm-up on an empty crisis,
`--rounds` timed collections (median reported), ru_maxrss growth over them, then one more collection under
tracemalloc for its peak. Both must return the same `RunSeen` list (checked by digest). The naive reader needs the
server's PREFECT_SERVER_API_DEFAULT_LIMIT raised (the server refuses larger reads): the bench raises it to
1,000,000; the paged reader works with the default 200.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crisiscomms.stack import server
from crisiscomms.stack.ports import free_port

CRISIS = "bench"
UNBOUNDED = 1_000_000
READERS = ("paged", "naive", "naive-warnings")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def start_server(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_API_DEFAULT_LIMIT": str(UNBOUNDED), "PREFECT_LOGGING_LEVEL": "WARNING"})
    log = (home / "server.log").open("ab")
    command = server.prefect_command("server", "start", "--host", "127.0.0.1", "--port", str(port),
                                     "--no-services", "--no-ui", "--analytics-off")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    api_url, started = f"http://127.0.0.1:{port}/api", time.monotonic()
    while not server.is_healthy(api_url):
        if process.poll() is not None or time.monotonic() - started > 120:
            stop_server(process)
            raise SystemExit(f"the server did not start:\n{(home / 'server.log').read_text()[-2000:]}")
        time.sleep(0.3)
    say(f"prefect server up at {api_url} in {time.monotonic() - started:.1f} s")
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """The server this bench started, by its process group (uvicorn runs below `prefect server start`)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ---- populating -------------------------------------------------------------------------------------------------

async def populate(args: argparse.Namespace) -> dict[str, float]:
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Failed, Running

    @flow(name="bench-crisis-phase")
    def phase() -> None: ...

    @task(name="bench-step")
    def step() -> None: ...

    timings: dict[str, float] = {}
    async with get_client() as client:
        started = time.monotonic()
        runs = [(await client.create_flow_run(phase, name=f"bench-run-{n:03d}", tags=[f"crisis:{CRISIS}", "bench"],
                                              state=Running())).id for n in range(args.runs)]
        timings["flow runs"] = time.monotonic() - started
        started = time.monotonic()
        task_runs = await _task_runs(client, step, runs, args.task_runs, args.concurrency)
        timings["task runs"] = time.monotonic() - started
        started = time.monotonic()
        await _logs(client, runs, task_runs, args)
        timings["logs"] = time.monotonic() - started
        await _artifacts(client, runs)
        for n, run_id in enumerate(runs):
            final = Failed(message="bench") if n % 10 == 9 else Completed()
            await client.set_flow_run_state(run_id, final, force=True)
    return timings


async def _chunked(calls: list[Callable[[], Any]], size: int) -> list[Any]:
    results: list[Any] = []
    for start in range(0, len(calls), size):
        results += await asyncio.gather(*(call() for call in calls[start:start + size]))
    return results


async def _task_runs(client: Any, step: Any, runs: list[Any], count: int, concurrency: int) -> list[tuple[Any, Any]]:
    from prefect.states import Completed, Crashed, Failed

    def final(n: int) -> Any:
        return Crashed(message="bench") if n % 100 == 7 else Failed(message="bench") if n % 20 == 3 else Completed()

    calls = [lambda n=n: client.create_task_run(step, runs[n % len(runs)], dynamic_key=str(n), name=f"step-{n}",
                                                state=final(n)) for n in range(count)]
    created = await _chunked(calls, concurrency)
    return [(t.flow_run_id, t.id) for t in created]


async def _logs(client: Any, runs: list[Any], task_runs: list[tuple[Any, Any]], args: argparse.Namespace) -> None:
    from prefect.client.schemas.actions import LogCreate

    rng = random.Random(5)
    warned = set(rng.sample(range(args.logs), min(args.warnings, args.logs)))
    start = datetime.now(UTC) - timedelta(hours=2)
    words = ["release", "approval", "channel", "audience", "statement", "holding", "press", "update", "mention"]

    def line(n: int) -> LogCreate:
        run_id, task_run_id = (task_runs[n % len(task_runs)] if task_runs and n % 3 else (runs[n % len(runs)], None))
        level = (40 if n % 4 == 0 else 30) if n in warned else 20
        text = f"step {n}: " + " ".join(rng.choice(words) for _ in range(rng.randint(8, 24)))
        return LogCreate(name="prefect.task_runs" if task_run_id else "prefect.flow_runs", level=level, message=text,
                         timestamp=start + timedelta(milliseconds=n * 100), flow_run_id=run_id,
                         task_run_id=task_run_id)

    batches = [[line(n) for n in range(b, min(b + 1000, args.logs))] for b in range(0, args.logs, 1000)]
    await _chunked([lambda batch=batch: client.create_logs(batch) for batch in batches], args.concurrency)


async def _artifacts(client: Any, runs: list[Any]) -> None:
    from prefect.client.schemas.actions import ArtifactCreate

    for n, run_id in enumerate(runs):
        for key in (f"bench-timeline-{n % 3}", "bench-figures"):
            await client.create_artifact(ArtifactCreate(key=key, type="markdown", data=f"run {n}", flow_run_id=run_id))


# ---- reading ----------------------------------------------------------------------------------------------------

def naive_runs(crisis_id: str, warnings_only: bool = False) -> list[Any]:
    """The reference: every flow run, task run, log line (or warning) and artifact of the crisis in one read each,
    then counted in memory."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas import filters as f
    from prefect.client.schemas.sorting import FlowRunSort

    from crisiscomms.review.model import RunSeen

    with get_client(sync_client=True) as client:
        tagged = f.FlowRunFilter(tags=f.FlowRunFilterTags(all_=[f"crisis:{crisis_id}"]))
        runs = client.read_flow_runs(flow_run_filter=tagged, sort=FlowRunSort.START_TIME_ASC, limit=UNBOUNDED)
        ids = [r.id for r in runs]
        if not ids:
            return []
        own = f.TaskRunFilter(subflow_runs=f.TaskRunFilterSubFlowRuns(exists_=False))
        task_runs = client.read_task_runs(flow_run_filter=f.FlowRunFilter(id=f.FlowRunFilterId(any_=ids)),
                                          task_run_filter=own, limit=UNBOUNDED)
        level = f.LogFilterLevel(ge_=30) if warnings_only else None
        logs = client.read_logs(f.LogFilter(flow_run_id=f.LogFilterFlowRunId(any_=ids), level=level), limit=UNBOUNDED)
        of_runs = f.ArtifactFilter(flow_run_id=f.ArtifactFilterFlowRunId(any_=ids))
        artifacts = client.read_artifacts(artifact_filter=of_runs, limit=UNBOUNDED)
        flows = {fid: client.read_flow(fid).name for fid in {r.flow_id for r in runs}}
    tasks = Counter(t.flow_run_id for t in task_runs)
    failed = Counter(t.flow_run_id for t in task_runs if t.state_type and t.state_type.value in ("FAILED", "CRASHED"))
    warnings = Counter(g.flow_run_id for g in logs if g.level >= 30)
    keys: dict[Any, set[str]] = {}
    for a in artifacts:
        if a.key:
            keys.setdefault(a.flow_run_id, set()).add(a.key)
    return [RunSeen(id=str(r.id), name=r.name, flow=flows[r.flow_id], state=r.state_type.value if r.state_type
                    else "UNKNOWN", state_name=r.state_name or "", started=r.start_time, ended=r.end_time,
                    tags=sorted(r.tags), task_runs=tasks[r.id], failed_task_runs=failed[r.id], warnings=warnings[r.id],
                    artifacts=sorted(keys.get(r.id, ()))) for r in runs]


def reader(name: str, page: int) -> Callable[[str], list[Any]]:
    from tasks.prefect_runs import runs_of_crisis

    return {"paged": lambda c: list(runs_of_crisis(c, page=page)), "naive": naive_runs,
            "naive-warnings": lambda c: naive_runs(c, warnings_only=True)}[name]


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(name: str, page: int, rounds: int) -> dict[str, Any]:
    """One reader, in this (fresh) process."""
    collect = reader(name, page)
    collect("no-such-crisis")  # imports and the connection, without the data
    before, seconds = maxrss_mb(), []
    for _ in range(rounds):
        started = time.perf_counter()
        result = collect(CRISIS)
        seconds.append(time.perf_counter() - started)
    grown = maxrss_mb() - before
    del result
    tracemalloc.start()
    result = collect(CRISIS)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    digest = hashlib.sha256(json.dumps([r.model_dump(mode="json") for r in result]).encode()).hexdigest()[:12]
    return {"reader": name, "seconds": statistics.median(seconds), "best": min(seconds), "peak_mb": peak,
            "rss_mb": grown, "runs": len(result), "task_runs": sum(r.task_runs for r in result),
            "failed": sum(r.failed_task_runs for r in result), "warnings": sum(r.warnings for r in result),
            "digest": digest}


def measure_in_child(name: str, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--measure", name, "--page", str(args.page), "--rounds",
                           str(args.rounds)], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- report -----------------------------------------------------------------------------------------------------

def machine() -> str:
    from importlib.metadata import version

    return (f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, Python {platform.python_version()}"
            f" ({platform.machine()}), prefect {version('prefect')}, SQLite {sqlite3.sqlite_version}")


def table(rows: list[dict[str, Any]], page: int, rounds: int) -> str:
    paged = rows[0]
    lines = [f"| reader | seconds (median of {rounds}) | best | tracemalloc peak MB | ru_maxrss growth MB "
             "| × paged time | × paged peak |", "|---|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        label = {"paged": f"paged (`runs_of_crisis`, page {page})", "naive": "naive: everything in single reads",
                 "naive-warnings": "naive, warnings only (level ≥ 30)"}[r["reader"]]
        lines.append(f"| {label} | {r['seconds']:.2f} | {r['best']:.2f} | {r['peak_mb']:.1f} | {r['rss_mb']:.1f} "
                     f"| {r['seconds'] / paged['seconds']:.1f} | {r['peak_mb'] / paged['peak_mb']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="flow runs of the crisis")
    parser.add_argument("--task-runs", type=int, default=2000, help="task runs, over all flow runs")
    parser.add_argument("--logs", type=int, default=50_000, help="log lines, over all flow runs")
    parser.add_argument("--warnings", type=int, default=400, help="of which at WARNING or ERROR")
    parser.add_argument("--page", type=int, default=200, help="the paged reader's page size (at most 200)")
    parser.add_argument("--rounds", type=int, default=3, help="timed collections per reader")
    parser.add_argument("--concurrency", type=int, default=1,
                        help="task runs (and log batches) created at once; on SQLite, more than 1 meets 503s")
    parser.add_argument("--measure", choices=READERS, help=argparse.SUPPRESS)  # one reader, in a child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.page, args.rounds)))
        return
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-review-") as tmp:
        (Path(tmp) / "server").mkdir()
        port = free_port()
        process = start_server(Path(tmp) / "server", port)
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            env.update({"PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_HOME": str(Path(tmp) / "client"),
                        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"})
            os.environ.clear()
            os.environ.update(env)  # before this process imports Prefect: its settings are read once
            run(args, env)
        finally:
            stop_server(process)


def run(args: argparse.Namespace, env: dict[str, str]) -> None:
    started = time.monotonic()
    timings = asyncio.run(populate(args))
    print(f"populated in {time.monotonic() - started:.1f} s: {args.runs} flow runs, {args.task_runs:,} task runs "
          f"({args.task_runs / timings['task runs']:.0f}/s, {args.concurrency} at once), {args.logs:,} log lines "
          f"({args.logs / timings['logs']:,.0f}/s, batches of 1,000), {args.warnings} at WARNING/ERROR, "
          f"{2 * args.runs} artifacts")
    rows = []
    for name in READERS:
        rows.append(measure_in_child(name, args, env))
        say(f"{name}: {rows[-1]}")
    print(table(rows, args.page, args.rounds))
    first = rows[0]
    print(f"found: {first['runs']} runs, {first['task_runs']:,} task runs ({first['failed']} failed or crashed), "
          f"{first['warnings']} warnings; same result from every reader: "
          f"{'yes' if len({r['digest'] for r in rows}) == 1 else 'NO: ' + str([r['digest'] for r in rows])}")


if __name__ == "__main__":
    main()
