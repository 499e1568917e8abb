"""One Prefect flow per phase; each walks the phase's steps of one playbook (see engine.py)."""

from __future__ import annotations

from typing import Any

from prefect import Flow, flow, tags
from prefect.states import Completed, State

from crisiscomms.playbook.frozen import FrozenPlaybook
from crisiscomms.playbook.models import PHASES
from crisiscomms.playbook.parameters import resolve_inputs
from crisiscomms.stack.project import Project
from flows.choices import ROOT, CrisisInputs, PlaybookChoice, given_inputs
from flows.engine import History, empty_history, outcome, walk
from flows.provenance import pin_provenance


def _phase_flow(phase: str) -> Flow[..., History]:
    @flow(name=f"phase-{phase.replace('_', '-')}", flow_run_name=f"{{playbook}}/{phase}",
          description=f"The {phase} phase of a crisis playbook.", log_prints=True)
    def run_phase(
        playbook: PlaybookChoice,  # type: ignore[valid-type]
        inputs: CrisisInputs = CrisisInputs(),  # type: ignore[valid-type]  # noqa: B008
        history: dict[str, Any] | None = None,
        alert: dict[str, Any] | None = None,
    ) -> History:
        """`history`: results of earlier phases; `alert`: the monitoring alert that started the run."""
        project = Project(ROOT)
        frozen = project.freeze(playbook)
        values = resolve_inputs(frozen.playbook, given_inputs(inputs))
        if history is None:  # started on its own (the UI, an automation): it may wait suspended, so pin the playbook
            pin_provenance(frozen.loaded, values)
        with tags(f"playbook:{playbook}", f"playbook-version:{frozen.playbook.version}", f"phase:{phase}"):
            done = walk(frozen, phase, values, history or empty_history(), alert, project)
        return named(frozen, done, (phase,))

    return run_phase


def named(frozen: FrozenPlaybook, history: History, phases: tuple[str, ...] = PHASES) -> History | State:
    """A run that asked for an approval ends in a state named for the outcome (Released, Rejected, Timed out …)."""
    name = outcome(frozen, history, phases)
    return Completed(name=name, message=f"approval outcome: {name}", data=history) if name else history


preparation = _phase_flow("preparation")
assessment = _phase_flow("assessment")
communication = _phase_flow("communication")
post_crisis = _phase_flow("post_crisis")
PHASE_FLOWS: dict[str, Flow[..., History]] = {
    "preparation": preparation, "assessment": assessment,
    "communication": communication, "post_crisis": post_crisis,
}
