"""playbook.call: the inputs a call passes down, and the task run that records what the call did.

The callee's phases are walked by the flow (flows/steps.py), in the caller's run, on the callee's own frozen plan.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from crisiscomms.playbook import rendering
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.steps import CallRecord, PlaybookCall


@task(name="playbook.call", persist_result=True)
def record_call(record: CallRecord) -> CallRecord:
    """The call's outcome (the callee, its version and hash, each of its steps' status) in the audit trail."""
    return record


def call_inputs(step: PlaybookCall, context: StepContext) -> dict[str, Any]:
    """`with:` values, texts holding `{{ … }}` rendered from the caller's inputs and results."""
    return {name: context.render(value) if rendering.is_template(value) else value
            for name, value in step.with_.items()}


def _per_run_and_call(context: Any, parameters: dict[str, Any]) -> str:
    return f"callee-{context.task_run.flow_run_id}-{parameters['call']}"


@task(name="playbook.call.pin", persist_result=True, cache_key_fn=_per_run_and_call)
def pin_callee(playbook_id: str, sha256: str, call: str) -> str:
    """The callee's hash as the call first read it in this run: a resumed run gets this first value back."""
    return sha256
