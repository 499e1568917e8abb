"""message.approve, its audit half: the outcome of the approval chain recorded as the step's task run.

The pause itself belongs to the phase flow (flows/approval.py): a task cannot pause its flow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.runtime import task_run

from crisiscomms import notify
from crisiscomms.approval import Approver, StageRecord
from crisiscomms.playbook.models import Playbook
from tasks.release import read_secret


@task(name="approval.notify")
def notify_approvers(playbook: Playbook, stage: StageRecord, links: dict[str, str], outbox: str
                     ) -> list[dict[str, Any]]:
    """Each person of a stage that opens is told, with their own link (the links themselves are never logged)."""
    logger = get_run_logger()
    notices = []
    for person in stage.approvers:
        notice = notify.send_request(playbook, stage, Approver(**person), links[person["name"]], Path(outbox),
                                     read_secret)
        (logger.info if notice.status == "sent" else logger.warning)(
            "stage %d: approval request to %s: %s (%s)", stage.number, notice.person, notice.status, notice.detail)
        notices.append({"stage": stage.number, "person": notice.person, "status": notice.status,
                        "detail": notice.detail, "deadline": stage.deadline})
    return notices


@task(name="message.approve")
def record_approval(record: dict[str, Any]) -> dict[str, Any]:
    """The decision, every answer (with refusals), and the pack hash it applies to."""
    logger = get_run_logger()
    logger.info("approval: %s for pack %s (%d answer(s))", record["decision"], record["hash"][:16],
                len(record["decisions"]))
    # Task results are not persisted on the server, logs are: each answer as typed (repr: data, never markup)
    # keeps who decided what, and why, readable in the run's audit trail after the flow process is gone.
    for answer in record["decisions"]:
        refused = f", REFUSED: {answer['refused']}" if answer.get("refused") else ""
        logger.info("stage %s: %s by %r as %r via %s at %s, comment %r%s", answer["stage"], answer["decision"],
                    answer["name"], answer["role"], answer.get("via", "ui"), answer["at"], answer["comment"],
                    refused)
    _approval_table(record)
    return record


def _approval_table(record: dict[str, Any]) -> None:
    """Every answer as a table on the run: the audit trail's view of who approved which hash, when, and why.

    Table cells are shown as text by the UI, so an approver's comment stays data whatever it contains.
    """
    rows = [{"decision": a["decision"], "refused": "REFUSED" if a.get("refused") else "", "reason": a.get(
        "refused", ""), "stage": a["stage"], "name": a["name"], "role": a["role"], "via": a.get("via", "ui"),
             "at": a["at"], "comment": a["comment"], "edits": ", ".join(sorted(a.get("edits") or {}))}
            for a in record["decisions"]]
    run_name = str(task_run.get_name() or "approval")  # "<playbook>:<step>"
    key = "".join(c if c.isalnum() else "-" for c in run_name.lower()).strip("-") + "-approval"
    create_table_artifact(rows, key=key, description=f"{record['decision']}: pack {record['hash']} "
                          f"(priority {record.get('priority') or 'none'})")
