"""message.approve, its audit half: the outcome of the approval chain recorded as the step's task run.

The pause itself belongs to the phase flow (flows/approval.py): a task cannot pause its flow.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task


@task(name="message.approve")
def record_approval(record: dict[str, Any]) -> dict[str, Any]:
    """The decision, every answer (with refusals), and the pack hash it applies to."""
    get_run_logger().info("approval: %s for pack %s (%d answer(s))", record["decision"], record["hash"][:16],
                          len(record["decisions"]))
    return record
