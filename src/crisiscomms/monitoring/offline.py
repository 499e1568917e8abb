"""`crisis monitor --input`: one file through the monitoring pass, with a progress bar and JSONL outputs.

Outputs are written only once the whole file is read and the alerts computed, as one transaction (`outputs`): a
run that fails, is interrupted (Ctrl-C, SIGTERM) or is killed leaves each target as it was — absent, or the
complete output of an earlier run — and a run that fails or is interrupted says where reading had got to. Two runs
writing the same file at once: the second is refused.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from crisiscomms.errors import CrisisError
from crisiscomms.monitoring import monitor
from crisiscomms.monitoring.ledger import BatchOutcome
from crisiscomms.monitoring.monitor import OfflineReport
from crisiscomms.monitoring.outputs import Outputs
from crisiscomms.monitoring.sources.files import Format
from crisiscomms.playbook.models import Playbook


class Stopped(CrisisError):
    """The run failed or was interrupted before its end; no target was touched. `exit_code` is for the shell."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(BaseException):
    """SIGTERM, raised where the run is, so that it unwinds as on Ctrl-C (the default action skips every cleanup)."""


@dataclass
class Reached:
    """How far a run got: the input's cursor after the last batch written, and what was written."""

    size: int
    offset: int = 0
    line: int = 0
    read: int = 0
    processed: int = 0
    quarantined: int = 0

    def add(self, outcome: BatchOutcome) -> None:
        self.offset = int(outcome.cursor.get("offset", self.offset))
        self.line = int(outcome.cursor.get("line", self.line))
        self.read += outcome.read
        self.processed += len(outcome.mentions)
        self.quarantined += len(outcome.quarantined)


def run(playbook: Playbook, input: Path, out: Path, alerts: Path | None, quarantine: Path | None,
        console: Console, processes: int | None = None, format: Format | None = None,
        mapping: dict[str, str] | None = None, batch: int | None = None) -> str:
    """Analyse `input` into the targets; the summary, or Stopped saying where the run stopped."""
    if not input.is_file():
        raise CrisisError(f"{input}: no such file")
    monitor.input_reader(input, format, mapping)  # a bad format or mapping is refused before anything starts
    targets = _targets(input, {"--quarantine": quarantine, "--alerts": alerts, "--out": out})
    reached = Reached(size=input.stat().st_size)
    with _sigterm_unwinds(), Outputs(targets, console) as outputs:  # SIGTERM unwinds once temporaries exist
        try:
            report = _analyse(playbook, input, outputs, (out, quarantine), console, reached,
                              (processes, format, mapping, batch or monitor.FILE_CHUNK))
            if alerts:
                outputs.write(alerts, (a.model_dump_json() for a in report.alerts))
            outputs.commit()
        except (Exception, KeyboardInterrupt, Terminated) as exc:
            raise _stopped(exc, input, reached, outputs.untouched()) from exc
    return _summary(report, quarantine is not None, alerts is not None)


def _analyse(playbook: Playbook, input: Path, outputs: Outputs, to: tuple[Path, Path | None], console: Console,
             reached: Reached, options: tuple[int | None, Format | None, dict[str, str] | None, int]) -> OfflineReport:
    """The monitoring pass over `input`, each batch written to the temporary files as it comes."""
    out, quarantine = to
    processes, format, mapping, batch = options
    columns = (TextColumn("{task.description}"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        reading = progress.add_task("reading", total=reached.size)

        def write(outcome: BatchOutcome) -> None:
            outputs.write(out, (m.model_dump_json() for m in outcome.mentions))
            if quarantine:
                outputs.write(quarantine, (q.model_dump_json() for q in outcome.quarantined))
            reached.add(outcome)
            progress.update(reading, completed=reached.offset)

        return monitor.monitor_file(playbook, input, write, processes=processes, chunk=batch, format=format,
                                    mapping=mapping)


def _summary(report: OfflineReport, quarantine: bool, alerts: bool) -> str:
    counts = (f"read {report.read} = processed {report.processed} + quarantined {report.quarantined}; "
              f"{len(report.alerts)} alert(s)" + (f"; {report.processes} processes" if report.processes > 1 else ""))
    written = [f"{report.processed} mention(s) to --out"]  # options, not paths: the person just typed them
    written += [f"{report.quarantined} record(s) set aside to --quarantine"] if quarantine else []
    written += [f"{len(report.alerts)} alert(s) to --alerts"] if alerts else []
    return "\n".join([counts, "wrote " + ", ".join(written), *(f"note: {note}" for note in report.notes)])


def _stopped(exc: BaseException, input: Path, reached: Reached, untouched: list[Path]) -> Stopped:
    """Why and where the run stopped, what it had written and that the targets were left as they were."""
    if isinstance(exc, KeyboardInterrupt):
        cause, code = "interrupted (Ctrl-C)", 130
    elif isinstance(exc, Terminated):
        cause, code = "terminated (SIGTERM)", 143
    else:
        cause, code = f"failed: {exc if isinstance(exc, CrisisError) else f'{type(exc).__name__}: {exc}'}", 1
    line = f"after line {reached.line:,}" if reached.line else "before line 1"
    where = (f"{input}: stopped {line} (byte {reached.offset:,} of {reached.size:,}); the {reached.read:,} "
             f"record(s) read by then ({reached.processed:,} processed, {reached.quarantined:,} quarantined) had "
             "gone to temporary files, now removed")
    kept = ", ".join(map(str, untouched)) or "no output"
    return Stopped(f"crisis monitor {cause}.\n{where}; {kept} left as before. Outputs are only written once the "
                   "whole file is read: run it again.", code)


def _targets(input: Path, named: dict[str, Path | None]) -> dict[str, Path]:
    """The outputs asked for, each a file of its own, none the input (renaming onto it would destroy it)."""
    seen = {input.resolve(): "--input"}
    targets: dict[str, Path] = {}
    for option, path in named.items():
        if path is None:
            continue
        if path.is_dir():
            raise CrisisError(f"{option} {path} is a directory: give a file name")
        if (same := seen.get(path.resolve())) is not None:
            raise CrisisError(f"{option} {path} is the same file as {same}: give each output a file of its own")
        seen[path.resolve()] = option
        targets[option] = path
    return targets


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises Terminated for the duration of the block (main thread only: signals are delivered there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)
