"""One Prefect flow per phase; each walks the phase's steps of one playbook (see engine.py)."""

from __future__ import annotations

from typing import Any

from prefect import Flow, flow, tags
from prefect.states import Completed, State

from crisiscomms.playbook.models import PHASES
from crisiscomms.playbook.parameters import resolve_inputs
from crisiscomms.playbook.steps import CallRecord
from flows.choices import PROJECT, ROOT, CrisisInputs, PlaybookChoice
from flows.engine import History, empty_history, outcome, walk_phase
from flows.provenance import pin_provenance
from tasks.subplaybook import register_runner


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
        loaded = PROJECT.load(playbook)
        given = inputs.model_dump() if hasattr(inputs, "model_dump") else dict(inputs)
        values = resolve_inputs(loaded.playbook, given)
        if history is None:  # started on its own (the UI, an automation): it may wait suspended, so pin the playbook
            pin_provenance(loaded, values)
        return named(loaded, walk_phase(str(ROOT), playbook, phase, values, history or empty_history(), alert),
                     (phase,))

    return run_phase


def named(loaded: Any, history: History, phases: tuple[str, ...] = PHASES) -> History | State:
    """A run that asked for an approval ends in a state named for the outcome (Released, Rejected, Timed out …)."""
    name = outcome(loaded, history, phases)
    return Completed(name=name, message=f"approval outcome: {name}", data=history) if name else history


preparation = _phase_flow("preparation")
assessment = _phase_flow("assessment")
communication = _phase_flow("communication")
post_crisis = _phase_flow("post_crisis")
PHASE_FLOWS: dict[str, Flow[..., History]] = {
    "preparation": preparation, "assessment": assessment,
    "communication": communication, "post_crisis": post_crisis,
}


def run_called_playbook(playbook_id: str, phases: list[str] | None, inputs: dict[str, Any]) -> dict[str, Any]:
    """The `playbook.call` step: the callee's phases as nested phase runs, in phase order."""
    loaded = PROJECT.load(playbook_id)
    resolve_inputs(loaded.playbook, inputs)  # refuse bad inputs before any nested run starts
    history = empty_history()
    # Phases without steps are not run: a call shows only the work it does.
    wanted = [p for p in PHASES if (phases is None or p in phases) and getattr(loaded.playbook.phases, p).steps]
    with tags(f"playbook:{playbook_id}", f"playbook-version:{loaded.playbook.version}"):
        for phase in wanted:
            # The run's return value, not `return_state=True` then `state.result()`: when the server is slow to
            # accept the final state (a locked SQLite file, seen under CI load), the state handed back is the
            # API's copy, without its data, and `result()` raises MissingResult for a run that completed.
            try:
                history = PHASE_FLOWS[phase](playbook=playbook_id, inputs=inputs, history=history)
            except Exception as exc:
                raise RuntimeError(f"called playbook '{playbook_id}' failed in {phase}: {exc}") from exc
    return CallRecord(playbook=playbook_id, version=loaded.playbook.version, phases=wanted,
                      status="completed", steps=history["statuses"]).model_dump()


register_runner(run_called_playbook)
