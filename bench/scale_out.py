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
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

PLAYBOOK = "rappel-produit"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    for n in workers:
        with Machines(n, work) as machines:
            summary = one_burst(stream, work / "out", part, machines)
        run = {"workers": n, "seconds": summary["seconds"], "per_second": summary["per_second"],
               "read": summary["read"], "each": worker_rows(summary)}
        results["runs"].append(run)
        say(f"{n} worker(s): {summary['read']:,} records in {summary['seconds']} s, {summary['per_second']:,}/s; "
            + "; ".join(f"{w['worker']} {w['per_second']}/s, {w['peak_mb']} MB" for w in run["each"]))
    base = results["runs"][0]["per_second"] / results["runs"][0]["workers"]
    for run in results["runs"]:
        run["scaling"] = round(run["per_second"] / base, 2)
        run["target"] = round(0.8 * run["workers"], 2)
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


def report(results: dict[str, Any]) -> str:
    lines = [f"{results['count']:,} mentions, parts of {results['part']:,}, on {results['cores']} cores", "",
             "| workers | wall (s) | records/s | scaling vs 1 | target | each worker: records/s, peak memory |",
             "|--:|--:|--:|--:|--:|---|"]
    for run in results["runs"]:
        each = "; ".join(f"{w['per_second']}/s, {w['peak_mb']} MB" for w in run["each"])
        lines.append(f"| {run['workers']} | {run['seconds']} | {run['per_second']:,} | {run['scaling']} | "
                     f"≥ {run['target']} | {each} |")
    if "burst" in results:
        b = results["burst"]
        each = "; ".join(f"{w['worker']}: {w['records']:,} records, {w['per_second']}/s, peak {w['peak_mb']} MB"
                         for w in b["each"])
        lines += ["", f"Burst of {b['count']:,} mentions on {b['workers']} worker(s): {b['seconds']} s "
                      f"({b['per_second']:,} records/s); {each}"]
    return "\n".join(lines)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40_000)
    parser.add_argument("--part", type=int, default=5_000, help="records a part (a multiple of 5,000 is exact)")
    parser.add_argument("--workers", default="1,2", help="the numbers of workers to measure, e.g. 1,2")
    parser.add_argument("--burst", type=int, default=0, help="then a burst of this many mentions (e.g. 1000000)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as tmp:
        work = Path(tmp)
        os.environ.update({"PREFECT_HOME": str(work / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                           "CRISIS_STATE_DIR": str(work / "state"), "PREFECT_LOGGING_LEVEL": "WARNING"})
        for key in [k for k in os.environ if k.startswith("PREFECT_API_")]:
            del os.environ[key]
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness():  # one API for the flow and every worker's task runs
            os.environ["PREFECT_API_URL"] = str(PREFECT_API_URL.value())  # the workers' environment
            results = measure(args.count, args.part, [int(n) for n in args.workers.split(",")], args.burst, work)
    print(report(results))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
