"""Monitoring tasks: one per source pass (read → gate → enrich → store), detection, alert events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from crisiscomms import monitor, reporting
from crisiscomms.mention import Alert
from crisiscomms.playbook.monitoring import Monitoring
from crisiscomms.project import Project
from crisiscomms.sources import build_source
from crisiscomms.store import Store, open_store


def _store(root: str) -> Store:
    return open_store(Path(root))


@task(name="monitor.source", retries=0)
def pass_source(root: str, playbook_id: str, source_id: str, run_id: str) -> dict[str, Any]:
    """Read one source since its watermark and commit what was read; a failure becomes a data gap."""
    playbook = Project(Path(root)).load(playbook_id).playbook
    monitoring = playbook.monitoring or Monitoring()
    spec = next(s for s in monitoring.sources if s.id == source_id)
    store = _store(root)
    try:
        done = monitor.pass_source(playbook_id, build_source(spec, Path(root)), monitoring, store, run_id,
                                   monitor.utc_now(), monitor.Enricher(playbook))
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
def detect(root: str, playbook_id: str) -> dict[str, Any]:
    pb = Project(Path(root)).load(playbook_id).playbook
    store = _store(root)
    windows, alerts = monitor.detect_new_windows(playbook_id, pb.monitoring or Monitoring(), store,
                                                 monitor.utc_now())
    store.close()
    return {"windows": [reporting.window_row(w) for w in windows],
            "alerts": [a.model_dump(mode="json") for a in alerts]}


@task(name="monitor.alert")
def emit_alerts(playbook_id: str, title: str, alerts: list[dict[str, Any]]) -> int:
    """One Prefect event per alert: `crisis.alert.<level>` (volume, negative) or `crisis.alert.data-gap`."""
    for payload in alerts:
        alert = Alert.model_validate(payload)
        name = "crisis.alert.data-gap" if alert.kind == "data_gap" else f"crisis.alert.{alert.level}"
        emit_event(event=name, payload=payload, resource={
            "prefect.resource.id": f"crisiscomms.playbook.{playbook_id}",
            "prefect.resource.name": title,
            "crisiscomms.playbook.id": playbook_id,
        })
        get_run_logger().warning("%s: %s", name, alert.reason or f"volume {alert.volume} vs {alert.baseline:.1f}")
    return len(alerts)


@task(name="monitor.report")
def publish_report(playbook_id: str, passes: list[dict[str, Any]], detected: dict[str, Any]) -> str:
    markdown = reporting.monitoring_markdown(playbook_id, passes, detected)
    create_markdown_artifact(markdown, key=f"{playbook_id}-monitoring", description="Monitoring run")
    return markdown
