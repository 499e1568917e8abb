"""The kill switch from the Prefect UI: run the `kill-switch` deployment to halt, lift, or see its state.

Halting sets the switch in the state database (every release reads it before each send), then cancels on the
server what would release or remind later: scheduled update reminders, and scheduled or paused (waiting for
approval) playbook and communication runs. `crisis halt` does the same from the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelled, Cancelling

from crisiscomms.communication import killswitch
from crisiscomms.communication.killswitch import Halt
from crisiscomms.stack.project import Project
from flows.choices import PROJECT, ROOT
from tasks.updates import REMINDER_FLOW

# Flows whose runs can still release (or remind) once started or resumed; monitoring keeps watching.
RELEASING_FLOWS = ("crisis-playbook", "phase-communication")
# The Run form's select: every playbook (the blunt default), or one of this project's.
PlaybookScope: Any = Literal[("all", *PROJECT.playbook_ids())]


@dataclass(frozen=True)
class CancelledRun:
    id: str
    name: str
    flow: str
    was: str  # Scheduled, Late, Paused, Suspended …
    now: str  # the state the server put it in (Cancelled, or Cancelling until the worker stops its process)


def cancel_waiting_runs(halt: Halt) -> list[CancelledRun]:
    """Cancel scheduled reminders and scheduled/paused runs that would release, within the halt's scope."""
    message = f"cancelled by the kill switch: halted by {halt.by} at {halt.at}: {halt.reason}"
    done = []
    with get_client(sync_client=True) as client:
        ours = FlowFilter(name=FlowFilterName(any_=[REMINDER_FLOW, *RELEASING_FLOWS]))
        flows = {f.id: f.name for f in client.read_flows(flow_filter=ours)}
        for run in _waiting(client, ours):
            name = flows[run.flow_id]
            if run.state.type == StateType.PAUSED and name == REMINDER_FLOW:
                continue
            if halt.scope != killswitch.ALL and run.parameters.get("playbook") != halt.scope:
                continue
            done.append(_cancel(client, run, name, message))
    return done


def _waiting(client: Any, flows: FlowFilter) -> list[Any]:
    waiting = FlowRunFilter(state=FlowRunFilterState(
        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED, StateType.PAUSED])))
    return list(client.read_flow_runs(flow_filter=flows, flow_run_filter=waiting))


def _cancel(client: Any, run: Any, flow_name: str, message: str) -> CancelledRun:
    was = run.state.name
    if run.deployment_id:
        # Cancelling lets the worker stop the run's process; the server makes a run without one Cancelled.
        result = client.set_flow_run_state(run.id, Cancelling(message=message))
        return CancelledRun(str(run.id), run.name, flow_name, was, result.state.name if result.state else "?")
    # A paused sub-flow (the communication phase of a playbook run) lives in its root run's process: cancel the
    # root too, so that the worker stops that process instead of leaving it polling a cancelled pause.
    root = _root_run(client, run)
    if root is not None and root.id != run.id and root.deployment_id and not root.state.is_final():
        client.set_flow_run_state(root.id, Cancelling(message=message))
    result = client.set_flow_run_state(run.id, Cancelled(message=message), force=True)
    return CancelledRun(str(run.id), run.name, flow_name, was, result.state.name if result.state else "?")


def _root_run(client: Any, run: Any) -> Any:
    while run.parent_task_run_id:
        run = client.read_flow_run(client.read_task_run(run.parent_task_run_id).flow_run_id)
    return run


def describe(cancelled: list[CancelledRun]) -> list[str]:
    return [f"{c.flow}/{c.name} ({c.id}): {c.was} → {c.now}" for c in cancelled]


@flow(name="kill-switch", flow_run_name="kill-switch/{action}", log_prints=True,
      description="Halt every release not yet sent and every scheduled update reminder (or lift the halt).")
def kill_switch(action: Literal["halt", "unhalt", "status"] = "halt", by: str = "", reason: str = "",
                playbook: PlaybookScope = "all") -> dict[str, Any]:  # type: ignore[valid-type]
    """`by`: your name (kept in the history); `reason`: why (halt); `playbook`: one playbook only (default all)."""
    return switch(ROOT, action, by, reason, None if playbook == "all" else playbook)


def switch(root: Path, action: str, by: str, reason: str, playbook: str | None) -> dict[str, Any]:
    logger = get_run_logger()
    if action == "status":
        halts = killswitch.active(root)
        for halt in halts:
            logger.info(halt.describe())
        if not halts:
            logger.info("kill switch off: releases go")
        return {"active": [h.describe() for h in halts]}
    if playbook and playbook not in Project(root).playbook_ids():
        raise ValueError(f"no playbook {playbook!r} in {root}: halt every playbook (leave it empty) or name one")
    if action == "unhalt":
        lifted = killswitch.lift(root, by, playbook)
        logger.warning(lifted.describe() if lifted else f"the kill switch was not on for {playbook or 'all'}")
        return {"lifted": lifted.describe() if lifted else None}
    halt = killswitch.halt(root, reason, by, playbook)
    cancelled = describe(cancel_waiting_runs(halt))
    logger.warning("%s; cancelled %d waiting run(s)%s", halt.describe(), len(cancelled),
                   "".join(f"\n  {line}" for line in cancelled))
    return {"halt": halt.describe(), "cancelled": cancelled}
