"""message.approve: the run waits until the approval chain has decided on the message pack.

A wait belongs to the flow, not to a task, so the engine calls `request_approval` from the flow. Every rule (which
stages, who may decide, quorum, the author, timeouts and escalation, what the answers decide) is the library's
`ApprovalChain` (communication/chain.py), walked by `decide`; this module is its Prefect `Approver`: it opens
stages, waits with the stage's form, reads answers (their receipts checked) and records, each as a task run
(`approval.open`, `approval.answer`, `approval.verdict`, then `message.approve`) in the run's audit trail.

- A deployment's top-level run waits **suspended**: no process is kept; a decision reschedules it, and any worker
  runs it again from the top: finished steps, opened stages and judged answers come back Cached (persisted
  results), each wait returns its recorded answer, and the run goes on from the first unanswered one. A stage's
  deadline is kept by a run of `approval-deadline` scheduled for it (flows/deadline.py). Any other run (a
  sub-flow, `crisis run`, the flow tests) waits in its process (flows/waiting.py), until the deadline.

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
  Each field edited must be edited in every language of the pack (else the answer is refused and the stage asks
  again): every language is re-rendered from its own sheet, none left with the facts the edit replaced.

What comes back is data: it is stored and shown, never rendered as a template.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from prefect import get_run_logger
from prefect.context import get_run_context
from prefect.exceptions import PrefectHTTPStatusError
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput, delete_flow_run_input, keyset_from_paused_state, read_flow_run_input
from prefect.states import Suspended
from pydantic import Field, create_model

from crisiscomms import clock
from crisiscomms.communication import messages, signing
from crisiscomms.communication.answer import Answer, Timeout
from crisiscomms.communication.approval import MAX_COMMENT, ApprovalStore, StageRecord, Verdict
from crisiscomms.communication.chain import ApprovalChain, Ask, Prompt, Rerender, decide
from crisiscomms.errors import EMBEDDED, CrisisError
from crisiscomms.monitoring.store import state_dir
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import ApprovalRecord, AssessmentRecord, MessageApprove, PackRecord
from flows.waiting import wait_for_form
from tasks.approval import approver_url, open_stage, read_answer, record_verdict

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
                             "advice, faq, next_update). A pack in several languages takes each field edited in "
                             "each of them: `translations: {en: {summary: …}}` beside the top-level fields of the "
                             "playbook's language. The pack is re-rendered and the approval starts again.")),
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


def request_approval(step: MessageApprove, playbook: Playbook, context: StepContext, poll: int,
                     rerender: Rerender | None = None) -> ApprovalRecord:
    if not context.has_result(step.pack):
        raise CrisisError(f"step '{step.id}': no message pack from step '{step.pack}'")
    pack_record = context.result(step.pack, PackRecord).model_dump()  # the chain keeps the pack as data
    if os.environ.get(EMBEDDED):
        raise CrisisError(f"step '{step.id}': an approval needs a Prefect server that approvers can reach, and this "
                          "run is on the embedded API of `crisis run`. Start one with `crisis up` and run again (or "
                          "from the UI); or run without submitting the pack (the demo: --param soumettre=false)")
    priority = context.result(step.assessment, AssessmentRecord).priority if context.has_result(step.assessment) \
        else None
    chain = ApprovalChain.for_pack(playbook, pack_record, priority)
    durable = suspendable()
    if not durable:
        get_run_logger().info("this run waits for its approval in its process (not a deployment's top-level run): "
                              "a worker restart during the wait ends it")
    approver = PrefectApprover(step.id, playbook, state_dir(Path(context.root)), poll, durable)
    try:
        decision = decide(chain, approver, _logged(rerender) if rerender else None)
    finally:
        approver.close()
    return ApprovalRecord(decision=decision, hash=chain.pack["hash"], path=chain.pack["path"], priority=priority,
                          decisions=chain.decisions, notices=approver.notices)


def _logged(rerender: Rerender) -> Rerender:
    def run(edits: dict[str, Any]) -> Any:
        record = rerender(edits)
        get_run_logger().info("pack re-rendered with the approver's edits: %s", record["hash"][:16])
        return record
    return run


def suspendable() -> bool:
    """A deployment's top-level run can wait suspended (no process; any worker resumes it from the top); a
    subflow, or a run started outside a deployment, can only wait in its process."""
    run = get_run_context().flow_run  # type: ignore[union-attr]
    return bool(run.deployment_id) and run.parent_task_run_id is None


class PrefectApprover:
    """The chain's `Approver` in a flow run. A resumed run (suspended, then run again from the top) replays:
    stages opened, answers read and verdicts recorded come back Cached, each pause returns its recorded input."""

    def __init__(self, step_id: str, playbook: Playbook, state: Path, poll: int, durable: bool) -> None:
        self.step_id, self.playbook, self.state, self.poll, self.durable = step_id, playbook, state, poll, durable
        self.run_id = str(get_run_context().flow_run.id)  # type: ignore[union-attr]
        self.store, self.key = ApprovalStore(state), signing.load_key(state)
        self.notices: list[dict[str, Any]] = []
        self._pack: dict[str, Any] = {}  # the pack file being approved, its hash checked
        self._stage: StageRecord | None = None
        self._pause = ""

    def close(self) -> None:
        self.store.close()

    def open(self, ask: Ask) -> StageRecord:
        """The stage (or its escalation) as its task opened it: one deadline, each of its people told."""
        if self._pack.get("hash") != ask.hash:
            self._pack = load_pack({"path": ask.pack_path, "hash": ask.hash})
        if ask.escalated:
            get_run_logger().warning("approval stage %d timed out: escalated to %s", ask.number, ", ".join(ask.roles))
        stage = ask.fields(f"{self.run_id}/{self.step_id}/{ask.key}", self.run_id, self.playbook.id,
                           self.playbook.title, self.step_id, bool(self._pack.get("drill")))
        suffix = "e" if ask.escalated else ""
        opened = open_stage.with_options(task_run_name=f"{self.playbook.id}:{self.step_id}:open-{ask.number}{suffix}")(
            self.playbook, stage, ask.timeout, str(self.state), self.durable)
        self.notices += opened["notices"]
        return StageRecord(**opened["record"])

    def answer(self, prompt: Prompt) -> Answer | Timeout:
        """The stage's form, waited on (suspended or paused); what came back, read by its task."""
        self._stage, self._pause = prompt.stage, _pause_key(self.step_id, len(prompt.decisions))
        self.store.waiting_on(prompt.stage.stage_id, self._pause, prompt.decisions)
        form = self._wait(prompt)
        return read_answer.with_options(task_run_name=f"{self.playbook.id}:{self.step_id}:{self._pause}")(
            asdict(prompt.stage), form, str(self.state), self._pause)

    def told(self, verdict: Verdict) -> None:
        if self._stage is None:
            raise RuntimeError("a verdict before any answer")
        record_verdict.with_options(task_run_name=f"{self.playbook.id}:{self.step_id}:{self._pause}-verdict")(
            self.run_id, self._pause, self._stage.number, verdict.refused, str(self.state))
        if verdict.closes:
            self.store.close_stage(self._stage.stage_id, verdict.closes)

    def _wait(self, prompt: Prompt) -> dict[str, Any] | None:
        """The form as submitted at this pause, or None when the pause timed out (a run that waits in its process)."""
        record = prompt.stage
        before = messages.spoken_time(record.deadline_at, "en")
        lead = (f"REFUSED: {prompt.refused} — " if prompt.refused else "") + (
            f"Stage {record.number}/{record.of}: {', '.join(prompt.people)}, before {before}. ")
        form = decision_form(prompt.people, lead).with_initial_data(description=self._text(prompt, before))
        if self.durable:  # the process exits here; the run resumes from the top and this returns the answer
            return self._suspended(form)
        left = (record.deadline_at - clock.now()).total_seconds()
        given = wait_for_form(form, self._pause, max(1.0, left), self.poll)
        return given.model_dump() if given is not None else None

    def _suspended(self, form: type[RunInput]) -> dict[str, Any] | None:
        """The answer to this pause, suspending the run until it comes. The UI's Retry of a run whose process died
        clears its pause keys: the replay then reaches a pause already met as a new one. Answered already, the
        answer given is the answer (nobody would give it again: the link is used); asked but not answered, the form
        the earlier attempt saved is taken away so that suspending saves it again (Prefect refuses a second one)."""
        keys = keyset_from_paused_state(Suspended(pause_key=self._pause))  # the keys suspend_flow_run uses
        answered = read_flow_run_input(keys["response"], flow_run_id=self.run_id)
        if answered is not None:
            return form(**answered).model_dump()  # read once, as RunInput.load would read it
        for stale in (keys["schema"], keys["description"]):
            try:
                delete_flow_run_input(stale, flow_run_id=self.run_id)
            except PrefectHTTPStatusError as exc:
                if exc.response.status_code != 404:  # none saved: the first time this pause is met
                    raise
        given = suspend_flow_run(wait_for_input=form, key=self._pause, timeout=None)
        return given.model_dump() if given is not None else None

    def _text(self, prompt: Prompt, before: str) -> str:
        """The form's text: short (the UI gives it ~35 px at 900 px): who, by when, what changed, where to read."""
        record = prompt.stage
        lines = [f"**Refused:** {prompt.refused}", ""] if prompt.refused else []
        lines += [f"**Stage {record.number}/{record.of} ({', '.join(record.roles)}): {', '.join(prompt.people)}** "
                  f"— decide before {before}"]
        if prompt.changed:
            lines.append(f"New version of the pack: {prompt.changed}.")
        lines.append(f"Pack `{record.hash}` · {len(self._pack['variants'])} message(s) · "
                     f"[read it in full, exactly as it will leave]({view_link(self.key, record)}) (also the run's "
                     "*message-pack* artifact).")
        return "\n\n".join(lines)


def view_link(key: bytes, record: StageRecord) -> str:
    token = signing.sign(key, "view", {"s": record.stage_id, "h": record.hash,
                                       "x": int(record.deadline_at.timestamp()) + 7 * 86400})
    return f"{approver_url()}/approve/view/{token}"


def _pause_key(step_id: str, answers: int) -> str:
    """Prefect keys of run inputs take lowercase letters, digits and dashes only; step ids may hold `_`."""
    return f"{step_id.replace('_', '-')}-{answers}"
