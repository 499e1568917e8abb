"""message.release: the approved pack to its channels, each message exactly once; receipts in the audit trail."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from crisiscomms import release
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.steps import MessageRelease, ReleaseRecord
from crisiscomms.project import Project
from crisiscomms.store import state_dir


@task(name="message.release")
def release_pack(step: MessageRelease, context: StepContext) -> dict[str, Any]:
    approval = context.results.get(step.approval) or {}
    if approval.get("decision") != "approved":
        raise release.ReleaseRefused(f"not approved ({approval.get('decision', 'no decision')}): nothing released")
    project = Project(Path(context.root))
    playbook = project.load(context.playbook_id).playbook
    pack_path = approval.get("path") or context.results[step.pack]["path"]  # edits make a new pack file
    pack = json.loads(Path(pack_path).read_text(encoding="utf-8"))
    folder = state_dir(project.root)
    outbox = release.Outbox(folder / "outbox.db")
    # A drill never leaves the company: every message goes to the file outbox, under exercice/.
    drill = {name: release.file_sender(folder / "outbox" / "exercice") for name in playbook.channels}
    try:
        receipts = release.release(playbook, pack, approval["hash"], outbox, folder / "outbox",
                                   senders=drill if pack.get("drill") else None)
    finally:
        outbox.close()
    rows = [asdict(r) for r in receipts]
    create_table_artifact(rows, key=f"{playbook.id}-release", description=f"{playbook.id}: release receipts")
    failed = [r for r in receipts if r.status == "failed"]
    logger = get_run_logger()
    for r in receipts:
        (logger.error if r.status == "failed" else logger.info)("%s → %s: %s", r.message, r.status, r.detail)
    status = "partly_failed" if failed else "released"
    return ReleaseRecord(hash=approval["hash"], status=status, receipts=rows).model_dump()
