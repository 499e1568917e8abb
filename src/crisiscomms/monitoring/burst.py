"""A burst too large for one process: a finished JSONL file cut into parts at line boundaries, each part read
through the same monitoring pass (gate, enrich) by whichever worker takes it, then put back together.

A part is a byte range `[start, end)` of the file, both at a line's start, with the number of lines before it, so
that a quarantined record names its file and line as a one-process read would. A one-process read judges a record
too old against the newest date read so far, batch by batch (`FILE_CHUNK` records): so parts are whole batches
(`records_per_part` a multiple of FILE_CHUNK by default), and each part starts from the newest date of the parts
before it (`newest_of`, a quick first pass over every part in parallel). Each part's mentions are written
to its own file under the output folder (`part-<n>.jsonl`), its quarantined records beside them with their reasons
(`part-<n>.quarantine.jsonl`); its windows (counts and samples, `WindowAccumulator`) and its ids come
back with its counts. Put together in file order, the windows are those of a one-process read — unless one id
appears in two parts (a duplicate a one-process read would drop): then the part files are read again in order,
each id kept once. Detection then runs on the whole burst.

CSV is read in one process: a quoted field may span lines, so a line's start is not always a row's.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from crisiscomms.errors import CrisisError
from crisiscomms.mention import Alert, EnrichedMention
from crisiscomms.monitoring import detection
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import BatchOutcome, MemoryLedger
from crisiscomms.monitoring.monitor import FILE_CHUNK, MonitoringPass, newest_in, utc_now
from crisiscomms.monitoring.sources import FileReader
from crisiscomms.monitoring.windows import WindowAccumulator
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Monitoring

SCAN = 1 << 20  # bytes read at a time when cutting the file


@dataclass(frozen=True)
class Part:
    path: str
    index: int
    start: int  # byte offset of its first line
    end: int  # byte offset after its last line (the next part's start)
    line: int  # lines before it


@dataclass
class PartResult:
    index: int
    read: int
    processed: int
    quarantined: int
    seconds: float
    peak_mb: float  # the worker process's peak resident memory so far
    worker: str  # host:pid
    mentions_file: str
    windows: WindowAccumulator
    ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Burst:
    read: int
    processed: int
    quarantined: int
    parts: list[PartResult]
    alerts: list[Alert]
    duplicates: int  # ids met in two parts, kept once


def cut(path: Path, records_per_part: int) -> list[Part]:
    """The file's parts of `records_per_part` lines each (the last may be shorter)."""
    if path.suffix.lower() == ".csv":
        raise CrisisError(f"{path}: a CSV file is read in one process (a quoted field may span lines): convert it "
                          "to JSONL, or use `crisis monitor --input` with `--processes`")
    if records_per_part < 1:
        raise CrisisError(f"records per part: at least 1, not {records_per_part}")
    parts, start, line, counted, offset = [], 0, 0, 0, 0
    with path.open("rb") as stream:
        while chunk := stream.read(SCAN):
            at = 0
            while (found := chunk.find(b"\n", at)) != -1:
                counted, at = counted + 1, found + 1
                if counted == records_per_part:
                    parts.append(Part(str(path), len(parts), start, offset + at, line))
                    start, line, counted = offset + at, line + records_per_part, 0
            offset += len(chunk)
    if offset > start:
        parts.append(Part(str(path), len(parts), start, offset, line))
    return parts


def newest_of(playbook: Playbook, part: Part) -> datetime | None:
    """The newest date of the part's records that is not in the future, as the monitoring pass reckons it."""
    monitoring = playbook.monitoring or Monitoring()
    reader, cursor = _reader(part), _start(part)
    newest: datetime | None = None
    now = utc_now()
    while True:
        batch = reader.read(cursor, limit=FILE_CHUNK)
        newest = max(filter(None, [newest, newest_in(batch, now, monitoring)]), default=None)
        if batch.read < FILE_CHUNK:
            return newest
        cursor = batch.cursor


