"""What a run has done so far: each step's status and typed result, handed from phase to phase."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field, PrivateAttr, SerializeAsAny

from crisiscomms.playbook.steps import Record, StepBase, StepStatus

R = TypeVar("R", bound=Record)


class StepFailed(RuntimeError):
    """A step with `on_failure: stop` failed: the phase stops here."""


class RunHistory(BaseModel):
    """Each step's status and the record its step type declares (`history.record("pack", PackRecord).path`).

    What flows return, so it must pickle (Prefect persists results that way) and hold the records tasks returned:
    a run resumed from the top gets its Cached task results back as those same records. Not frozen: a phase walk
    adds outcomes as it goes, on its own copy.
    """

    results: dict[str, SerializeAsAny[Record]] = Field(default_factory=dict)
    statuses: dict[str, StepStatus] = Field(default_factory=dict)
    _dumps: dict[str, tuple[Record, dict[str, Any]]] = PrivateAttr(default_factory=dict)

    def record(self, step_id: str, kind: type[R]) -> R:
        """The step's result as the record its type declares; a KeyError when it has none."""
        found = self.results[step_id]
        if not isinstance(found, kind):
            raise TypeError(f"step '{step_id}' produced a {type(found).__name__}, not a {kind.__name__}")
        return found

    def status(self, step_id: str) -> StepStatus | None:
        return self.statuses.get(step_id)

    def has_result(self, step_id: str) -> bool:
        return step_id in self.results

    def ran(self, step_id: str, status: StepStatus, record: Record | None = None) -> None:
        self.statuses[step_id] = status
        if record is not None:
            self.results[step_id] = record

    def replace(self, step_id: str, record: Record) -> None:
        """A step's new result without a new status (a pack re-rendered with an approver's edits)."""
        self.results[step_id] = record

    def namespace(self) -> dict[str, dict[str, Any]]:
        """The results as plain data, as `when:`, templates and StepContext read them; each record dumped once."""
        for step_id, record in self.results.items():
            kept = self._dumps.get(step_id)
            if kept is None or kept[0] is not record:
                self._dumps[step_id] = (record, record.model_dump())
        return {step_id: self._dumps[step_id][1] for step_id in self.results}

    def extended(self) -> RunHistory:
        """A copy a phase walk adds to, leaving the caller's history as it was."""
        copy = RunHistory(results=dict(self.results), statuses=dict(self.statuses))
        copy._dumps = dict(self._dumps)
        return copy


def returned_record(step: StepBase, value: Any) -> Record:
    """What the step's task returned, as the record its type declares. A run resumed from the top gets its Cached
    results back as they were persisted: records, or dicts when a run of an earlier version persisted them."""
    if isinstance(value, type(step).Result):
        return value
    return type(step).Result.model_validate(value)


def settle(step: StepBase, state: Any, history: RunHistory) -> Record | str:
    """A step's task run as the history keeps it: its record once completed; else the failure's message (the step
    recorded as failed), or StepFailed when its `on_failure` stops the phase."""
    if state.is_completed():
        record = returned_record(step, state.result())
        history.ran(step.id, "completed", record)
        return record
    history.ran(step.id, "failed")
    if step.on_failure == "stop":
        raise StepFailed(f"step '{step.id}' failed: {state.message}")
    return str(state.message)
