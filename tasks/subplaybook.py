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
    values = context.namespace()
    return {name: rendering.render_text(value, values) if rendering.is_template(value) else value
            for name, value in step.with_.items()}
