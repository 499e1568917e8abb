"""The phase walk: run a phase's planned steps as task runs, in order, with conditions and failures.

Semantics a playbook author relies on:
- `after:` orders steps; a dependency that *failed* (on_failure: continue) blocks its dependents,
  a dependency that was *skipped* (its `when:` was false) does not.
- `when:` is evaluated just before the step, on inputs and the results so far; missing data is null
  and a comparison with null is false, so the step is skipped, with the reason on its task run.
- on_failure: stop fails the phase (and the playbook run); continue records the failure and goes on.

A run walks the plan it froze when it started (`FrozenPlaybook`): no step reads the YAML again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import Pause
from prefect.runtime import flow_run
from prefect.states import Completed, State

from crisiscomms.monitoring.store import open_store
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.frozen import FrozenPlaybook
from crisiscomms.playbook.inspect import condition_holds
from crisiscomms.playbook.models import PHASES
from crisiscomms.playbook.plan import PlannedStep
from crisiscomms.playbook.steps import (
    ApprovalRecord,
    AssessmentRecord,
    AssessmentRun,
    CallRecord,
    ChecklistRecord,
    ClaimTrackRecord,
    MessageApprove,
    MessageRelease,
    NoteRecord,
    PackRecord,
    Record,
    ReleaseRecord,
    StepStatus,
)
from crisiscomms.review import crises
from crisiscomms.stack.project import Project
from flows.history import RunHistory, StepFailed, settle
from flows.steps import FLOW_STEPS, Walker
from tasks.registry import task_for

__all__ = ["RunHistory", "StepFailed", "outcome", "walk", "walk_phase"]

Row = tuple[PlannedStep, StepStatus, str]  # a line of the phase's table: the step, how it ended, a detail


@task(name="step.skipped", persist_result=True)
def skip_step(step_id: str, reason: str) -> State:
    return Completed(name="Skipped", message=reason)


def walk_phase(root: str, playbook_id: str, phase: str, inputs: dict[str, Any], history: RunHistory | None = None,
               alert: dict[str, Any] | None = None) -> RunHistory:
    """One phase of a playbook read from `root` now (tests, one-off calls); a run uses `walk` on its frozen plan."""
    project = Project(Path(root))
    return walk(project.freeze(playbook_id), phase, inputs, history or RunHistory(), alert, project)


def walk(frozen: FrozenPlaybook, phase: str, inputs: dict[str, Any], history: RunHistory,
         alert: dict[str, Any] | None = None, project: Project | None = None, crisis: str | None = None
         ) -> RunHistory:
    """Run one phase of the run's frozen playbook; return the history extended with its steps' outcomes."""
    history = history.extended()
    rows = _earlier_assessments(frozen, phase, history)
    context = frozen.context(phase, inputs, history.namespace(), alert, crisis)
    walker = Walker(frozen, project or Project(frozen.root), walk)
    try:
        for planned in frozen.plan.phase(phase):
            try:
                status, detail = _run_step(planned, walker, context, history)
            except StepFailed as failed:  # the step that stops the phase is in its table, with why
                rows.append((planned, "failed", str(failed)))
                raise
            rows.append((planned, status, detail))
            _journal(context, planned, history)
            context = context.model_copy(update={"results": history.namespace()})
    except Pause:  # suspended for an approval: the run goes on from the top later, and writes the table then
        raise
    except BaseException:
        _phase_artifact(frozen, phase, rows)
        raise
    _phase_artifact(frozen, phase, rows)
    return history


def _journal(context: StepContext, planned: PlannedStep, history: RunHistory) -> None:
    """A step of a crisis that produced a record goes into the crisis journal, for its post-mortem."""
    step = planned.step
    if context.crisis and history.has_result(step.id):
        crises.record_step(Path(context.root), context.crisis, str(flow_run.get_id() or "local"), planned.phase,
                           step.id, step.type, history.namespace()[step.id])  # type: ignore[attr-defined]


def _earlier_assessments(frozen: FrozenPlaybook, phase: str, history: RunHistory) -> list[Row]:
    """A phase run on its own (communication started from the UI) reads the playbook's latest assessment.

    Only for `assessment.run` steps of earlier phases that this run did not execute; the phase artifact says
    which assessment was used and when it was made, so nobody acts on a stale verdict unknowingly. Read in a
    persisted task: a run that resumes hours later (an approval) keeps the assessment it started with.
    """
    earlier = PHASES[: PHASES.index(phase)]
    wanted = [(p, s) for p, _, s in frozen.playbook.steps()
              if p in earlier and isinstance(s, AssessmentRun) and history.status(s.id) is None]
    if not wanted:
        return []
    found = latest_assessments.with_options(task_run_name=f"{frozen.playbook.id}:latest-assessments")(
        frozen.playbook.id, str(frozen.root), [s.id for _, s in wanted])
    rows: list[Row] = []
    for step_phase, step in wanted:
        if step.id not in found:
            continue
        kept, made_at, run_id = found[step.id]
        record = AssessmentRecord.model_validate(kept)  # a dict when Cached by a run of an earlier version
        history.ran(step.id, "completed", record)
        detail = f"latest assessment {record.priority}, made {made_at[:19]} (flow run {run_id or '?'})"
        rows.append((PlannedStep(step_phase, step, ()), "reused", detail))
        get_run_logger().info("%s: %s", step.id, detail)
    return rows


@task(name="assessment.latest", persist_result=True)
def latest_assessments(playbook_id: str, root: str, step_ids: list[str]
                       ) -> dict[str, tuple[AssessmentRecord, str, str | None]]:
    """Each step's latest assessment (the store keeps it as JSON), when it was made and by which flow run."""
    store = open_store(Path(root))
    try:
        return {step: (AssessmentRecord.model_validate(latest[0]), *latest[1:]) for step in step_ids
                if (latest := store.latest_assessment(playbook_id, step)) is not None}
    finally:
        store.close()


