"""A run's record of the playbook it runs: identity on the flow run (tags, labels, version, artifact), pinned once.

A run that waits for an approval may resume hours later, from the top: it must go on with the playbook it
started with. The identity is recorded by a task cached per flow run, so a resumed run gets the first record back
and compares it with the file as it is now.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from crisiscomms.playbook.context import refuse_if_changed
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.stack.project import git_revision


def pin_provenance(loaded: LoadedPlaybook, values: dict[str, Any]) -> dict[str, str]:
    """The playbook's identity, recorded once per run; a resumed run whose playbook file changed stops here."""
    pinned = record_provenance_once.with_options(task_run_name=f"{loaded.playbook.id}:provenance")(loaded, values)
    refuse_if_changed(loaded.playbook.id, pinned["sha256"], loaded.sha256, "the run does not go on")
    return pinned


def _per_run(context: Any, parameters: dict[str, Any]) -> str:
    return f"provenance-{context.task_run.flow_run_id}"


@task(name="playbook.provenance", persist_result=True, cache_key_fn=_per_run)
def record_provenance_once(loaded: LoadedPlaybook, values: dict[str, Any]) -> dict[str, str]:
    return record_provenance(loaded, values)


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
