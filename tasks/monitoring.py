"""Monitoring tasks: one per source pass (read → gate → enrich → store), detection, alert events, claims.

Each takes the playbook the flow loaded (never re-reads its YAML) and the project root, where the state is.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import get_client, get_run_logger, task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.events import emit_event
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from crisiscomms.mention import Alert
from crisiscomms.monitoring import claimwatch, monitor
from crisiscomms.monitoring.correction import open_corrections
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import StoreLedger
from crisiscomms.monitoring.record import parse_time
from crisiscomms.monitoring.sources import build_source
from crisiscomms.monitoring.store import open_store
from crisiscomms.monitoring.windows import window_floor
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Monitoring
from crisiscomms.report import charts, reporting
from crisiscomms.review import crises
from tasks.crisis import tag_current_run


def _monitoring(playbook: Playbook) -> Monitoring:
    return playbook.monitoring or Monitoring()


SOURCE_LEASE = 60.0  # seconds a killed worker's hold on a source outlives it


def one_reader(playbook_id: str, source_id: str) -> AbstractContextManager[None]:
    """The source's one slot (Prefect global concurrency limit `source-<playbook>-<source>`, 1 slot, made the first
    time): two workers never read one source at once — the second waits for the first to commit. A worker killed
    mid-read holds it until its lease runs out. The store refuses a batch read from a moved watermark anyway
    (SourceTaken): the slot spares the wasted read."""
    name = f"source-{playbook_id}-{source_id}"
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with contextlib.suppress(ObjectAlreadyExists):  # another worker made it first
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    return concurrency(name, occupy=1, lease_duration=SOURCE_LEASE, strict=True)


@task(name="monitor.source", retries=0)
def pass_source(playbook: Playbook, root: str, source_id: str, run_id: str) -> dict[str, Any]:
    """Read one source since its watermark and commit what was read; a failure becomes a data gap."""
    spec = next(s for s in _monitoring(playbook).sources if s.id == source_id)
    store = open_store(Path(root))
    try:
        with one_reader(playbook.id, source_id):
            done = monitor.MonitoringPass(playbook, StoreLedger(store, playbook.id, run_id),
                                          Enricher(playbook)).read(build_source(spec, Path(root)),
                                                                   chunk=_monitoring(playbook).batch)
    finally:
        store.close()
    logger = get_run_logger()
    if done.failure:
        logger.error("source %s failed: %s", source_id, done.failure)
    else:
        logger.info("%s: read %d = processed %d + quarantined %d", source_id, done.totals.read,
                    done.totals.processed, done.totals.quarantined)
    return {"source": source_id, "read": done.totals.read, "processed": done.totals.processed,
            "quarantined": done.totals.quarantined, "gate": done.gate, "notes": done.notes,
            "failure": done.failure, "alerts": [a.model_dump(mode="json") for a in done.alerts]}


@task(name="monitor.detect")
def detect(playbook: Playbook, root: str) -> dict[str, Any]:
    store = open_store(Path(root))
    try:
        windows, alerts = monitor.detect_new_windows(playbook.id, _monitoring(playbook), store, monitor.utc_now())
    finally:
        store.close()
    return {"windows": [reporting.window_row(w) for w in windows],
            "alerts": [a.model_dump(mode="json") for a in alerts]}


@task(name="monitor.alert")
def emit_alerts(playbook_id: str, title: str, alerts: list[dict[str, Any]], root: str | None = None,
                run_id: str | None = None) -> int:
    """One Prefect event per alert: `crisis.alert.<level>` (volume, negative) or `crisis.alert.data-gap`.

    With the project's `root`, each alert is kept in the crisis registry first: an `alert` or `crisis` level opens
    (or joins) the playbook's crisis, whose id the event carries (`crisiscomms.crisis.id`) to the assessment it
    starts, and this monitoring run is tagged with it."""
    for payload in alerts:
        alert = Alert.model_validate(payload)
        name = "crisis.alert.data-gap" if alert.kind == "data_gap" else f"crisis.alert.{alert.level}"
        crisis_id = crises.record_alert(Path(root), playbook_id, payload, run_id, title=title) if root else None
        if crisis_id:
            tag_current_run(crises.get(Path(root or "."), crisis_id))
        emit_event(event=name, payload=payload, resource={
            "prefect.resource.id": f"crisiscomms.playbook.{playbook_id}",
            "prefect.resource.name": title,
            "crisiscomms.playbook.id": playbook_id,
            "crisiscomms.crisis.id": crisis_id or "",
        })
        get_run_logger().warning("%s: %s", name, alert.reason or f"volume {alert.volume} vs {alert.baseline:.1f}")
    return len(alerts)


@task(name="monitor.report")
def publish_report(playbook_id: str, passes: list[dict[str, Any]], detected: dict[str, Any]) -> str:
    markdown = reporting.monitoring_markdown(playbook_id, passes, detected)
    create_markdown_artifact(markdown, key=f"{playbook_id}-monitoring", description="Monitoring run")
    return markdown


CHART_HOURS = 3  # what the volume chart of a monitoring run shows: a rise and what came before it


@task(name="monitor.volume-chart")
def publish_volume_chart(playbook: Playbook, root: str) -> list[int]:
    """The last hours of mentions per window, each alert marked at its window: a rise is seen, not read."""
    window = _monitoring(playbook).detection.window
    end = window_floor(monitor.utc_now(), window) + timedelta(seconds=window)
    start = end - timedelta(hours=CHART_HOURS)
    store = open_store(Path(root))
    try:
        volumes = store.volume_per_window(playbook.id, start, end, window)
    finally:
        store.close()
    labels = [f"{start + timedelta(seconds=i * window):%H:%M}" for i in range(len(volumes))]
    marks = [((parse_time(a["window_start"]) - start).total_seconds() / window, str(a["level"]))
             for a in crises.alerts(Path(root), playbook.id, start, end)
             if a.get("level") in ("alert", "crisis") and parse_time(a.get("window_start")) is not None]
    title = f"{playbook.title}: mentions per {window // 60} min, last {CHART_HOURS} h (UTC)"
    create_image_artifact(charts.data_url(charts.counts(title, labels, volumes, marks, marked="alert")),
                          key=f"{playbook.id}-monitoring-volume",
                          description=f"{playbook.id}: mentions per window, alerts marked")
    return volumes


def _claim_resource(playbook_id: str, title: str, claim_id: str) -> dict[str, str]:
    return {"prefect.resource.id": f"crisiscomms.playbook.{playbook_id}.claim.{claim_id}",
            "prefect.resource.name": title, "crisiscomms.playbook.id": playbook_id, "crisiscomms.claim.id": claim_id}


@task(name="monitor.claims")
def emit_spreading_claims(playbook: Playbook, root: str, run_id: str) -> list[dict[str, Any]]:
    """One `crisis.claim.spreading` event per declared claim above its threshold in a window this run read."""
    if not playbook.communication.claims:
        return []
    store, book = open_store(Path(root)), open_corrections(Path(root))
    try:
        events = claimwatch.spreading(playbook, store, book, run_id, _monitoring(playbook).detection.window)
    finally:
        store.close()
        book.close()
    for payload in events:
        # A false claim spreading is a crisis of its own when none is under way: the correction run joins it.
        crisis = crises.join_or_open(Path(root), playbook.id, playbook.title,
                                     f"monitoring (claim {payload['claim_id']})")
        tag_current_run(crisis)
        emit_event(event="crisis.claim.spreading", payload=payload,
                   resource={**_claim_resource(playbook.id, playbook.title, payload["claim_id"]),
                             "crisiscomms.crisis.id": crisis.id})
        get_run_logger().warning("crisis.claim.spreading: %s — %d mention(s) in the window of %s (threshold %d)",
                                 payload["claim_id"], payload["mentions"], payload["window_start"],
                                 payload["threshold"])
    return events


@task(name="monitor.claims-tracking")
def publish_claim_tracking(playbook: Playbook, root: str) -> list[dict[str, Any]]:
    """Every recorded correction, tracked: mentions before / since, per audience, still spreading (table + charts)."""
    book = open_corrections(Path(root))
    try:
        corrections = book.all(playbook.id)
    finally:
        book.close()
    if not corrections:
        return []
    window = _monitoring(playbook).detection.window
    store = open_store(Path(root))
    try:
        tracked = claimwatch.track(corrections, store, window, monitor.utc_now())
    finally:
        store.close()
    rows = [t.row() for t in tracked]
    create_table_artifact(rows, key=f"{playbook.id}-claims", description=f"{playbook.id}: corrected claims, "
                          "mentions before and since each correction")
    for claim_id in dict.fromkeys(t.correction.rule.id for t in tracked):
        _publish_claim_chart(playbook, [t for t in tracked if t.correction.rule.id == claim_id], window)
    return rows


def _publish_claim_chart(playbook: Playbook, tracked: list[claimwatch.Tracked], window: int) -> None:
    rule = tracked[0].correction.rule
    labels, values, marks = charts.claim_series(tracked, window)
    svg = charts.counts(f"{playbook.title}: « {rule.text[:60]} »", labels, values, marks,
                        legend="mentions carrying the claim")
    create_image_artifact(charts.data_url(svg), key=f"{playbook.id}-claims-{rule.id.replace('_', '-')}",
                          description=f"{playbook.id}: {rule.id} per window, corrections marked")
