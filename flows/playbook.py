"""The playbook run: one flow run per execution; its phases run in it, in order (their task runs are tagged
`phase:<name>`, each phase publishes its `<id>-<phase>` artifact).

The phases are not sub-flows: an approval that waits for hours suspends the run (Prefect cannot suspend a
sub-flow), and the run then resumes from the top on any worker, its finished steps coming back Cached.

Its record in Prefect is the audit trail: run name and tags carry the playbook id and version,
the flow version and labels carry the playbook's content hash and git revision, and an artifact
lists what ran with which inputs. The playbook is read, checked and planned once, when the run starts, and its
hash pinned: a run that resumes after the playbook file changed stops and names both hashes instead of going on
with another playbook.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.states import State

from crisiscomms.playbook.models import PHASES
from crisiscomms.playbook.parameters import PhaseChoice, resolve_inputs
from crisiscomms.stack.project import Project
from flows.choices import ROOT, CrisisInputs, PlaybookChoice, given_inputs
from flows.engine import RunHistory, walk
from flows.phases import named
from flows.provenance import pin_provenance
from tasks.crisis import enter_crisis, tags_of


@flow(name="crisis-playbook", flow_run_name="{playbook}/{phase}", log_prints=True,
      description="Run a crisis playbook: all four phases in order, or one of them.")
def run_playbook(
    playbook: PlaybookChoice,  # type: ignore[valid-type]
    phase: PhaseChoice = "all",
    inputs: CrisisInputs = CrisisInputs(),  # type: ignore[valid-type]  # noqa: B008
    crisis_id: str = "",
) -> RunHistory | State:
    """Any playbook by id, its inputs in one model (the CLI, scripts); each playbook also has its own Run form
    (flows/forms.py). `crisis_id`: the crisis the run belongs to (empty: the playbook's crisis under way, or a new
    one)."""
    return play(playbook, phase, given_inputs(inputs), crisis_id=crisis_id)


def play(playbook: str, phase: str, given: dict[str, Any], alert: dict[str, Any] | None = None,
         crisis_id: str = "") -> RunHistory | State:
    """The body of a playbook run, whichever flow started it: freeze the playbook, pin it, join its crisis, walk
    the phases."""
    project = Project(ROOT)
    frozen = project.freeze(playbook)
    values = resolve_inputs(frozen.playbook, given)
    provenance = pin_provenance(frozen.loaded, values)
    get_run_logger().info("playbook %s v%s (%s)", playbook, frozen.playbook.version, provenance["sha256"][:12])
    history = RunHistory()
    crisis = enter_crisis(ROOT, playbook, frozen.playbook.title, phase, crisis_id)
    with tags(f"playbook:{playbook}", f"playbook-version:{frozen.playbook.version}", *tags_of(crisis)):
        for name in PHASES if phase == "all" else [phase]:
            with tags(f"phase:{name}"):
                history = walk(frozen, name, values, history, alert, project, crisis)
    return named(frozen, history)
