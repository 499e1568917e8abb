"""The playbook run: one parent flow run per execution, one sub-flow run per phase.

Its record in Prefect is the audit trail: run name and tags carry the playbook id and version,
the flow version and labels carry the playbook's content hash and git revision, and an artifact
lists what ran with which inputs.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.models import PHASES
from crisiscomms.playbook.parameters import PhaseChoice, resolve_inputs
from crisiscomms.project import git_revision
from flows.choices import PROJECT, CrisisInputs, PlaybookChoice
from flows.engine import empty_history
from flows.phases import PHASE_FLOWS, named


@flow(name="crisis-playbook", flow_run_name="{playbook}/{phase}", log_prints=True,
      description="Run a crisis playbook: all four phases in order, or one of them.")
def run_playbook(
    playbook: PlaybookChoice,  # type: ignore[valid-type]
    phase: PhaseChoice = "all",
    inputs: CrisisInputs = CrisisInputs(),  # type: ignore[valid-type]  # noqa: B008
    alert: dict[str, Any] | None = None,
) -> Any:
    loaded = PROJECT.load(playbook)
    given = inputs.model_dump() if hasattr(inputs, "model_dump") else dict(inputs)
    values = resolve_inputs(loaded.playbook, given)
    provenance = record_provenance(loaded, values)
    get_run_logger().info("playbook %s v%s (%s)", playbook, loaded.playbook.version, provenance["sha256"][:12])
    history = empty_history()
    with tags(f"playbook:{playbook}", f"playbook-version:{loaded.playbook.version}"):
        for name in PHASES if phase == "all" else [phase]:
            history = PHASE_FLOWS[name](playbook=playbook, inputs=given, history=history, alert=alert)
    return named(loaded, history)  # type: ignore[return-value]


def provenance_of(loaded: LoadedPlaybook) -> dict[str, str]:
    pb = loaded.playbook
    return {"id": pb.id, "version": pb.version, "sha256": loaded.sha256, "git": git_revision(loaded.path)}


def record_provenance(loaded: LoadedPlaybook, values: dict[str, Any]) -> dict[str, str]:
    """Write the playbook's identity onto the current flow run (tags, labels, version, artifact)."""
    found = provenance_of(loaded)
    run_id = flow_run.get_id()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        tags = sorted({*run.tags, f"playbook:{found['id']}", f"playbook-version:{found['version']}"})
        client.update_flow_run(run_id, tags=tags, flow_version=f"{found['id']}@{found['version']}"
                               f"+sha256.{found['sha256'][:12]}")
        client.update_flow_run_labels(run_id, {f"crisis.playbook.{k}": v for k, v in found.items()})
    rows = [f"| {k} | `{v}` |" for k, v in found.items()]
    rows += [f"| input `{k}` | `{v}` |" for k, v in values.items()]
    create_markdown_artifact("\n".join(["| playbook | |", "|---|---|", *rows]),
                             key=f"{found['id']}-provenance", description="Playbook identity and inputs")
    return found
