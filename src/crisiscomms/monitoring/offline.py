"""`crisis monitor --input`: one file through the monitoring pass, with a progress bar and JSONL outputs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from crisiscomms.errors import CrisisError
from crisiscomms.monitoring import monitor
from crisiscomms.monitoring.ledger import BatchOutcome
from crisiscomms.playbook.models import Playbook


def run(playbook: Playbook, input: Path, out: Path, alerts: Path | None, quarantine: Path | None,
        console: Console, processes: int | None = None) -> str:
    if not input.is_file():
        raise CrisisError(f"{input}: no such file")
    columns = (TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with ExitStack() as stack, Progress(*columns, console=console, transient=True) as progress:
        enriched = stack.enter_context(out.open("w", encoding="utf-8"))
        bad = stack.enter_context(quarantine.open("w", encoding="utf-8")) if quarantine else None
        reading = progress.add_task("reading", total=input.stat().st_size)

        def write(outcome: BatchOutcome) -> None:
            _write_lines(enriched, (m.model_dump_json() for m in outcome.mentions))
            if bad:
                _write_lines(bad, (q.model_dump_json() for q in outcome.quarantined))
            progress.update(reading, completed=int(outcome.cursor.get("offset", 0)))

        report = monitor.monitor_file(playbook, input, write, processes=processes)
    if alerts:
        with alerts.open("w", encoding="utf-8") as handle:
            _write_lines(handle, (a.model_dump_json() for a in report.alerts))
    return (f"read {report.read} = processed {report.processed} + quarantined {report.quarantined}; "
            f"{len(report.alerts)} alert(s)" + (f"; {report.processes} processes" if report.processes > 1 else ""))


def _write_lines(handle: IO[str], lines: Iterator[str]) -> None:
    for line in lines:
        handle.write(line + "\n")
