"""message.approve: the run pauses until the approval chain has decided on the message pack.

A pause belongs to the flow, not to a task, so the engine calls `request_approval` from the phase flow; the
decision is then recorded by a task run (`approval.record`) so it shows in the run's audit trail.

- The chain comes from `communication.approval` by the assessment's priority; each stage waits for `quorum`
  different members of its roles. An answer from someone outside those roles, or a second answer from the
  same person, is refused and the stage asks again (the refusal is kept in the record).
- The Resume form (Prefect UI) shows the pack's messages as Markdown; the approver gives decision, name, role,
  comment. What comes back is data: it is stored and shown, never rendered as a template.
- A stage that times out escalates once to its `escalate_to` role, else the decision is `timed_out`.
  Nothing is ever released by a timeout.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.context import get_run_context
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Running
from pydantic import Field

from crisiscomms import messages, reporting
from crisiscomms.errors import CrisisError
from crisiscomms.playbook.communication import Stage
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import ApprovalRecord, MessageApprove
from crisiscomms.watchlist import fold


class Decision(RunInput):
    """The Resume form of a paused approval."""

    decision: Literal["approve", "reject", "request_changes"] = Field(
        description="approve: the pack may be released as shown · reject: it must not · request_changes: "
        "edit the fact sheet or templates and run the communication phase again")
    name: str = Field(min_length=1, description="Your name, as written in the playbook's team.")
    role: str = Field(min_length=1, description="Your role in the crisis team.")
    comment: str = Field("", description="Why, or what to change (kept in the audit trail).")


def load_pack(record: dict[str, Any]) -> dict[str, Any]:
    """The kept pack, refused if its texts no longer match the hash they were checked under."""
    pack = json.loads(Path(record["path"]).read_text(encoding="utf-8"))
    if messages.read_variants(pack)[1] != record["hash"]:
        raise CrisisError(f"message pack {record['path']} was changed after it was checked: not submitted")
    return pack


def request_approval(step: MessageApprove, playbook: Playbook, context: StepContext, poll: int) -> ApprovalRecord:
    pack_record = context.results.get(step.pack)
    if not pack_record:
        raise CrisisError(f"step '{step.id}': no message pack from step '{step.pack}'")
    pack = load_pack(pack_record)
    assessment = context.results.get(step.assessment or "", {}) or {}
    priority = assessment.get("priority")
    chain = playbook.communication.approval.chain(priority)
    if not chain:
        raise CrisisError(f"no approval chain for priority {priority or '(none)'}: "
                          "declare communication.approval.chains or .default")
    preview = reporting.pack_markdown(playbook, pack)
    decisions: list[dict[str, Any]] = []
    for number, stage in enumerate(chain, start=1):
        outcome = _stage(step.id, number, len(chain), stage, playbook, preview, decisions, poll)
        if outcome != "approved":
            return ApprovalRecord(decision=outcome, hash=pack["hash"], path=pack_record["path"], priority=priority,
                                  decisions=decisions)
    return ApprovalRecord(decision="approved", hash=pack["hash"], path=pack_record["path"], priority=priority,
                          decisions=decisions)


def _stage(step_id: str, number: int, stages: int, stage: Stage, playbook: Playbook, preview: str,
           decisions: list[dict[str, Any]], poll: int) -> str:
    roles, escalated, approvers = list(stage.roles), False, set()
    logger = get_run_logger()
    while len(approvers) < stage.quorum:
        ask = (f"**Approval {number}/{stages}** — {stage.quorum - len(approvers)} more approval(s) from: "
               f"{_people(playbook, roles)}\n\n{preview}")
        try:
            answer = pause_flow_run(wait_for_input=Decision.with_initial_data(description=ask),
                                    timeout=stage.timeout, poll_interval=poll, key=f"{step_id}-{len(decisions)}")
        except FlowPauseTimeout:
            _resume_after_timeout()
            decisions.append(_entry(number, "timed_out", "", ", ".join(roles), f"no answer in {stage.timeout} s"))
            if stage.escalate_to and not escalated:
                roles, escalated = [stage.escalate_to], True
                logger.warning("approval stage %d timed out: escalated to %s", number, stage.escalate_to)
                continue
            return "timed_out"
        entry = _entry(number, answer.decision, answer.name, answer.role, answer.comment)
        refusal = _refusal(playbook, roles, answer.name, approvers)
        if refusal:
            decisions.append({**entry, "refused": refusal})
            logger.warning("approval refused: %s", refusal)
            continue
        decisions.append(entry)
        if answer.decision != "approve":
            return "rejected" if answer.decision == "reject" else "changes_requested"
        approvers.add(fold(answer.name.strip()))
    return "approved"


def _entry(stage: int, decision: str, name: str, role: str, comment: str) -> dict[str, Any]:
    return {"stage": stage, "decision": decision, "name": name, "role": role, "comment": comment,
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


def _members(playbook: Playbook, roles: list[str]) -> dict[str, str]:
    return {fold(person.name.strip()): person.name for role in roles if role in playbook.team
            for person in playbook.team[role].members}


def _people(playbook: Playbook, roles: list[str]) -> str:
    return ", ".join(f"{playbook.team[r].title} ({', '.join(m.name for m in playbook.team[r].members)})"
                     for r in roles if r in playbook.team)


def _refusal(playbook: Playbook, roles: list[str], name: str, approvers: set[str]) -> str | None:
    who = fold(name.strip())
    if who not in _members(playbook, roles):
        return f"{name!r} is not a member of {', '.join(roles)}: only they can decide at this stage"
    if who in approvers:
        return f"{name!r} already approved at this stage: a quorum needs different people"
    return None


def _resume_after_timeout() -> None:
    """After a timed-out pause the run is still PAUSED on the server: set it running again to go on."""
    run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, Running(message="approval timed out"), force=True)
