"""playbook.call: run another playbook's phases as nested runs under this step's task run.

The phase engine lives in `flows/` (it composes tasks); it registers itself here at import so that
this module does not import upward (layers: flows → tasks → crisiscomms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task

from crisiscomms.playbook import rendering
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.steps import PlaybookCall

# (playbook_id, phases or None, inputs) -> CallRecord as a dict; the callee comes from the same project
PlaybookRunner = Callable[[str, list[str] | None, dict[str, Any]], dict[str, Any]]
_runner: list[PlaybookRunner] = []


def register_runner(runner: PlaybookRunner) -> None:
    _runner[:] = [runner]


@task(name="playbook.call")
def call_playbook(step: PlaybookCall, context: StepContext) -> dict[str, Any]:
    if not _runner:
        raise RuntimeError("no playbook runner registered: import flows.engine before running steps")
    phases = list(step.phases) if step.phases else None
    return _runner[0](step.playbook, phases, call_inputs(step, context))


def call_inputs(step: PlaybookCall, context: StepContext) -> dict[str, Any]:
    """`with:` values, texts holding `{{ … }}` rendered from the caller's inputs and results."""
    values = context.namespace()
    return {name: rendering.render_text(value, values) if rendering.is_template(value) else value
            for name, value in step.with_.items()}
