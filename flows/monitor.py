"""The scheduled monitoring run of a playbook: every source since its watermark, detection, alerts.

An alert is a Prefect event `crisis.alert.<level>`; the automation declared on the `on-alert`
deployment in prefect.yaml starts the playbook's assessment phase with the alert as its input.
A declared false claim above its threshold is an event `crisis.claim.spreading`, which starts the
communication phase with the claim in the playbook's claim input (`communication.claim_input`); every
recorded correction is tracked at each run.
The playbook is read once, here; the tasks get the model.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from crisiscomms.stack.project import Project
from flows.choices import ROOT, PlaybookChoice
from tasks.monitoring import (
    detect,
    emit_alerts,
    emit_spreading_claims,
    pass_source,
    publish_claim_tracking,
    publish_report,
    publish_volume_chart,
)


@flow(name="crisis-monitor", flow_run_name="{playbook}/monitor", log_prints=True,
      description="Read every source of the playbook since its watermark, gate, analyse, detect, alert.")
def monitor(playbook: PlaybookChoice) -> dict[str, Any]:  # type: ignore[valid-type]
    loaded = Project(ROOT).load(playbook).playbook  # read now, not the copy cached when the module loaded
    if loaded.monitoring is None or not loaded.monitoring.sources:
        raise ValueError(f"playbook '{playbook}' has no `monitoring.sources` to read")
    root, run_id = str(ROOT), str(flow_run.get_id() or "local")
    passes = [pass_source.with_options(task_run_name=f"{playbook}:read:{s.id}")(loaded, root, s.id, run_id)
              for s in loaded.monitoring.sources]
    detected = detect(loaded, root)
    alerts = [a for p in passes for a in p["alerts"]] + detected["alerts"]
    emit_alerts(playbook, loaded.title, alerts, root, run_id)
    publish_report(playbook, passes, detected)
    publish_volume_chart(loaded, root)
    spreading = emit_spreading_claims(loaded, root, run_id)
    publish_claim_tracking(loaded, root)
    return {"read": sum(p["read"] for p in passes), "processed": sum(p["processed"] for p in passes),
            "quarantined": sum(p["quarantined"] for p in passes), "alerts": alerts, "claims": spreading}
