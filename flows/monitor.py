"""The scheduled monitoring run of a playbook: every source since its watermark, detection, alerts.

An alert is a Prefect event `crisis.alert.<level>`; the automation declared on the assessment
deployment in prefect.yaml starts the playbook's assessment phase with the alert as its input.
A declared false claim above its threshold is an event `crisis.claim.spreading`, which starts the
communication phase with the claim as `inputs.rumeur`; every recorded correction is tracked at each run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from flows.choices import PROJECT, ROOT, PlaybookChoice
from tasks.monitoring import (
    detect,
    emit_alerts,
    emit_spreading_claims,
    pass_source,
    publish_claim_tracking,
    publish_report,
)


@flow(name="crisis-monitor", flow_run_name="{playbook}/monitor", log_prints=True,
      description="Read every source of the playbook since its watermark, gate, analyse, detect, alert.")
def monitor(playbook: PlaybookChoice) -> dict[str, Any]:  # type: ignore[valid-type]
    loaded = PROJECT.load(playbook)
    monitoring = loaded.playbook.monitoring
    if monitoring is None or not monitoring.sources:
        raise ValueError(f"playbook '{playbook}' has no `monitoring.sources` to read")
    run_id = str(flow_run.get_id() or "local")
    passes = [pass_source.with_options(task_run_name=f"{playbook}:read:{s.id}")(str(ROOT), playbook, s.id, run_id)
              for s in monitoring.sources]
    detected = detect(str(ROOT), playbook)
    alerts = [a for p in passes for a in p["alerts"]] + detected["alerts"]
    emit_alerts(playbook, loaded.playbook.title, alerts)
    publish_report(playbook, passes, detected)
    spreading = emit_spreading_claims(str(ROOT), playbook, run_id)
    publish_claim_tracking(str(ROOT), playbook)
    return {"read": sum(p["read"] for p in passes), "processed": sum(p["processed"] for p in passes),
            "quarantined": sum(p["quarantined"] for p in passes), "alerts": alerts, "claims": spreading}
