"""Steps that belong to the flow rather than to one task: an approval (the run pauses or suspends) and a call of
another playbook (its phases walked in this run). Each still records its outcome as a task run of its step.

Every other step type runs as the one task `tasks/registry.py` gives it; the completeness tests check that every
step type is one or the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect.context import TagsContext
from prefect.exceptions import Pause

from crisiscomms.errors import CrisisError
from crisiscomms.playbook.context import StepContext, refuse_if_changed
from crisiscomms.playbook.frozen import FrozenPlaybook
from crisiscomms.playbook.models import PHASES
from crisiscomms.playbook.parameters import resolve_inputs
from crisiscomms.playbook.review_steps import ReviewLessons
from crisiscomms.playbook.steps import CallRecord, MessageApprove, PlaybookCall, StepBase, StepStatus
from crisiscomms.stack.project import Project
from flows.approval import request_approval
from flows.history import RunHistory, StepFailed, returned_record
from flows.lessons import lessons_step
from tasks.registry import task_for
from tasks.subplaybook import call_inputs, pin_callee

_RUN_TAGS = ("phase:", "playbook:", "playbook-version:", "called-by:")


@dataclass(frozen=True)
class Walker:
    """What a flow-level step needs from the walk: the run's frozen playbook, the project (a called playbook is
    read and checked once, like the caller), and the walk itself (a called playbook's phases go through it)."""

    frozen: FrozenPlaybook
    project: Project
    walk: Callable[..., RunHistory]


def approve(walker: Walker, step: MessageApprove, context: StepContext, history: RunHistory,
            run_name: str) -> tuple[StepStatus, str]:
    playbook = walker.frozen.playbook
    record = request_approval(step, playbook, context, playbook.communication.pause_poll,
                              _rerender(walker, step.pack, context, history))
    state = task_for(step).with_options(task_run_name=run_name)(record, return_state=True)
    history.ran(step.id, "completed", returned_record(step, state.result()))
    return "completed", f"{record.decision} ({len(record.decisions)} answer(s))"


def _rerender(walker: Walker, pack_id: str, context: StepContext,
              history: RunHistory) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Run the pack step again with an approver's fact-sheet edits; its new record replaces the old one. The
    approval chain (a library object) reads the new record as data."""
    pack_step = next(s for _, _, s in walker.frozen.playbook.steps() if s.id == pack_id)

    def rerender(edits: dict[str, Any]) -> dict[str, Any]:
        runnable = task_for(pack_step).with_options(task_run_name=f"{context.playbook_id}:{pack_id}",
                                                    persist_result=True)
        state = runnable(pack_step, context, edits, return_state=True)
        if not state.is_completed():
            raise CrisisError(f"the edited pack was refused: {state.message}")
        record = returned_record(pack_step, state.result())
        history.replace(pack_id, record)
        return record.model_dump()

    return rerender


def call(walker: Walker, step: PlaybookCall, context: StepContext, history: RunHistory,
         run_name: str) -> tuple[StepStatus, str]:
    """The callee's phases, walked in this run (so an approval in it can suspend the run like any other), on the
    callee's own frozen plan; its task runs are tagged with its id and `called-by:<caller>:<step>`."""
    callee = walker.project.freeze(step.playbook)
    wanted = [p for p in PHASES if (not step.phases or p in step.phases) and getattr(callee.playbook.phases, p).steps]
    done = RunHistory()
    status: StepStatus
    try:
        _same_callee_as_at_first(callee, f"{context.playbook_id}:{step.id}")
        inputs = resolve_inputs(callee.playbook, call_inputs(step, context))
        for phase in wanted:
            with _callee_tags(callee, phase, f"{context.playbook_id}:{step.id}"):
                done = walker.walk(callee, phase, inputs, done, None, walker.project, context.crisis)
        status, detail = "completed", f"{callee.playbook.id}: {', '.join(wanted) or 'no phase with steps'}"
    except Pause:
        raise
    except Exception as exc:  # the call step fails like any step, by its own on_failure (bad inputs included)
        status, detail = "failed", f"called playbook '{callee.playbook.id}' failed: {exc}"
    record = CallRecord(playbook=callee.playbook.id, version=callee.playbook.version, sha256=callee.sha256,
                        phases=wanted, status=status, steps=dict(done.statuses))
    state = task_for(step).with_options(task_run_name=run_name)(record, return_state=True)
    history.ran(step.id, status, returned_record(step, state.result()))
    if status == "failed" and step.on_failure == "stop":
        raise StepFailed(f"step '{step.id}' failed: {detail}")
    return status, detail


def _same_callee_as_at_first(callee: FrozenPlaybook, call: str) -> None:
    """A run suspended for an approval resumes from the top and reads the callee again: it goes on only with the
    callee it first read (its hash pinned per run and call step, like the caller's own)."""
    pinned = pin_callee.with_options(task_run_name=f"{call}:callee")(callee.playbook.id, callee.sha256, call)
    refuse_if_changed(callee.playbook.id, pinned, callee.sha256, "the call does not go on")


def _callee_tags(callee: FrozenPlaybook, phase: str, caller: str) -> TagsContext:
    kept = {t for t in TagsContext.get().current_tags if not t.startswith(_RUN_TAGS)}
    pb = callee.playbook
    return TagsContext(current_tags=kept | {f"playbook:{pb.id}", f"playbook-version:{pb.version}",
                                            f"phase:{phase}", f"called-by:{caller}"})


FlowStep = Callable[[Walker, Any, StepContext, RunHistory, str], tuple[StepStatus, str]]
FLOW_STEPS: dict[type[StepBase], FlowStep] = {MessageApprove: approve, PlaybookCall: call,
                                              ReviewLessons: lessons_step}
