"""One Prefect flow per phase; each walks the phase's steps of one playbook (see engine.py)."""

from __future__ import annotations

from typing import Any

from prefect import Flow, flow, tags
from prefect.states import Completed, State

from crisiscomms.playbook.frozen import FrozenPlaybook
from crisiscomms.playbook.models import PHASES
from crisiscomms.playbook.parameters import resolve_inputs
from crisiscomms.playbook.steps import AssessmentRecord
from crisiscomms.stack.project import Project
from flows.choices import ROOT, CrisisInputs, PlaybookChoice, given_inputs
from flows.engine import RunHistory, outcome, walk
from flows.provenance import pin_provenance
from tasks.crisis import communicate_on_alert, enter_crisis, tags_of


def _phase_flow(phase: str) -> Flow[..., RunHistory | State]:
    @flow(name=f"phase-{phase.replace('_', '-')}", flow_run_name=f"{{playbook}}/{phase}",
          description=f"The {phase} phase of a crisis playbook.", log_prints=True)
    def run_phase(
        playbook: PlaybookChoice,  # type: ignore[valid-type]
        inputs: CrisisInputs = CrisisInputs(),  # type: ignore[valid-type]  # noqa: B008
        crisis_id: str = "",
    ) -> RunHistory | State:
        return run_one_phase(playbook, phase, given_inputs(inputs), crisis_id=crisis_id)

    return run_phase


def run_one_phase(playbook: str, phase: str, given: dict[str, Any], alert: dict[str, Any] | None = None,
                  crisis_id: str = "", claim: str = "") -> RunHistory | State:
    """A phase started on its own (the UI, an automation): it may wait suspended, so it pins the playbook."""
    frozen, done, _ = walk_one_phase(playbook, phase, given, alert, crisis_id, claim)
    return named(frozen, done, (phase,))


def walk_one_phase(playbook: str, phase: str, given: dict[str, Any], alert: dict[str, Any] | None = None,
                   crisis_id: str = "", claim: str = "") -> tuple[FrozenPlaybook, RunHistory, str | None]:
    """The phase walked: the frozen playbook, what the steps did, the crisis the run joined."""
    project = Project(ROOT)
    frozen = project.freeze(playbook)
    if claim:  # monitoring's correction run: the claim goes to the input the playbook names for it
        given = {**given, frozen.playbook.communication.claim_input: claim}
    values = resolve_inputs(frozen.playbook, given)
    pin_provenance(frozen.loaded, values)
    crisis = enter_crisis(ROOT, playbook, frozen.playbook.title, phase, crisis_id)
    with tags(f"playbook:{playbook}", f"playbook-version:{frozen.playbook.version}", f"phase:{phase}",
              *tags_of(crisis)):
        done = walk(frozen, phase, values, RunHistory(), alert, project, crisis)
    return frozen, done, crisis


@flow(name="phase-communication", flow_run_name="{playbook}/communication", log_prints=True,
      description="The communication phase of a crisis playbook (messages per audience, updates, corrections).")
def communication(
    playbook: PlaybookChoice,  # type: ignore[valid-type]
    inputs: CrisisInputs = CrisisInputs(),  # type: ignore[valid-type]  # noqa: B008
    crisis_id: str = "",
    claim: str = "",
) -> RunHistory | State:
    """`claim`: a declared claim's id, set by the automation when monitoring sees it spreading; it fills the
    playbook's `communication.claim_input` (`rumeur` in the demo), whatever the playbook's language."""
    return run_one_phase(playbook, "communication", given_inputs(inputs), crisis_id=crisis_id, claim=claim)


@flow(name="phase-assessment", flow_run_name="{playbook}/assessment", log_prints=True,
      description="The assessment phase started by a monitoring alert (the automation fills `alert`).")
def assessment_on_alert(playbook: PlaybookChoice, alert: dict[str, Any],  # type: ignore[valid-type]
                        crisis_id: str = "") -> RunHistory | State:
    frozen, done, crisis = walk_one_phase(playbook, "assessment", {}, alert, crisis_id)
    threshold = frozen.playbook.assessment.communicate_on_alert
    assessed = [r for r in done.results.values() if isinstance(r, AssessmentRecord)]
    if threshold and crisis and assessed:
        with tags(*tags_of(crisis)):
            start = communicate_on_alert.with_options(task_run_name=f"{playbook}:communicate")
            print(start(str(ROOT), playbook, threshold, crisis, assessed[-1].priority))
    return named(frozen, done, ("assessment",))


def named(frozen: FrozenPlaybook, history: RunHistory, phases: tuple[str, ...] = PHASES) -> RunHistory | State:
    """A run that asked for an approval ends in a state named for the outcome (Released, Rejected, Timed out …)."""
    name = outcome(frozen, history, phases)
    return Completed(name=name, message=f"approval outcome: {name}", data=history) if name else history


preparation = _phase_flow("preparation")
assessment = _phase_flow("assessment")
post_crisis = _phase_flow("post_crisis")
PHASE_FLOWS: dict[str, Flow[..., RunHistory | State]] = {
    "preparation": preparation, "assessment": assessment,
    "communication": communication, "post_crisis": post_crisis,
}
