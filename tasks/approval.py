"""message.approve, its recorded half: each stage opened, each answer read, each verdict kept, and the outcome of
the approval chain, as task runs of the step.

The pause itself belongs to the phase flow (flows/approval.py): a task cannot pause its flow. The rules are the
library's (`communication.chain`); these tasks persist what the flow must find again when a suspended run resumes
from the top: the same stage, deadline, answer and time.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.deployments import run_deployment
from prefect.runtime import task_run

from crisiscomms import clock
from crisiscomms.communication import answer as answers
from crisiscomms.communication import notify, signing
from crisiscomms.communication.answer import Answer, Timeout
from crisiscomms.communication.approval import ApprovalStore, Member, StageRecord
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import ApprovalRecord
from tasks.crisis import inherited_tags
from tasks.release import read_secret

DEADLINE_DEPLOYMENT = "approval-deadline/approval-deadline"


@task(name="approval.open", persist_result=True)
def open_stage(playbook: Playbook, stage: dict[str, Any], timeout: int, state: str, durable: bool
               ) -> dict[str, Any]:
    """A stage opens once: its deadline fixed, its record kept, each of its people told with their own link, and
    (durable runs) a deadline run scheduled. Persisted: a run that resumes from the top gets this same record."""
    record = StageRecord.opening(stage, timeout, clock.now())
    store = ApprovalStore(Path(state))
    try:
        store.open_stage(record)
    finally:
        store.close()
    key = signing.load_key(Path(state))
    links = {a["name"]: personal_link(key, record, a["name"]) for a in record.approvers}
    notices = _notify(playbook, record, links, Path(state) / "outbox")
    if durable:
        _schedule_deadline(record)
    return {"record": asdict(record), "notices": notices}


def approver_url() -> str:
    """Where approvers open their links: CRISIS_APPROVER_URL, else the UI's address (`crisis up` serves both)."""
    base = os.environ.get("CRISIS_APPROVER_URL") or os.environ.get("PREFECT_UI_URL") or "http://127.0.0.1:4200"
    return base.rstrip("/")


def personal_link(key: bytes, record: StageRecord, person: str) -> str:
    token = signing.sign(key, "link", {"s": record.stage_id, "p": person, "h": record.hash,
                                       "x": int(record.deadline_at.timestamp()), "i": os.urandom(9).hex()})
    return f"{approver_url()}/approve/{token}"


def _schedule_deadline(record: StageRecord) -> None:
    """Nothing polls a suspended run: a run of the deadline deployment answers for the stage if nobody has."""
    run = run_deployment(DEADLINE_DEPLOYMENT, parameters={"flow_run_id": record.run_id, "stage_id": record.stage_id},
                         scheduled_time=record.deadline_at, timeout=0, as_subflow=False,
                         idempotency_key=f"deadline:{record.stage_id}",
                         tags=["approval-deadline", *inherited_tags()])
    get_run_logger().info("stage %d: deadline %s (deadline run %s)", record.number, record.deadline, run.id)


@task(name="approval.answer", persist_result=True)
def read_answer(stage: dict[str, Any], form: dict[str, Any] | None, state: str, pause_key: str) -> Answer | Timeout:
    """The answer given at a pause (None: the wait ended without one), its receipt checked and its time taken.
    Persisted, one per pause key: a resumed run reads the same answer at the same time, so the chain judges it
    as it did (a receipt that expired since still counts as it did)."""
    record = StageRecord(**stage)
    return answers.read(record.stage_id, record.hash, form, signing.load_key(Path(state)), clock.now())


@task(name="approval.verdict", persist_result=True)
def record_verdict(run_id: str, pause_key: str, number: int, refused: str, state: str) -> None:
    """The chain's verdict on the answer given at this pause, kept where the approver page and `crisis approve`
    read it. Persisted: a resumed run does not write it again."""
    store = ApprovalStore(Path(state))
    try:
        store.record_answer(run_id, pause_key, "refused" if refused else "accepted", refused)
    finally:
        store.close()
    if refused:
        get_run_logger().warning("stage %d: answer refused: %s", number, refused)


def _notify(playbook: Playbook, stage: StageRecord, links: dict[str, str], outbox: Path) -> list[dict[str, Any]]:
    """Each person of a stage that opens is told, with their own link (the links themselves are never logged)."""
    logger = get_run_logger()
    notices = []
    for person in stage.approvers:
        notice = notify.send_request(playbook, stage, Member(**person), links[person["name"]], outbox, read_secret)
        (logger.info if notice.status == "sent" else logger.warning)(
            "stage %d: approval request to %s: %s (%s)", stage.number, notice.person, notice.status, notice.detail)
        notices.append({"stage": stage.number, "person": notice.person, "status": notice.status,
                        "detail": notice.detail, "deadline": stage.deadline})
    return notices


@task(name="message.approve", persist_result=True)
def record_approval(record: ApprovalRecord) -> ApprovalRecord:
    """The decision, every answer (with refusals), and the pack hash it applies to."""
    logger = get_run_logger()
    logger.info("approval: %s for pack %s (%d answer(s))", record.decision, record.hash[:16],
                len(record.decisions))
    # Task results are not persisted on the server, logs are: each answer as typed (repr: data, never markup)
    # keeps who decided what, and why, readable in the run's audit trail after the flow process is gone.
    for answer in record.decisions:
        refused = f", REFUSED: {answer['refused']}" if answer.get("refused") else ""
        logger.info("stage %s: %s by %r as %r via %s at %s, comment %r%s", answer["stage"], answer["decision"],
                    answer["name"], answer["role"], answer.get("via", "ui"), answer["at"], answer["comment"],
                    refused)
    _approval_table(record)
    return record


def _approval_table(record: ApprovalRecord) -> None:
    """Every answer as a table on the run: the audit trail's view of who approved which hash, when, and why.

    Table cells are shown as text by the UI, so an approver's comment stays data whatever it contains.
    """
    rows = [{"decision": a["decision"], "refused": "REFUSED" if a.get("refused") else "", "reason": a.get(
        "refused", ""), "stage": a["stage"], "name": a["name"], "role": a["role"], "via": a.get("via", "ui"),
             "at": a["at"], "comment": a["comment"], "edits": ", ".join(sorted(a.get("edits") or {}))}
            for a in record.decisions]
    run_name = str(task_run.get_name() or "approval")  # "<playbook>:<step>"
    key = "".join(c if c.isalnum() else "-" for c in run_name.lower()).strip("-") + "-approval"
    create_table_artifact(rows, key=key, description=f"{record.decision}: pack {record.hash} "
                          f"(priority {record.priority or 'none'})")
