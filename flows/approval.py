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
- The author of the pack (`message.pack`'s `author`) may never approve it, whatever their roles.
- `request_changes` with `edits` (fact-sheet fields as YAML) re-renders the pack with them (a new `message.pack`
  task run, a new hash) and the whole chain starts again on the new texts: nobody approves what they did not see.
  The playbook file is not changed; edits that should last belong in the YAML.

Names are declared, not authenticated: Prefect's open-source server has no user accounts, so the audit trail
records who *said* they decided. Keep the UI behind the network or the proxy that authenticates your team.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.context import get_run_context
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Running
from pydantic import Field, ValidationError

from crisiscomms import messages, reporting
from crisiscomms.errors import EMBEDDED, CrisisError
from crisiscomms.playbook.communication import FactSheet, Stage
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
    edits: str = Field("", description="With request_changes only: corrections to the fact sheet as YAML, e.g. "
                       "`summary: …` or `advice: [\"…\"]` (fields: subject, summary, known, doing, advice, faq, "
                       "next_update). The pack is re-rendered and the approval starts again.")


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
    preview: str
    author: str
    poll: int
    decisions: list[dict[str, Any]]
    edits: dict[str, Any] | None = None  # set by a request for changes that carries edits


def request_approval(step: MessageApprove, playbook: Playbook, context: StepContext, poll: int,
                     rerender: Rerender | None = None) -> ApprovalRecord:
    pack_record = context.results.get(step.pack)
    if not pack_record:
        raise CrisisError(f"step '{step.id}': no message pack from step '{step.pack}'")
    if os.environ.get(EMBEDDED):
        raise CrisisError(f"step '{step.id}': an approval needs a Prefect server that approvers can reach, and this "
                          "run is on the embedded API of `crisis run`. Start one with `crisis up` and run again (or "
                          "from the UI); or run without submitting the pack (the demo: --param soumettre=false)")
    assessment = context.results.get(step.assessment or "", {}) or {}
    priority = assessment.get("priority")
    chain = playbook.communication.approval.chain(priority)
    if not chain:
        raise CrisisError(f"no approval chain for priority {priority or '(none)'}: "
                          "declare communication.approval.chains or .default")
    decisions: list[dict[str, Any]] = []
    while True:
        pack = load_pack(pack_record)
        current = _Round(step.id, playbook, reporting.pack_markdown(playbook, pack), pack_record.get("author", ""),
                         poll, decisions)
        outcome = _chain(chain, current)
        if outcome == "changes_requested" and current.edits and rerender is not None:
            try:
                pack_record = rerender(current.edits)  # new texts, new hash: the chain starts again
            except CrisisError as exc:  # the edits broke the pack (too long, placeholder …): nobody is asked
                decisions.append({**_entry(0, "rerender_failed", "", "", str(exc)[:500])})
                return ApprovalRecord(decision=outcome, hash=pack["hash"], path=pack_record["path"],
                                      priority=priority, decisions=decisions)
            get_run_logger().info("pack re-rendered with the approver's edits: %s", pack_record["hash"][:16])
            continue
        return ApprovalRecord(decision=outcome, hash=pack["hash"], path=pack_record["path"], priority=priority,
                              decisions=decisions)


def _chain(chain: list[Stage], current: _Round) -> str:
    for number, stage in enumerate(chain, start=1):
        outcome = _stage(number, len(chain), stage, current)
        if outcome != "approved":
            return outcome
    return "approved"


def _stage(number: int, stages: int, stage: Stage, current: _Round) -> str:
    roles, escalated, approvers = list(stage.roles), False, set[str]()
    while len(approvers) < stage.quorum:
        ask = (f"**Approval {number}/{stages}** — {stage.quorum - len(approvers)} more approval(s) from: "
               f"{_people(current.playbook, roles)}\n\n{current.preview}")
        try:
            answer = pause_flow_run(wait_for_input=Decision.with_initial_data(description=ask),
                                    timeout=stage.timeout, poll_interval=current.poll,
                                    key=_pause_key(current.step_id, len(current.decisions)))
        except FlowPauseTimeout:
            _resume_after_timeout()
            current.decisions.append(_entry(number, "timed_out", "", ", ".join(roles),
                                            f"no answer in {stage.timeout} s"))
            if stage.escalate_to and not escalated:
                roles, escalated = [stage.escalate_to], True
                get_run_logger().warning("approval stage %d timed out: escalated to %s", number, stage.escalate_to)
                continue
            return "timed_out"
        outcome = _take(answer, number, roles, approvers, current)
        if outcome:
            return outcome
    return "approved"


def _pause_key(step_id: str, answers: int) -> str:
    """Prefect keys of run inputs take lowercase letters, digits and dashes only; step ids may hold `_`."""
    return f"{step_id.replace('_', '-')}-{answers}"


def _take(answer: Decision, number: int, roles: list[str], approvers: set[str], current: _Round) -> str | None:
    """Record one answer; the stage's outcome if it ends the stage, else None (refused, or one more approval)."""
    entry = _entry(number, answer.decision, answer.name, answer.role, answer.comment)
    edits, problem = _edits(answer)
    refusal = _refusal(current.playbook, roles, answer.name, approvers, current.author) or problem
    if refusal:
        current.decisions.append({**entry, "refused": refusal})
        get_run_logger().warning("approval refused: %s", refusal)
        return None
    current.decisions.append({**entry, "edits": edits} if edits else entry)
    if answer.decision == "approve":
        approvers.add(_who(answer.name))
        return None
    current.edits = edits
    return "rejected" if answer.decision == "reject" else "changes_requested"


def _edits(answer: Decision) -> tuple[dict[str, Any] | None, str | None]:
    """The fact-sheet edits of a request for changes, or why they cannot be used (the stage asks again)."""
    if not answer.edits.strip():
        return None, None
    if answer.decision != "request_changes":
        return None, "edits come with request_changes only: nothing was decided, answer again"
    try:
        edits = yaml.safe_load(answer.edits)
        if not isinstance(edits, dict):
            raise ValueError("write fact-sheet fields as `field: value` lines")
        FactSheet.model_validate(edits)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return None, f"edits not usable, nothing was decided: {wrong[:300]}"
    except (yaml.YAMLError, ValueError) as exc:
        return None, f"edits not usable, nothing was decided: {str(exc).splitlines()[0][:300]}"
    return edits, None


def _entry(stage: int, decision: str, name: str, role: str, comment: str) -> dict[str, Any]:
    return {"stage": stage, "decision": decision, "name": name, "role": role, "comment": comment,
            "at": datetime.now(UTC).isoformat(timespec="seconds")}


def _who(name: str) -> str:
    """A name as compared: case, accents and spacing aside ("claire  MARTIN" is Claire Martin)."""
    return fold(" ".join(name.split()))


def _members(playbook: Playbook, roles: list[str]) -> dict[str, str]:
    return {_who(person.name): person.name for role in roles if role in playbook.team
            for person in playbook.team[role].members}


def _people(playbook: Playbook, roles: list[str]) -> str:
    return ", ".join(f"{playbook.team[r].title} ({', '.join(m.name for m in playbook.team[r].members)})"
                     for r in roles if r in playbook.team)


def _refusal(playbook: Playbook, roles: list[str], name: str, approvers: set[str], author: str) -> str | None:
    who = _who(name)
    if author and who == _who(author):
        return f"{name!r} prepared this pack: its author cannot approve it"
    if who not in _members(playbook, roles):
        return f"{name!r} is not a member of {', '.join(roles)}: only they can decide at this stage"
    if who in approvers:
        return f"{name!r} already approved at this stage: a quorum needs different people"
    return None


def _resume_after_timeout() -> None:
    """After a timed-out pause the run is still PAUSED on the server: set it running again to go on.

    Unless someone cancelled it meanwhile (the kill switch does): forcing it back to Running would undo that.
    """
    run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
        if state is not None and state.type in {StateType.CANCELLED, StateType.CANCELLING}:
            raise CrisisError(f"the run was cancelled while waiting for approval: {state.message or ''}".strip())
        client.set_flow_run_state(run_id, Running(message="approval timed out"), force=True)
