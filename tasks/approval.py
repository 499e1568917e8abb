"""message.approve, its audit half: the outcome of the approval chain recorded as the step's task run.

The pause itself belongs to the phase flow (flows/approval.py): a task cannot pause its flow.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.runtime import task_run


@task(name="message.approve")
def record_approval(record: dict[str, Any]) -> dict[str, Any]:
    """The decision, every answer (with refusals), and the pack hash it applies to."""
    logger = get_run_logger()
    logger.info("approval: %s for pack %s (%d answer(s))", record["decision"], record["hash"][:16],
                len(record["decisions"]))
    # Task results are not persisted on the server, logs are: each answer as typed (repr: data, never markup)
    # keeps who decided what, and why, readable in the run's audit trail after the flow process is gone.
    for answer in record["decisions"]:
        refused = f", refused: {answer['refused']}" if answer.get("refused") else ""
        logger.info("stage %s: %s by %r as %r at %s, comment %r%s", answer["stage"], answer["decision"],
                    answer["name"], answer["role"], answer["at"], answer["comment"], refused)
    _approval_table(record)
    return record


def _approval_table(record: dict[str, Any]) -> None:
    """Every answer as a table on the run: the audit trail's view of who approved which hash, when, and why.

    Table cells are shown as text by the UI, so an approver's comment stays data whatever it contains.
    """
    rows = [{"stage": a["stage"], "decision": a["decision"], "name": a["name"], "role": a["role"],
             "at": a["at"], "comment": a["comment"], "refused": a.get("refused", ""),
             "edits": ", ".join(sorted(a.get("edits") or {}))} for a in record["decisions"]]
    run_name = str(task_run.get_name() or "approval")  # "<playbook>:<step>"
    key = "".join(c if c.isalnum() else "-" for c in run_name.lower()).strip("-") + "-approval"
    create_table_artifact(rows, key=key, description=f"{record['decision']}: pack {record['hash'][:16]}… "
                          f"(priority {record.get('priority') or 'none'})")
