"""What a running step can see: the run's frozen playbook, the crisis inputs and the results of earlier steps."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from crisiscomms.errors import PlaybookChangedError
from crisiscomms.playbook import rendering
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.namespace import StepNamespace
from crisiscomms.playbook.steps import Record

R = TypeVar("R", bound=Record)


class StepContext(BaseModel):
    """Serialisable (it is a task input); the bulk of data lives in files, referenced by path.

    `playbook` is the run's own copy, loaded and checked once when the run started: a step never reads the YAML
    again, so a release hours after the approval sends to the recipients and channels that were approved.
    """

    model_config = ConfigDict(frozen=True)

    playbook: Playbook
    sha256: str  # of the playbook file when the run loaded it
    source: str  # the playbook file
    playbook_id: str
    playbook_version: str
    phase: str
    root: str
    inputs: dict[str, Any]
    results: dict[str, dict[str, Any]]
    team: dict[str, Any] = {}
    alert: dict[str, Any] | None = None  # the monitoring alert that started this run, if any
    crisis: str | None = None  # the crisis id the run belongs to (its `crisis:<id>` tag); None for preparation

    def namespace(self) -> dict[str, Any]:
        """Names readable from `when:` and templates: each earlier step's result by its id, and the names of
        StepNamespace (inputs, playbook, team, alert) — the model validation checks texts and conditions against.

        A step without a result in this run (skipped, blocked, in a phase not run) and the alert when none started
        the run read as an empty record (rendering.ABSENT), and as null in conditions: never an error."""
        names = StepNamespace.model_construct(
            inputs=self.inputs, playbook={"id": self.playbook_id, "version": self.playbook_version},
            team=self.team, alert=rendering.ABSENT if self.alert is None else self.alert)
        absent = {step.id: rendering.ABSENT for _, _, step in self.playbook.steps()}
        return {**absent, **self.results, **names.values()}

    def render(self, source: str) -> str:
        """One of the step's inline texts, rendered with its names; `{% include %}` reads templates/ only."""
        return rendering.render_text(source, self.namespace(), Path(self.root) / "templates")

    def result(self, step_id: str, record: type[R]) -> R:
        """An earlier step's result as its typed record (`context.result(step.pack, PackRecord).path`)."""
        return record.model_validate(self.results[step_id])

    def has_result(self, step_id: str | None) -> bool:
        return bool(step_id) and step_id in self.results

    def ensure_unchanged(self, doing: str) -> None:
        """Refuse to `doing` when the playbook file no longer is the one the run started with."""
        path = Path(self.source)
        now = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "(file missing)"
        refuse_if_changed(self.playbook_id, self.sha256, now, f"it does not {doing} (nothing was done)")


def refuse_if_changed(playbook_id: str, pinned: str, now: str, refusing: str) -> None:
    """The one check (and message) of a run that finds its playbook, or a callee, no longer the one it first read:
    at a release, when a suspended run resumes, when a call reads its callee again."""
    if now != pinned:
        raise PlaybookChangedError(
            f"playbook {playbook_id} changed while this run was waiting (sha256 {pinned} when the run first read "
            f"it, {now} now): {refusing}, as this is not the playbook it started with. Start a new run to use the "
            "edited playbook.")
