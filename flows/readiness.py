"""The `readiness` deployment: the readiness report of one playbook (`crisis ready` on the Prefect side), on a
schedule — weekly for the demo — so that a stale contact, a voided clearance or a dead channel is seen before a
crisis finds it. The report is the run's artifact; the run fails when an item is red, so it shows in the UI."""

from __future__ import annotations

from prefect import flow

from crisiscomms.playbook.readiness_steps import ReadinessRecord
from flows.choices import ROOT, PlaybookChoice
from tasks.readiness import report_readiness


@flow(name="crisis-readiness", flow_run_name="{playbook}/readiness", log_prints=True,
      description="Is the team ready for a crisis today? The playbook's readiness report, green / amber / red per "
                  "item with its fix; the run fails when an item is red.")
def readiness(playbook: PlaybookChoice, probe: bool = True) -> ReadinessRecord:  # type: ignore[valid-type]
    return report_readiness(playbook, str(ROOT), probe, fail_on_red=True)