def _run_step(planned: PlannedStep, walker: Walker, context: StepContext,
              history: RunHistory) -> tuple[StepStatus, str]:
    step = planned.step
    run_name = f"{context.playbook_id}:{step.id}"
    skipped = _why_not_run(planned, walker.frozen, context, history)
    if skipped:
        status, reason = skipped
        skip_step.with_options(task_run_name=run_name)(step.id, reason)
        history.ran(step.id, status)
        return status, reason
    in_flow = FLOW_STEPS.get(type(step))
    if in_flow is not None:  # a pause, or a nested walk, belongs to the flow: it runs here and records a task run
        return in_flow(walker, step, context, history, run_name)
    # Results persisted: a run suspended for an approval resumes from the top, and its steps come back Cached.
    runnable = task_for(step).with_options(
        task_run_name=run_name, retries=step.retries, retry_delay_seconds=2, timeout_seconds=step.timeout,
        persist_result=True,
    )
    outcome = settle(step, runnable(step, context, return_state=True), history)
    return ("completed", _summary(outcome)) if isinstance(outcome, Record) else ("failed", outcome)


def _why_not_run(planned: PlannedStep, frozen: FrozenPlaybook, context: StepContext,
                 history: RunHistory) -> tuple[StepStatus, str] | None:
    """("blocked" | "skipped", reason) when the step must not run, else None."""
    step = planned.step
    blocked = [d for d in (*planned.waits_for, *step.after) if history.status(d) in {"failed", "blocked"}]
    if blocked:
        return "blocked", f"not run: it waits for {', '.join(sorted(set(blocked)))}, which did not succeed"
    if condition_holds(frozen.loaded, frozen.catalog, planned.phase, step, context.namespace()):
        return None
    return "skipped", f"condition false: {step.when}"


_DECIDED = {"rejected": "Rejected", "timed_out": "Timed out", "changes_requested": "Changes requested"}
_RELEASED = {"released": "Released", "partly_failed": "Partly released", "halted": "Halted"}


def outcome(frozen: FrozenPlaybook, history: RunHistory, phases: tuple[str, ...] = PHASES) -> str | None:
    """The state name a run ends in, from its last approval (and its release) in these phases: seen in the runs
    list as is. None when no approval ran there."""
    steps = [s for p, _, s in frozen.playbook.steps() if p in phases and history.has_result(s.id)]
    approvals = [s for s in steps if isinstance(s, MessageApprove)]
    if not approvals:
        return None
    last = approvals[-1]
    decision = history.record(last.id, ApprovalRecord).decision
    if decision != "approved":
        return _DECIDED[decision]
    releases = [s for s in steps if isinstance(s, MessageRelease) and s.approval == last.id]
    return _RELEASED.get(history.record(releases[-1].id, ReleaseRecord).status, "Approved") if releases else "Approved"


def _summary(record: Record) -> str:
    """The detail of a completed step in the phase's table: a note's text, a checklist's item, else its status."""
    match record:
        case (NoteRecord(text=shown) | ChecklistRecord(item=shown) | PackRecord(status=shown)
              | ReleaseRecord(status=shown) | CallRecord(status=shown) | ClaimTrackRecord(status=shown)):
            return shown.replace("\n", " ")[:120]
    return ""


def _phase_artifact(frozen: FrozenPlaybook, phase: str, rows: list[Row]) -> None:
    pb = frozen.playbook
    icons = {"completed": "✅", "skipped": "⏭️", "failed": "❌", "blocked": "⛔", "reused": "♻️"}
    lines = [f"### {pb.title} — {phase} (v{pb.version})", "", "| step | type | status | detail |",
             "|---|---|---|---|"]
    for planned, status, detail in rows:
        cell = detail.replace("|", "\\|")
        lines.append(f"| `{planned.step.id}` | {planned.step.type} | {icons.get(status, '')} {status} | {cell} |")  # type: ignore[attr-defined]
    if not rows:
        lines.append("| — | — | no step in this phase | |")
    create_markdown_artifact("\n".join(lines), key=f"{pb.id}-{phase}".replace("_", "-"),
                             description=f"{pb.id} {phase}: steps and outcomes")
