"""One plan per run: the playbook a run loaded, checked and planned once, and everything its steps read from it.

A run builds its `FrozenPlaybook` when it starts and hands it down: the phases walk its plan, every step reads the
playbook from its context, and nothing reads the YAML again — a release hours after the approval uses the
recipients and channels that were approved. A step with effects outside (a release) first checks the file still
has the hash the run started with, and refuses, naming both hashes, if it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.inspect import Catalog
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.plan import Plan


@dataclass(frozen=True)
class FrozenPlaybook:
    loaded: LoadedPlaybook
    plan: Plan
    catalog: Catalog
    root: Path

    @property
    def playbook(self) -> Playbook:
        return self.loaded.playbook

    @property
    def sha256(self) -> str:
        return self.loaded.sha256

    def context(self, phase: str, inputs: dict[str, Any], results: dict[str, dict[str, Any]],
                alert: dict[str, Any] | None = None, crisis: str | None = None) -> StepContext:
        pb = self.playbook
        return StepContext(
            playbook=pb, sha256=self.sha256, source=str(self.loaded.path), playbook_id=pb.id,
            playbook_version=pb.version, phase=phase, root=str(self.root), inputs=inputs, results=results,
            team={name: role.model_dump() for name, role in pb.team.items()}, alert=alert, crisis=crisis,
        )
