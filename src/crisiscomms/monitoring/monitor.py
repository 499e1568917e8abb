"""The monitoring pass — the one both the scheduled flow and `crisis monitor` run:

    source ─▶ read since the ledger's cursor ─▶ gate (quality.py) ─▶ enrich ─▶ ledger (store, or a file)
      │                                           └─▶ quarantine (with reasons)         │
      └─ source error ─▶ data-gap alert                          windows ─▶ detector ─▶ alerts

`MonitoringPass.read` reads one source; what it keeps depends on its `Ledger`: the monitoring store for a
scheduled run (one transaction a batch, exactly once across runs), or memory and a writer for a file
(`read_file`, `monitor_file`). Invariant, per batch, per run and in total: read = processed + quarantined.
Prefect-free: tasks/monitoring.py wraps these in tasks; offline.py (the CLI) calls them directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crisiscomms import clock
from crisiscomms.mention import Alert
from crisiscomms.monitoring import detection, isolate, quality
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import BatchOutcome, Ledger, MemoryLedger
from crisiscomms.monitoring.record import binary, normal_id, parse_time
from crisiscomms.monitoring.sources import Batch, FileReader, Source, SourceError
from crisiscomms.monitoring.sources.files import Format, file_format
from crisiscomms.monitoring.store import SourceTaken, Store, Totals
from crisiscomms.monitoring.windows import WindowAccumulator, WindowStats, window_floor
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Detection, Monitoring

if TYPE_CHECKING:
    from crisiscomms.monitoring.parallel import PoolEnricher

REPORTED_WINDOWS = 288  # windows a scheduled run hands to its report at most (a day of 5-minute windows)
log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
FILE_CHUNK = 5_000  # records a file is read by: memory stays flat however long the file


def utc_now() -> datetime:
    """The product's clock (a replay under a scripted clock sees its own "now")."""
    return clock.now()


def process_batch(batch: Batch, source_id: str, monitoring: Monitoring, enricher: Enricher | PoolEnricher,
                  now: datetime, seen_ids: Collection[str] = (), baseline_volume: float | None = None,
                  newest: datetime | None = None) -> BatchOutcome:
    """Gate and enrich one batch; every record read comes out processed or quarantined."""
    gated = quality.gate(batch.records, source_id, monitoring.gate, now, baseline_volume=baseline_volume,
                         seen_ids=seen_ids, newest=newest)
    outcome = BatchOutcome(source_id, batch.read, enricher.enrich(gated.mentions),
                           [*batch.quarantined, *gated.quarantined], gated.summary, list(gated.batch_issues),
                           batch.cursor)
    if len(outcome.mentions) + len(outcome.quarantined) != outcome.read:
        raise RuntimeError(f"monitoring lost records: {outcome.read} read, {len(outcome.mentions)} processed, "
                           f"{len(outcome.quarantined)} quarantined")
    return outcome


@dataclass
class SourcePass:
    """One source read since its watermark and committed: counts, gate summary, data-gap alerts."""

    source: str
    totals: Totals
    alerts: list[Alert]
    gate: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failure: str | None = None


