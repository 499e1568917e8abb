"""The monitoring pass: read sources since their watermark → quality gate → enrich → store → detect.

    read ─▶ gate (Great Expectations) ─▶ enrich (language, watchlist, sentiment, relevance) ─▶ store
      │            └─▶ quarantine (with reasons)                                                │
      └─ source error ─▶ data-gap alert                           windows ─▶ detector ─▶ alerts ◀┘

Invariant, per batch, per run and in total: read = processed + quarantined.
Prefect-free: `flows/monitor.py` wraps these functions in tasks; `crisis monitor` calls them directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crisiscomms.mention import Alert, EnrichedMention, Quarantined
from crisiscomms.monitoring import detection, quality
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.sources import Batch, Source, SourceError, build_source
from crisiscomms.monitoring.store import Store, Totals
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Detection, Monitoring

if TYPE_CHECKING:
    from crisiscomms.monitoring.parallel import PoolEnricher

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BatchOutcome:
    source: str
    read: int
    mentions: list[EnrichedMention]
    quarantined: list[Quarantined]
    gate: dict[str, Any]
    issues: list[str]


def process_batch(batch: Batch, source_id: str, monitoring: Monitoring, enricher: Enricher, now: datetime,
                  seen_ids: Iterable[str] = (), baseline_volume: float | None = None) -> BatchOutcome:
    """Gate and enrich one batch; every record read comes out processed or quarantined."""
    gated = quality.gate(batch.records, source_id, monitoring.gate, now, baseline_volume=baseline_volume,
                         seen_ids=set(seen_ids))
    stamped = [m.model_copy(update={"source": m.source or source_id}) for m in gated.mentions]
    enriched = enricher.enrich(stamped)
    outcome = BatchOutcome(source_id, batch.read, enriched, [*batch.quarantined, *gated.quarantined],
                           gated.summary, list(gated.batch_issues))
    assert len(outcome.mentions) + len(outcome.quarantined) == outcome.read, "monitoring lost records"
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


def pass_source(playbook: str, source: Source, monitoring: Monitoring, store: Store, run_id: str, now: datetime,
                enricher: Enricher) -> SourcePass:
    """Read → gate → enrich → commit (batch, quarantine and watermark in one transaction).

    A source that fails, collapses or goes silent yields a data-gap alert, never "all quiet".
    """
    try:
        batch = source.read(store.cursor(playbook, source.id))
    except SourceError as exc:
        gap = data_gap_alert(source.id, str(exc), now, monitoring)
        return SourcePass(source.id, Totals(0, 0, 0), [gap], failure=str(exc))
    outcome = process_batch(batch, source.id, monitoring, enricher, now,
                            seen_ids=store.known_ids(playbook, [str(r.data.get("id")) for r in batch.records]),
                            baseline_volume=store.typical_volume(playbook, source.id))
    totals = store.commit_batch(playbook, source.id, run_id, outcome.mentions, outcome.quarantined,
                                batch.cursor, batch.read)
    gaps = [data_gap_alert(source.id, issue, now, monitoring) for issue in outcome.issues]
    return SourcePass(source.id, totals, gaps, outcome.gate, list(batch.notes))


@dataclass
class RunReport:
    """What one scheduled monitoring run did."""

    passes: list[SourcePass]
    alerts: list[Alert]
    totals: Totals


def run_monitoring(playbook: Playbook, root: Path, store: Store, run_id: str, clock: Clock = utc_now,
                   sources: Sequence[Source] | None = None) -> RunReport:
    """A scheduled pass: every source since its watermark, then detection over the closed windows."""
    monitoring = playbook.monitoring or Monitoring()
    now = clock()
    enricher = Enricher(playbook)
    chosen = sources if sources is not None else [build_source(s, root) for s in monitoring.sources]
    passes = [pass_source(playbook.id, source, monitoring, store, run_id, now, enricher) for source in chosen]
    _, detected = detect_new_windows(playbook.id, monitoring, store, now)
    alerts = [a for p in passes for a in p.alerts] + detected
    return RunReport(passes, alerts, store.totals(playbook.id, run_id))


def detect_new_windows(playbook: str, monitoring: Monitoring, store: Store,
                       now: datetime) -> tuple[list[detection.WindowStats], list[Alert]]:
    """Feed the detector the windows that closed since its last run (state kept in the store)."""
    settings = monitoring.detection
    detector, last_end = _detector(playbook, settings, store)
    end = _floor(now, settings.window)
    start = last_end or end - timedelta(seconds=settings.window) * settings.baseline_windows
    if start >= end:
        return [], []
    windows = detection.aggregate(store.mentions_between(playbook, start, end), settings.window, start, end)
    alerts = [alert for stats in windows for alert in detector.observe(stats)]
    store.save_detector_state(playbook, detector.state())
    return windows, alerts


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


def _floor(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def data_gap_alert(source_id: str, reason: str, now: datetime, monitoring: Monitoring) -> Alert:
    """A source that fails or goes silent is a data gap — never "all quiet"."""
    window = timedelta(seconds=monitoring.detection.window)
    return Alert(kind="data_gap", level="alert", window_start=now - window, window_end=now, volume=0,
                 baseline=0.0, score=0.0, reason=f"data gap / collector outage on '{source_id}': {reason}")


@dataclass
class OfflineReport:
    read: int = 0
    processed: int = 0
    quarantined: int = 0
    alerts: list[Alert] = field(default_factory=list)
    processes: int = 1


def monitor_file(playbook: Playbook, batches: Iterable[Batch], write: Callable[[BatchOutcome], None],
                 clock: Clock = utc_now, processes: int | None = None) -> OfflineReport:
    """`crisis monitor --input`: batches of one file through gate and enrichment, then detection.

    Enriched mentions are written batch by batch and not kept: detection only needs their windows' counts and
    samples (`detection.WindowAccumulator`), so memory stays flat however long the file. `processes` (default:
    the playbook's `monitoring.processes`) above 1 enriches on that many worker processes.
    """
    monitoring = playbook.monitoring or Monitoring()
    report = OfflineReport(processes=processes or monitoring.processes)
    seen: set[str] = set()
    windows = detection.WindowAccumulator(monitoring.detection.window)
    with _enricher(playbook, report.processes) as enricher:
        for batch in batches:
            outcome = process_batch(batch, "input", monitoring, enricher, clock(), seen_ids=seen)  # type: ignore[arg-type]
            seen |= {m.id for m in outcome.mentions}
            windows.add(outcome.mentions)
            report.read += outcome.read
            report.processed += len(outcome.mentions)
            report.quarantined += len(outcome.quarantined)
            write(outcome)
    report.alerts = detection.detect_windows(windows.windows(), monitoring.detection)
    return report


def _enricher(playbook: Playbook, processes: int) -> AbstractContextManager[Enricher | PoolEnricher]:
    """The in-process Enricher, or a pool of `processes` workers (stopped when the block ends)."""
    if processes <= 1:
        return nullcontext(Enricher(playbook))
    from crisiscomms.monitoring.parallel import PoolEnricher  # late: it starts processes

    return PoolEnricher(playbook, processes)
