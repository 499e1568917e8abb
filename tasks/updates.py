"""Update cadence on the Prefect side: the promise's reminder run and the promised-vs-actual table.

The reminder is a run of the `update-reminder` deployment (prefect.yaml) scheduled at the promised time. The
embedded API of `crisis run` and the test harness have no deployments: the promise is kept all the same and the
log says why no reminder was scheduled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect.artifacts import create_table_artifact
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from crisiscomms.communication import cadence
from crisiscomms.communication.cadence import Promise
from tasks.crisis import inherited_tags

REMINDER_FLOW = "update-reminder"
REMINDER_DEPLOYMENT = f"{REMINDER_FLOW}/update-reminder"


def reminder_tags(playbook: str) -> list[str]:
    """The reminder belongs to the crisis of the release that made the promise."""
    return ["crisiscomms", "update-reminder", f"playbook:{playbook}", *inherited_tags()]


def schedule_reminder(promise: Promise) -> tuple[str | None, str]:
    """(flow run id, what happened): the reminder run at the promised time, or why there is none."""
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(REMINDER_DEPLOYMENT)
        except ObjectNotFound:
            return None, (f"no reminder scheduled: deployment {REMINDER_DEPLOYMENT} is not registered on this "
                          "Prefect API (the embedded one of `crisis run` has none; `crisis up` registers it)")
    at = cadence.parse_time(promise.promised)
    # The key makes a re-run of the same release find the reminder it already scheduled instead of a second one.
    run = run_deployment(name=REMINDER_DEPLOYMENT, parameters={"playbook": promise.playbook, "promise": promise.id},
                         scheduled_time=max(at, datetime.now(UTC)), timeout=0, as_subflow=False,
                         tags=reminder_tags(promise.playbook), flow_run_name=f"{promise.playbook}/promise-{promise.id}",
                         idempotency_key=f"update-reminder-{promise.playbook}-{promise.id}-{promise.pack[:16]}")
    return str(run.id), f"reminder run {run.id} scheduled for {promise.promised}"


def publish_cadence(root: Any, playbook: str) -> list[dict[str, Any]]:
    """The `<playbook>-update-cadence` table: every promise, promised vs actual."""
    rows = [p.row() for p in cadence.promises(root, playbook)]
    if rows:
        create_table_artifact(rows, key=f"{playbook}-update-cadence".replace("_", "-").lower(),
                              description=f"{playbook}: update promised vs actual (each release promises the next)")
    return rows