class MonitoringPass:
    """Sources of one playbook through the gate and the enrichment into a ledger.

    `dated_by_stream`: mentions are too old (`gate.max_age`) against the newest date read so far rather than the
    clock — a file of last year's crisis is analysed, not set aside; a stray 1970 date in it still is.
    """

    def __init__(self, playbook: Playbook, ledger: Ledger, enricher: Enricher | PoolEnricher,
                 clock: Clock = utc_now, dated_by_stream: bool = False) -> None:
        self.monitoring = playbook.monitoring or Monitoring()
        self.ledger = ledger
        self.enricher = enricher
        self.clock = clock
        self.dated_by_stream = dated_by_stream
        self.newest: datetime | None = None  # of the stream read so far (dated_by_stream)

    def outcomes(self, source: Source, chunk: int | None = None) -> Iterator[tuple[BatchOutcome, list[str]]]:
        """Each batch since the ledger's cursor, committed as it comes, with the batch's source notes.

        `chunk` None: one read of everything new; else reads of `chunk` records until the source has no more.
        The first read is always an outcome, even empty (an empty batch is how silence shows), and only it is
        judged against the source's usual volume (the batches after it are the rest of a backlog).
        A SourceError, a StalledBatch or a SourceTaken propagates, with the batch uncommitted.
        """
        first = True
        while True:
            since = self.ledger.cursor(source.id)
            batch = source.read(since, limit=chunk)
            if batch.read == 0 and not first:
                return
            baseline = self.ledger.typical_volume(source.id) if first else None
            outcome = isolate.process_or_isolate(self._processor(source.id, batch, baseline), batch, source.id)
            self.ledger.commit(outcome, since)
            yield outcome, batch.notes
            first = False
            if chunk is None or batch.read < chunk:
                return

    def _processor(self, source_id: str, batch: Batch, baseline: float | None) -> isolate.Process:
        """Gate and enrich a batch or a part of it; the parts of one batch see each other's ids as read."""
        # an id holding binary data is refused by the gate; it cannot even be looked up (SQLite takes valid UTF-8)
        ids = [ident for record in batch.records
               if (ident := normal_id(record.data.get("id"))) is not None and not binary(ident)]
        known = set(self.ledger.known_ids(source_id, ids))
        now = self.clock()
        if self.dated_by_stream:
            self.newest = max(filter(None, [self.newest, newest_in(batch, now, self.monitoring)]), default=None)
        newest = self.newest if self.dated_by_stream else None

        def process(part: Batch) -> BatchOutcome:
            outcome = process_batch(part, source_id, self.monitoring, self.enricher, now, known, baseline, newest)
            known.update(m.id for m in outcome.mentions)
            return outcome

        return process

    def read(self, source: Source, chunk: int | None = None) -> SourcePass:
        """Read → gate → enrich → commit. A source that fails, collapses or goes silent yields a data-gap
        alert, never "all quiet"."""
        passed = SourcePass(source.id, Totals(0, 0, 0), [])
        try:
            for outcome, notes in self.outcomes(source, chunk):
                passed.totals = _add(passed.totals, outcome)
                passed.alerts += [data_gap_alert(source.id, issue, self.clock(), self.monitoring)
                                  for issue in outcome.issues]
                passed.gate, passed.notes = outcome.gate, [*passed.notes, *notes]
        except SourceTaken as exc:  # not a gap: the other run read it; this one stops reading the source
            passed.notes = [*passed.notes, str(exc)]
        except (SourceError, isolate.StalledBatch) as exc:
            passed.failure = str(exc)
            passed.alerts.append(data_gap_alert(source.id, passed.failure, self.clock(), self.monitoring))
        return passed


def newest_in(batch: Batch, now: datetime, monitoring: Monitoring) -> datetime | None:
    """The newest date of a batch that is not in the future (the gate refuses those)."""
    latest = now + timedelta(seconds=monitoring.gate.max_future_skew)
    dates = (parse_time(record.data.get("created_at")) for record in batch.records)
    return max((d for d in dates if d is not None and d <= latest), default=None)


def _add(totals: Totals, outcome: BatchOutcome) -> Totals:
    return Totals(totals.read + outcome.read, totals.processed + len(outcome.mentions),
                  totals.quarantined + len(outcome.quarantined))


def data_gap_alert(source_id: str, reason: str, now: datetime, monitoring: Monitoring) -> Alert:
    """A source that fails or goes silent is a data gap — never "all quiet"."""
    window = timedelta(seconds=monitoring.detection.window)
    return Alert(kind="data_gap", level="alert", window_start=now - window, window_end=now, volume=0,
                 baseline=0.0, score=0.0, reason=f"data gap / collector outage on '{source_id}': {reason}")


# --- detection over the store: a scheduled run continues the previous run's detector -----------------------


def detect_new_windows(playbook: str, monitoring: Monitoring, store: Store,
                       now: datetime) -> tuple[list[WindowStats], list[Alert]]:
    """Feed the detector the windows that closed since its last run (state kept in the store); return them (the
    latest REPORTED_WINDOWS of them: what the monitoring report charts) and the alerts they raised.

    A first run starts at the earliest mention stored (at most `gate.max_age` ago: older ones were quarantined),
    so the detector learns from what was read, never from windows before monitoring began read as silence; with
    nothing stored it starts at the last window. Silent stretches cost nothing to walk (a sparse walk)."""
    settings = monitoring.detection
    window = timedelta(seconds=settings.window)
    detector, last_end = _detector(playbook, settings, store)
    end = window_floor(now, settings.window)
    start = last_end or _first_start(store.earliest_mention(playbook), end, window, monitoring.gate.max_age)
    if start >= end:
        return [], []
    accumulator = WindowAccumulator(settings.window)
    accumulator.add(store.iter_mentions_between(playbook, start, end))
    walked = detection.walk(accumulator, settings, start, end)
    alerts = [alert for stats in walked for alert in detector.observe(stats)]
    store.save_detector_state(playbook, detector.state())
    return list(accumulator.windows(max(start, end - REPORTED_WINDOWS * window), end)), alerts


def _first_start(earliest: datetime | None, end: datetime, window: timedelta, max_age: int) -> datetime:
    if earliest is None:
        return end - window
    oldest = end - timedelta(seconds=max_age)
    return window_floor(max(earliest, oldest), int(window.total_seconds()))


