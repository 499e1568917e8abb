"""message.release: the approved pack to its channels, each message exactly once; receipts in the audit trail.

Before each message the kill switch is read fresh from the state database (`crisis halt`): when it is on, that
message and the ones after it are not sent, the step records `halted`, and a run made after `crisis unhalt`
sends what is left (the outbox never sends a message twice). A release that sent something keeps the playbook's
oldest open update promise and makes its own (the time written into its messages: the fact sheet's date and time,
or the pack's first send attempt + its delay), with a reminder run at that time.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.blocks.system import Secret
from prefect.runtime import flow_run

from crisiscomms import clock, drillmode
from crisiscomms.communication import cadence, channels, killswitch, release
from crisiscomms.monitoring.store import state_dir
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import ApprovalRecord, MessageRelease, PackRecord, ReleaseRecord
from tasks.crisis import close_and_review
from tasks.updates import publish_cadence, schedule_reminder


def read_secret(name: str) -> str:
    return str(Secret.load(name).get())


@task(name="message.release")
def release_pack(step: MessageRelease, context: StepContext) -> ReleaseRecord:
    if not context.has_result(step.approval):
        raise release.ReleaseRefused("not approved (no decision): nothing released")
    decision = context.result(step.approval, ApprovalRecord)
    if decision.decision != "approved":
        raise release.ReleaseRefused(f"not approved ({decision.decision}): nothing released")
    context.ensure_unchanged("release its pack")  # the recipients and channels approved are the ones sent to
    playbook, root = context.playbook, Path(context.root)
    pack_path = decision.path or context.result(step.pack, PackRecord).path  # edits make a new pack file
    pack = json.loads(Path(pack_path).read_text(encoding="utf-8"))
    receipts, promised = _send(root, playbook, pack, decision.hash)
    approvers = approved_by(decision)
    rows = [{**asdict(r), "pack": decision.hash, "approved_by": "; ".join(approvers)} for r in receipts]
    status = _status(rows)
    create_table_artifact(rows, key=f"{playbook.id}-release",
                          description=f"{playbook.id}: release receipts ({status}) of pack {decision.hash}")
    _log(rows)
    if status == "halted":
        _report_halt(root, playbook, rows)
    all_clear = any(v.get("kind") == "all_clear" for v in pack["variants"])
    if any(r["status"] == "sent" for r in rows) and all_clear:
        _end_cadence(root, playbook, pack, decision)
    elif any(r["status"] == "sent" for r in rows) and promised is not None:
        _keep_cadence(root, playbook, pack, decision, promised)
    if status != "halted" and context.crisis and all_clear:
        get_run_logger().info("ALL-CLEAR released: %s", close_and_review(root, playbook.id, context.crisis))
    return ReleaseRecord(hash=decision.hash, status=status, receipts=rows, approved_by=approvers)


def approved_by(approval: ApprovalRecord) -> list[str]:
    """Who approved the released hash, as the audit trail says it: name, role, stage, and the path it came by."""
    return [f"{a['name']} ({a['role']}, stage {a['stage']}, via {a.get('via', 'ui')}, {a['at']})"
            for a in approval.decisions if a["decision"] == "approve" and not a.get("refused")]


def _send(root: Path, playbook: Playbook, pack: dict[str, Any], approved: str
          ) -> tuple[list[release.Receipt], datetime | None]:
    """The receipts, and the next update the messages sent promise (the time written into them)."""
    folder = state_dir(root)
    outbox = release.open_outbox(root)
    # A drill never leaves the company: every message goes to the file outbox, under exercice/.
    drill = {name: channels.drill_sender(folder / "outbox" / "exercice", folder / channels.DRILL_DOWN)
             for name in playbook.channels}
    try:
        receipts = release.release(playbook, pack, approved, outbox, folder / "outbox",
                                   senders=drill if pack.get("drill") or drillmode.current() else None,
                                   halted=lambda: killswitch.reason(root, playbook.id), secrets=read_secret)
        # A pack whose texts never name the time still promises it: from now, if nothing fixed it before.
        sent = any(r.status == "sent" for r in receipts)
        return receipts, release.promised_time({**pack, "hash": approved}, outbox, clock.now() if sent else None)
    finally:
        outbox.close()


def _status(rows: list[dict[str, Any]]) -> Literal["released", "partly_failed", "halted"]:
    statuses = {r["status"] for r in rows}
    if "halted" in statuses:
        return "halted"
    return "partly_failed" if statuses & {"failed", "in_doubt"} else "released"


def _log(rows: list[dict[str, Any]]) -> None:
    logger = get_run_logger()
    for r in rows:
        level = {"failed": logger.error, "in_doubt": logger.error, "halted": logger.warning}.get(r["status"],
                                                                                               logger.info)
        level("%s → %s: %s", r["message"], r["status"], r["detail"])


def _report_halt(root: Path, playbook: Playbook, rows: list[dict[str, Any]]) -> None:
    held = [r for r in rows if r["status"] == "halted"]
    sent = [r for r in rows if r["status"] in ("sent", "already_sent")]
    halt = killswitch.current(root, playbook.id)
    why = halt.describe() if halt else held[0]["detail"]
    get_run_logger().warning("RELEASE HALTED — %d message(s) NOT sent, %d sent: %s. Lift the switch (`crisis unhalt "
                             "--by …` or the kill-switch deployment) and run the release again to send the rest.",
                             len(held), len(sent), why)
    lines = [f"# {playbook.title}: release halted", "", f"**{why}**", "",
             f"{len(held)} message(s) not sent, {len(sent)} already sent. Lift the kill switch "
             "(`crisis unhalt --by …`, or the *kill-switch* deployment), then run the release again: "
             "the messages sent stay sent, only the others go.", "", "| message | channel |", "|---|---|",
             *[f"| `{r['message']}` | {r['channel']} |" for r in held]]
    create_markdown_artifact("\n".join(lines), key=f"{playbook.id}-release-halted",
                             description=f"{playbook.id}: release stopped by the kill switch")


def _keep_cadence(root: Path, playbook: Playbook, pack: dict[str, Any], approval: ApprovalRecord,
                  promised: datetime) -> None:
    """Record promised (the time the messages say) vs actual; schedule the reminder of the promise made."""
    logger = get_run_logger()
    run_id = str(flow_run.get_id() or "local")
    recorded = cadence.record_release(root, playbook.id, run_id, approval.hash, promised, clock.now(),
                                      drill=bool(pack.get("drill")), priority=approval.priority)
    if recorded.fulfilled:
        kept = recorded.fulfilled
        logger.info("update promise #%d (promised %s) kept: %s (%s)", kept.id, kept.promised, kept.status(),
                    cadence.human_delay(kept.delay_seconds()))
    promise = recorded.promise
    if recorded.new:
        logger.info("update promise #%d: next update promised for %s", promise.id, promise.promised)
        _remind(root, promise)
    publish_cadence(root, playbook.id)


def _end_cadence(root: Path, playbook: Playbook, pack: dict[str, Any], approval: ApprovalRecord) -> None:
    """The all-clear keeps every promise still open and makes none: no reminder will call for an update."""
    kept = cadence.record_final_release(root, playbook.id, str(flow_run.get_id() or "local"), approval.hash,
                                        clock.now(), drill=bool(pack.get("drill")))
    for promise in kept:
        get_run_logger().info("update promise #%d (promised %s) answered by the all-clear: %s", promise.id,
                              promise.promised, promise.status())
    publish_cadence(root, playbook.id)


def _remind(root: Path, promise: cadence.Promise) -> None:
    logger = get_run_logger()
    try:
        run_id, note = schedule_reminder(promise)
    except Exception as exc:  # the messages are out: a reminder that fails must not fail the release
        run_id, note = None, f"no reminder scheduled: {type(exc).__name__}: {exc}"
    cadence.note_reminder(root, promise.id, note)
    (logger.info if run_id else logger.warning)("update promise #%d: %s", promise.id, note)
