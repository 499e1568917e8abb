"""The deadline of an approval stage, for runs that wait suspended (nothing of theirs is running to notice it).

`approval.open` schedules one run of this flow at each stage's deadline. If the run still waits on that stage, it
is resumed with a signed deadline receipt in place of an answer; the flow then judges that the stage timed out
(and escalates, or ends `timed_out`: never a release). If someone answered first, there is nothing to do.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run

from crisiscomms import clock
from crisiscomms.communication import signing
from crisiscomms.communication.approval import ApprovalStore
from crisiscomms.monitoring.store import state_dir
from flows.choices import ROOT


@flow(name="approval-deadline", log_prints=True,
      description="At an approval stage's deadline: time the stage out if nobody answered. Scheduled by each "
                  "stage; not run by hand.")
def approval_deadline(flow_run_id: str, stage_id: str) -> str:
    logger = get_run_logger()
    state = state_dir(Path(ROOT))
    found = _stage(state, stage_id)
    if found is None or found[2] != "open":
        logger.info("stage %s is %s: nothing to do", stage_id, found[2] if found else "unknown")
        return "closed"
    record, pause_key, _ = found
    # Workers pick scheduled runs up a little ahead of time (PREFECT_WORKER_PREFETCH_SECONDS); in a drill the
    # deadline is on the drill's clock, which its conductor moves on.
    clock.wait_until(record.deadline_at + timedelta(seconds=1))
    found = _stage(state, stage_id)  # answered while this run waited?
    if found is None or found[2] != "open":
        logger.info("stage %s was answered in time: nothing to do", stage_id)
        return "closed"
    with get_client(sync_client=True) as client:
        run_state = client.read_flow_run(flow_run_id).state
        if run_state is None or not run_state.is_paused() or run_state.state_details.pause_key != pause_key:
            logger.info("run %s does not wait on stage %s now: nothing to do", flow_run_id, stage_id)
            return "not waiting"
        keyset = run_state.state_details.run_input_keyset or {}
        schema = client.read_flow_run_input(flow_run_id, keyset["schema"])
    names = json.loads(schema)["properties"]["name"]["enum"]  # the form's own choice, so the input validates
    receipt = signing.sign(signing.load_key(state), "deadline", {"s": stage_id})
    resume_flow_run(flow_run_id, run_input={"decision": "reject", "name": names[0], "comment": "", "edits": "",
                                            "link_receipt": receipt})
    logger.warning("stage %d/%d of %s: deadline %s passed without an answer", record.number, record.of,
                   record.playbook, record.deadline)
    return "timed out"


def _stage(state: Path, stage_id: str) -> tuple[Any, str, str] | None:
    store = ApprovalStore(state)
    try:
        return store.stage(stage_id)
    finally:
        store.close()