def _detector(playbook: str, settings: Detection, store: Store) -> tuple[detection.Detector, datetime | None]:
    """The detector where the previous run left it, and the end of the last window it saw."""
    state = store.detector_state(playbook)
    if state:
        try:
            last_end = state.get("last_end")
            detector = detection.Detector.from_state(settings, state)
            return detector, datetime.fromisoformat(last_end) if last_end else None
        except ValueError as exc:  # e.g. the playbook changed its window: the old baseline means nothing
            log.warning("detector state of %s discarded: %s", playbook, exc)
    return detection.Detector(settings), None


# --- a file: `crisis monitor --input`, and the files that claim and assessment steps read -------------------


def read_file(playbook: Playbook, path: Path, write: Callable[[BatchOutcome], None],
              enricher: Enricher | PoolEnricher | None = None, clock: Clock = utc_now, chunk: int = FILE_CHUNK,
              format: Format | None = None, mapping: dict[str, str] | None = None) -> Totals:
    """A finished JSONL or CSV file of mentions (`format` None: as its name says) through the monitoring pass,
    `chunk` records at a time, each batch's outcome handed to `write` (and not kept). The file is complete, so its
    last line is read even without a newline. A file that cannot be read raises SourceError."""
    return _read_source(playbook, input_reader(path, format, mapping), write, enricher, clock, chunk)


def input_reader(path: Path, format: Format | None = None, mapping: dict[str, str] | None = None) -> FileReader:
    """The reader of a finished input file (CSV if its name ends in .csv, else JSONL, unless `format` says)."""
    # positions name the file as the user typed it
    return FileReader("input", path, format or file_format(path), mapping, display=str(path), finished=True)


def _read_source(playbook: Playbook, source: Source, write: Callable[[BatchOutcome], None],
                 enricher: Enricher | PoolEnricher | None, clock: Clock, chunk: int) -> Totals:
    monitor = MonitoringPass(playbook, MemoryLedger(write), enricher or Enricher(playbook), clock, dated_by_stream=True)
    totals = Totals(0, 0, 0)
    for outcome, _ in monitor.outcomes(source, chunk):
        totals = _add(totals, outcome)
    return totals


class _Watched:
    """A source that remembers every note of its reads (`outcomes` drops an empty read's)."""

    def __init__(self, source: Source) -> None:
        self.source, self.id = source, source.id
        self.notes: list[str] = []

    def read(self, cursor: dict[str, Any] | None, limit: int | None = None) -> Batch:
        batch = self.source.read(cursor, limit)
        self.notes += [note for note in batch.notes if note not in self.notes]  # a CSV's header is noted each read
        return batch


@dataclass
class OfflineReport:
    read: int = 0
    processed: int = 0
    quarantined: int = 0
    alerts: list[Alert] = field(default_factory=list)
    processes: int = 1
    notes: list[str] = field(default_factory=list)  # what the reader said (mapping, bytes left unread …)


def monitor_file(playbook: Playbook, path: Path, write: Callable[[BatchOutcome], None], clock: Clock = utc_now,
                 processes: int | None = None, chunk: int = FILE_CHUNK, format: Format | None = None,
                 mapping: dict[str, str] | None = None) -> OfflineReport:
    """`crisis monitor --input`: `read_file`, then detection over every window of the file.

    Detection only needs the windows' counts and samples (`WindowAccumulator`), so memory stays flat
    however long the file. `processes` (default: the playbook's `monitoring.processes`) above 1 enriches on that
    many worker processes. The report keeps what the reader noted (bytes it left unread, columns missing …).
    """
    settings = (playbook.monitoring or Monitoring()).detection
    report = OfflineReport(processes=processes or (playbook.monitoring or Monitoring()).processes)
    windows = WindowAccumulator(settings.window)
    source = _Watched(input_reader(path, format, mapping))

    def keep(outcome: BatchOutcome) -> None:
        windows.add(outcome.mentions)
        write(outcome)

    with _enricher(playbook, report.processes) as enricher:
        totals = _read_source(playbook, source, keep, enricher, clock, chunk)
    report.read, report.processed, report.quarantined = totals.read, totals.processed, totals.quarantined
    report.alerts = detection.detect_windows(detection.walk(windows, settings), settings)
    report.notes = source.notes
    return report


def _enricher(playbook: Playbook, processes: int) -> AbstractContextManager[Enricher | PoolEnricher]:
    """The in-process Enricher, or a pool of `processes` workers (stopped when the block ends)."""
    if processes <= 1:
        return nullcontext(Enricher(playbook))
    from crisiscomms.monitoring.parallel import PoolEnricher  # late: it starts processes

    return PoolEnricher(playbook, processes)
