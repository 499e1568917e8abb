"""message.approve: the run waits until the approval chain has decided on the message pack.

A wait belongs to the flow, not to a task, so the engine calls `request_approval` from the flow; opening a stage
(its deadline, its notifications), judging each answer and the decision are task runs (`approval.open`,
`approval.judge`, `message.approve`) in the run's audit trail. The rules (who may decide, what refuses an answer)
are `crisiscomms.communication.approval`; this module waits and records.

- A deployment's top-level run waits **suspended**: no process is kept; a decision reschedules it, and any worker
  runs it again from the top: finished steps, opened stages and judged answers come back Cached (persisted
  results), each wait returns its recorded answer, and the run goes on from the first unanswered one. A stage's
  deadline is kept by a run of `approval-deadline` scheduled for it (flows/deadline.py). Any other run (a
  sub-flow, `crisis run`, the flow tests) waits in its process (`pause_flow_run`), until the deadline.

- When a stage opens, each person who may decide gets their own signed link (`communication.signing`), bound to
  this run, stage, person and pack hash, expiring with the stage, by the channel the playbook gives them. The
  page it opens (`communication.approver_page`) shows the pack exactly as it will leave and posts the decision; the
  identity comes from the link. Its answer carries a signed receipt the flow checks.
- The Prefect UI's Resume form (and `crisis approve`) offer the stage's people as a choice; anyone holding the
  server credential can pick any name there, so a playbook can accept links only (`approval.via: [link]`).
- A refused answer is said where it was given (the next form starts with "Refused: …"; the page and the CLI read
  the verdict recorded against the pause) and does not move the stage's deadline.
- A stage that times out escalates once to its `escalate_to` role (notified the same way), else the decision is
  `timed_out`. Nothing is ever released by a timeout.
- `request_changes` with `edits` (fact-sheet fields as YAML) re-renders the pack with them (a new `message.pack`
  task run, a new hash) and the whole chain starts again on the new texts: nobody approves what they did not see.

What comes back is data: it is stored and shown, never rendered as a template.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.context import get_run_context
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.input import RunInput
from prefect.states import Running
from pydantic import Field, create_model

from crisiscomms.communication import messages, signing
from crisiscomms.communication.approval import MAX_COMMENT, ApprovalStore, StageRecord
from crisiscomms.communication.approval import approvers as stage_approvers
from crisiscomms.errors import EMBEDDED, CrisisError
from crisiscomms.monitoring.store import state_dir
from crisiscomms.playbook.communication import Stage
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import ApprovalRecord, MessageApprove
from tasks.approval import approver_url, judge_answer, open_stage

Decision = Literal["approve", "reject", "request_changes"]


def decision_form(names: list[str], lead: str = "") -> type[RunInput]:
    """The Resume form of one stage: its people as a choice, never a free-text name or role. `lead` (a refusal,
    who decides by when) heads the first field's help too: the UI gives the form's description no room at 768 px."""
    fields: dict[str, Any] = {
        "decision": (Decision, Field(description=f"{lead}approve: the pack may be released as shown · reject: it "
                                     "must not · request_changes: edit the fact sheet or templates and try again")),
        "name": (Literal[tuple(names)], Field(description="Who you are: one of the people who decide at this "
                                              "stage (the audit trail records this choice and the path it came by).",
                                              json_schema_extra=_as_choice(names))),
        "comment": (str, Field("", max_length=MAX_COMMENT, description="Why, or what to change (kept in the audit "
                                                                       "trail).")),
        "edits": (str, Field("", max_length=MAX_COMMENT, description="With request_changes only: corrections to "
                             "the fact sheet as YAML, e.g. `summary: …` (fields: subject, summary, known, doing, "
                             "advice, faq, next_update). The pack is re-rendered and the approval starts again.")),
        "link_receipt": (str, Field("", max_length=signing.MAX_TOKEN, description="Leave empty: the personal "
                                    "approval link fills it in.")),
    }
    return create_model("Decision", __base__=RunInput, **fields)


def _as_choice(names: list[str]) -> Callable[[dict[str, Any]], None]:
    """A one-person stage is still a choice in the form (pydantic writes a lone Literal as `const`: a text box)."""
    def schema(field: dict[str, Any]) -> None:
        field.pop("const", None)
        field["enum"] = list(names)
    return schema


def load_pack(record: dict[str, Any]) -> dict[str, Any]:
    """The kept pack, refused if its texts no longer match the hash they were checked under."""
    pack = json.loads(Path(record["path"]).read_text(encoding="utf-8"))
    if messages.read_variants(pack)[1] != record["hash"]:
        raise CrisisError(f"message pack {record['path']} was changed after it was checked: not submitted")
    return pack


Rerender = Callable[[dict[str, Any]], dict[str, Any]]  # fact-sheet edits → the new pack's record


@dataclass
class _Round:
    """One pass of the chain over one version of the pack."""

    step_id: str
    playbook: Playbook
    pack: dict[str, Any]
    author: str
    poll: int
    decisions: list[dict[str, Any]]
    run_id: str
    number: int
    store: ApprovalStore
    key: bytes
    state: Path
    pack_path: str
    durable: bool
    changed: str = ""  # what is new in this version of the pack, for the form
    edits: dict[str, Any] | None = None  # set by a request for changes that carries edits
    notices: list[dict[str, Any]] = field(default_factory=list)


def request_approval(step: MessageApprove, playbook: Playbook, context: StepContext, poll: int,
                     rerender: Rerender | None = None) -> ApprovalRecord:
    pack_record = context.results.get(step.pack)
    if not pack_record:
        raise CrisisError(f"step '{step.id}': no message pack from step '{step.pack}'")
    if os.environ.get(EMBEDDED):
        raise CrisisError(f"step '{step.id}': an approval needs a Prefect server that approvers can reach, and this "
                          "run is on the embedded API of `crisis run`. Start one with `crisis up` and run again (or "
                          "from the UI); or run without submitting the pack (the demo: --param soumettre=false)")
    priority = (context.results.get(step.assessment or "", {}) or {}).get("priority")
    chain = playbook.communication.approval.chain(priority)
    if not chain:
        raise CrisisError(f"no approval chain for priority {priority or '(none)'}: "
                          "declare communication.approval.chains or .default")
    state = state_dir(Path(context.root))
    store, decisions, number, changed = ApprovalStore(state), [], 0, ""
    durable = suspendable()
    if not durable:
        get_run_logger().info("this run waits for its approval in its process (not a deployment's top-level run): "
                              "a worker restart during the wait ends it")
    try:
        while True:
            current = _Round(step.id, playbook, load_pack(pack_record), pack_record.get("author", ""), poll,
                             decisions, str(get_run_context().flow_run.id), number, store,  # type: ignore[union-attr]
                             signing.load_key(state), state, pack_record["path"], durable, changed)
            outcome = _chain(chain, current)
            if outcome == "changes_requested" and current.edits and rerender is not None:
                try:
                    pack_record = rerender(current.edits)  # new texts, new hash: the chain starts again
                except CrisisError as exc:  # the edits broke the pack (too long, placeholder …): nobody is asked
                    why = f"the pack could not be re-rendered with these edits, the approval ended: {exc}"[:500]
                    store.record_answer(current.run_id, _pause_key(step.id, len(decisions) - 1), "refused", why)
                    decisions.append({"stage": 0, "decision": "rerender_failed", "name": "", "role": "",
                                      "comment": why, "via": "flow", "at": decisions[-1]["at"]})
                    return _record(outcome, current, pack_record, priority)
                get_run_logger().info("pack re-rendered with the approver's edits: %s", pack_record["hash"][:16])
                number += 1
                changed = f"re-rendered with the edits of {decisions[-1]['name']}: {', '.join(sorted(current.edits))}"
                continue
            return _record(outcome, current, pack_record, priority)
    finally:
        store.close()


def suspendable() -> bool:
    """A deployment's top-level run can wait suspended (no process; any worker resumes it from the top); a
    subflow, or a run started outside a deployment, can only wait in its process."""
    run = get_run_context().flow_run  # type: ignore[union-attr]
    return bool(run.deployment_id) and run.parent_task_run_id is None


def _record(outcome: str, current: _Round, pack_record: dict[str, Any], priority: str | None) -> ApprovalRecord:
    return ApprovalRecord(decision=outcome, hash=current.pack["hash"], path=pack_record["path"],  # type: ignore[arg-type]
                          priority=priority, decisions=current.decisions, notices=current.notices)


def _chain(chain: list[Stage], current: _Round) -> str:
    for number, stage in enumerate(chain, start=1):
        outcome = _stage(number, len(chain), stage, current)
        if outcome != "approved":
            return outcome
    return "approved"


def _stage(number: int, stages: int, stage: Stage, current: _Round) -> str:
    record = _open(current, number, stages, list(stage.roles), stage.timeout, "")
    escalated, approved, refused = False, list[str](), ""
    while len(approved) < stage.quorum:
        key = _pause_key(current.step_id, len(current.decisions))
        answer = _wait(current, record, approved, refused, key)
        verdict = judge_answer.with_options(task_run_name=f"{current.playbook.id}:{current.step_id}:{key}")(
            asdict(record), answer, approved, current.author, str(current.state), key, stage.timeout)
        current.decisions.append(verdict["entry"])
        refused = verdict["refused"]
        if refused:
            continue
        if verdict["outcome"] == "timed_out":
            current.store.close_stage(record.stage_id, "timed_out")
            if stage.escalate_to and not escalated:
                get_run_logger().warning("approval stage %d timed out: escalated to %s", number, stage.escalate_to)
                record, escalated = _open(current, number, stages, [stage.escalate_to], stage.timeout, "e"), True
                continue
            return "timed_out"
        if verdict["outcome"]:
            current.store.close_stage(record.stage_id, verdict["outcome"])
            current.edits = verdict["edits"]
            return str(verdict["outcome"])
        approved.append(verdict["approved_by"])
    current.store.close_stage(record.stage_id, "approved")
    return "approved"


def _open(current: _Round, number: int, stages: int, roles: list[str], timeout: int, suffix: str) -> StageRecord:
    """The stage (or its escalation) as its task opened it: one deadline, each of its people told."""
    people = stage_approvers(current.playbook, roles, current.author)
    if not people:
        raise CrisisError(f"approval stage {number}: nobody but the pack's author holds {', '.join(roles)}")
    stage = {"stage_id": f"{current.run_id}/{current.step_id}/{current.number}/{number}{suffix}",
             "run_id": current.run_id, "playbook": current.playbook.id, "title": current.playbook.title,
             "step": current.step_id, "number": number, "of": stages, "roles": roles,
             "approvers": [vars(p) for p in people], "hash": current.pack["hash"], "pack_path": current.pack_path,
             "via": list(current.playbook.communication.approval.via), "drill": bool(current.pack.get("drill")),
             "decisions": list(current.decisions)}
    opened = open_stage.with_options(task_run_name=f"{current.playbook.id}:{current.step_id}:open-{number}{suffix}")(
        current.playbook, stage, timeout, str(current.state), current.durable)
    current.notices += opened["notices"]
    return StageRecord(**opened["record"])


def view_link(key: bytes, record: StageRecord) -> str:
    token = signing.sign(key, "view", {"s": record.stage_id, "h": record.hash,
                                       "x": int(record.deadline_at.timestamp()) + 7 * 86400})
    return f"{approver_url()}/approve/view/{token}"


def _wait(current: _Round, record: StageRecord, approved: list[str], refused: str, key: str) -> dict[str, Any] | None:
    """The answer given at this pause, or None when the pause timed out (a run that waits in its process)."""
    current.store.waiting_on(record.stage_id, key, current.decisions)
    people = [a["name"] for a in record.approvers if a["name"] not in approved]
    before = messages.spoken_time(record.deadline_at, "en")
    lead = (f"REFUSED: {refused} — " if refused else "") + (
        f"Stage {record.number}/{record.of}: {', '.join(people)}, before {before}. ")
    form = decision_form(people, lead).with_initial_data(description=_ask(current, record, people, before, refused))
    if current.durable:  # the process exits here; the run resumes from the top and this returns the answer
        answer = suspend_flow_run(wait_for_input=form, key=key, timeout=None)
        return answer.model_dump() if answer is not None else None
    left = (record.deadline_at - datetime.now(UTC)).total_seconds()
    try:
        return pause_flow_run(wait_for_input=form, timeout=max(1, math.ceil(left)), poll_interval=current.poll,
                              key=key).model_dump()
    except FlowPauseTimeout:
        resume_after_timeout()
        return None


def _ask(current: _Round, record: StageRecord, people: list[str], before: str, refused: str) -> str:
    """The form's text: short (the UI gives it ~35 px at 900 px): who, by when, what changed, where to read."""
    lines = [f"**Refused:** {refused}", ""] if refused else []
    lines += [f"**Stage {record.number}/{record.of} ({', '.join(record.roles)}): {', '.join(people)}** — decide "
              f"before {before}"]
    if current.changed:
        lines.append(f"New version of the pack: {current.changed}.")
    lines.append(f"Pack `{record.hash}` · {len(current.pack['variants'])} message(s) · "
                 f"[read it in full, exactly as it will leave]({view_link(current.key, record)}) (also the run's "
                 "*message-pack* artifact).")
    return "\n\n".join(lines)


def _pause_key(step_id: str, answers: int) -> str:
    """Prefect keys of run inputs take lowercase letters, digits and dashes only; step ids may hold `_`."""
    return f"{step_id.replace('_', '-')}-{answers}"


def resume_after_timeout() -> None:
    """After a timed-out pause the run is still PAUSED on the server: set it running again to go on.

    Unless someone cancelled it meanwhile (the kill switch does): forcing it back to Running would undo that.
    """
    run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
        if state is not None and state.type in {StateType.CANCELLED, StateType.CANCELLING}:
            raise CrisisError(f"the run was cancelled while waiting for approval: {state.message or ''}".strip())
        client.set_flow_run_state(run_id, Running(message="approval timed out"), force=True)
