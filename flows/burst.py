"""A burst too large for one process (a 1,000,000-mention export): its parts enriched in parallel across the
workers of a Dask cluster, then put together and detected on as one read (crisiscomms.monitoring.burst).

Dask (prefect-dask's DaskTaskRunner) rather than Ray: plain pip wheels for every machine, `dask scheduler` and
`dask worker ADDRESS` are two commands on plain machines, and a part is an ordinary Python call on pickled
arguments — all a burst needs. Without `scheduler`, a local cluster of `workers` processes on this machine.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect_dask import DaskTaskRunner

from crisiscomms.monitoring import burst as bursts
from crisiscomms.stack.project import Project
from flows.choices import ROOT, PlaybookChoice
from tasks.burst import enrich_part, newest_of

PART = 20_000  # records a part: four of the one-process read's batches (FILE_CHUNK), a minute or so of work


def task_runner(scheduler: str | None, workers: int) -> DaskTaskRunner:
    if scheduler:
        return DaskTaskRunner(address=scheduler)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})


@flow(name="crisis-burst", flow_run_name="{playbook}/burst", log_prints=True,
      description="Enrich a large JSONL export in parts across the workers of a Dask cluster, then detect.")
def burst(playbook: PlaybookChoice, path: str, out: str, records_per_part: int = PART,  # type: ignore[valid-type]
          scheduler: str | None = None, workers: int = 2) -> dict[str, Any]:
    loaded = Project(ROOT).load(playbook).playbook
    source = Path(path) if Path(path).is_absolute() else ROOT / path
    parts = bursts.cut(source, records_per_part)
    Path(out).mkdir(parents=True, exist_ok=True)
    get_run_logger().info("%s: %d part(s) of %d records, on %s", source, len(parts), records_per_part,
                          scheduler or f"a local cluster of {workers} worker process(es)")
    started = time.monotonic()
    together = enrich_parts.with_options(task_runner=task_runner(scheduler, workers))(loaded, parts, out)
    seconds = time.monotonic() - started
    summary = _summary(together, seconds)
    create_markdown_artifact(_report(playbook, summary, together), key=f"{playbook}-burst",
                             description="The burst: its parts, their workers, and what detection found")
    return summary


@flow(name="crisis-burst-parts", flow_run_name="parts")
def enrich_parts(playbook: Any, parts: list[bursts.Part], out: str) -> bursts.Burst:
    newest = [future.result() for future in newest_of.map(unmapped(playbook), parts)]
    before = bursts.newest_before(newest)
    futures = enrich_part.map(unmapped(playbook), parts, unmapped(out), before)
    return bursts.put_together(playbook, [future.result() for future in futures])


def _summary(together: bursts.Burst, seconds: float) -> dict[str, Any]:
    workers: dict[str, dict[str, float]] = {}
    for part in together.parts:
        seen = workers.setdefault(part.worker, {"parts": 0, "records": 0, "seconds": 0.0, "peak_mb": 0.0})
        seen["parts"] += 1
        seen["records"] += part.read
        seen["seconds"] += part.seconds
        seen["peak_mb"] = max(seen["peak_mb"], part.peak_mb)
    return {"read": together.read, "processed": together.processed, "quarantined": together.quarantined,
            "duplicates": together.duplicates, "seconds": round(seconds, 1),
            "per_second": round(together.read / seconds, 1) if seconds else 0.0,
            "alerts": [a.model_dump(mode="json") for a in together.alerts], "workers": workers}


def _report(playbook: str, summary: dict[str, Any], together: bursts.Burst) -> str:
    rows = "\n".join(f"| {name} | {w['parts']} | {w['records']:,} | {w['records'] / w['seconds']:.0f} | "
                     f"{w['peak_mb']:.0f} MB |" for name, w in sorted(summary["workers"].items()) if w["seconds"])
    levels = ", ".join(f"{a.level} {a.kind} {a.window_start:%Y-%m-%d %H:%M}" for a in together.alerts) or "none"
    return (f"# {playbook}: burst of {summary['read']:,} records\n\n"
            f"{summary['processed']:,} processed, {summary['quarantined']:,} quarantined "
            f"({summary['duplicates']} repeated id(s) across parts); {summary['seconds']} s, "
            f"{summary['per_second']:,} records/s.\n\nAlerts: {levels}\n\n"
            f"| worker | parts | records | records/s | peak memory |\n|---|--:|--:|--:|--:|\n{rows}\n")