def newest_before(newest: list[datetime | None]) -> list[datetime | None]:
    """For each part, the newest date of the parts before it (None for the first)."""
    before: list[datetime | None] = []
    running: datetime | None = None
    for each in newest:
        before.append(running)
        running = max(filter(None, [running, each]), default=None)
    return before


def enrich_part(playbook: Playbook, part: Part, out: Path, enricher: Enricher | None = None,
                newest: datetime | None = None) -> PartResult:
    """One part through the monitoring pass, its records judged too old against `newest` (of the parts before it)
    and its own; its mentions to `out/part-<n>.jsonl`."""
    started = time.monotonic()
    monitoring = playbook.monitoring or Monitoring()
    windows = WindowAccumulator(monitoring.detection.window)
    target = out / f"part-{part.index:05d}.jsonl"
    ids: list[str] = []
    totals = [0, 0, 0]
    with target.open("w", encoding="utf-8") as written, \
            target.with_suffix(".quarantine.jsonl").open("w", encoding="utf-8") as set_aside:
        def keep(outcome: BatchOutcome) -> None:
            windows.add(outcome.mentions)
            ids.extend(m.id for m in outcome.mentions)
            written.writelines(m.model_dump_json() + "\n" for m in outcome.mentions)
            set_aside.writelines(q.model_dump_json() + "\n" for q in outcome.quarantined)
            totals[0] += outcome.read
            totals[1] += len(outcome.mentions)
            totals[2] += len(outcome.quarantined)

        ledger = MemoryLedger(keep)
        ledger.start("input", _start(part))
        run = MonitoringPass(playbook, ledger, enricher or Enricher(playbook), utc_now, dated_by_stream=True)
        run.newest = newest
        notes = [note for _, batch_notes in run.outcomes(_reader(part), FILE_CHUNK) for note in batch_notes]
    return PartResult(part.index, *totals, seconds=time.monotonic() - started, peak_mb=peak_mb(),
                      worker=f"{os.uname().nodename}:{os.getpid()}", mentions_file=str(target), windows=windows,
                      ids=ids, notes=notes)


def _reader(part: Part) -> FileReader:
    """The file read as the part: from its first line to its end, no further."""
    return FileReader("input", Path(part.path), "jsonl", display=part.path, finished=True, until=part.end)


def _start(part: Part) -> dict[str, Any]:
    """The cursor at the part's first line (its number, so that positions are the file's)."""
    return {"offset": part.start, "line": part.line}


def put_together(playbook: Playbook, results: list[PartResult]) -> Burst:
    """The parts, in file order, as one read: windows merged (or rebuilt, each id once), then detection."""
    monitoring = playbook.monitoring or Monitoring()
    ordered = sorted(results, key=lambda r: r.index)
    seen: set[str] = set()
    duplicates = 0
    for result in ordered:
        fresh = set(result.ids)
        duplicates += len(fresh & seen) + len(result.ids) - len(fresh)
        seen |= fresh
    windows = WindowAccumulator(monitoring.detection.window)
    if duplicates:
        windows.add(_each_id_once(ordered))
    else:
        for result in ordered:
            windows.merge(result.windows)
    alerts = detection.detect_windows(detection.walk(windows, monitoring.detection), monitoring.detection)
    # a one-process read sets a repeated id aside: so do the counts (its line stays in its part's file)
    return Burst(sum(r.read for r in ordered), sum(r.processed for r in ordered) - duplicates,
                 sum(r.quarantined for r in ordered) + duplicates, ordered, alerts, duplicates)


def _each_id_once(results: list[PartResult]) -> Iterator[EnrichedMention]:
    kept: set[str] = set()
    for result in results:
        with open(result.mentions_file, encoding="utf-8") as lines:
            for line in lines:
                mention = EnrichedMention.model_validate(json.loads(line))
                if mention.id not in kept:
                    kept.add(mention.id)
                    yield mention


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
