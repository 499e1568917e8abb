"""What a run has done so far: each step's status and result, handed from phase to phase."""

from __future__ import annotations

from typing import Any

History = dict[str, dict[str, Any]]  # {"results": {step_id: record}, "statuses": {step_id: status}}


class StepFailed(RuntimeError):
    """A step with `on_failure: stop` failed: the phase stops here."""


def empty_history() -> History:
    return {"results": {}, "statuses": {}}
