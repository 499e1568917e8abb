"""What a running step can see: the crisis inputs and the results of earlier steps."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StepContext(BaseModel):
    """Serialisable (it is a task input); the bulk of data lives in files, referenced by path."""

    model_config = ConfigDict(frozen=True)

    playbook_id: str
    playbook_version: str
    phase: str
    root: str
    inputs: dict[str, Any]
    results: dict[str, dict[str, Any]]
    team: dict[str, Any] = {}
    alert: dict[str, Any] | None = None  # the monitoring alert that started this run, if any

    def namespace(self) -> dict[str, Any]:
        """Names readable from `when:` and templates: inputs, playbook, team, and step ids."""
        playbook = {"id": self.playbook_id, "version": self.playbook_version}
        return {**self.results, "inputs": self.inputs, "playbook": playbook, "team": self.team,
                "alert": self.alert}
