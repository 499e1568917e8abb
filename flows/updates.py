"""The update reminder: at the time a released pack promised the next update, was it given?

Scheduled by the release (tasks/release.py) as a run of the `update-reminder` deployment at the promised time:
- the kill switch is on → nothing but a log line (the crisis team stopped everything on purpose);
- a later release kept the promise → logged, on time or how late;
- otherwise → a warning, an "update overdue" artifact naming who must speak, and the miss recorded.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from crisiscomms import clock
from crisiscomms.communication import cadence, killswitch
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.project import Project
from flows.choices import ROOT, PlaybookChoice


@flow(name="update-reminder", flow_run_name="{playbook}/promise-{promise}", log_prints=True,
      description="At the promised time of the next update: kept, or overdue (who must speak), or halted.")
def update_reminder(playbook: PlaybookChoice, promise: int) -> dict[str, Any]:  # type: ignore[valid-type]
    return check_promise(ROOT, playbook, promise)


def check_promise(root: Path, playbook_id: str, promise_id: int, now: datetime | None = None) -> dict[str, Any]:
    """What the reminder found: halted, on_time, late (kept), overdue (missed now), or open (not due yet)."""
    logger = get_run_logger()
    now = now or clock.now()
    promise = cadence.get(root, promise_id)
    if promise.playbook != playbook_id:
        raise ValueError(f"update promise #{promise_id} belongs to playbook {promise.playbook}, not {playbook_id}")
    halt = killswitch.current(root, playbook_id)
    if halt:
        logger.info("promise #%d not checked: %s", promise_id, halt.describe())
        return {"status": "halted", "promise": promise_id, "detail": halt.describe()}
    status = promise.status(now)
    if status in ("on_time", "late"):
        logger.info("promise #%d (next update promised for %s) kept %s: %s", promise_id, promise.promised,
                    "on time" if status == "on_time" else "LATE", cadence.human_delay(promise.delay_seconds()))
        return {"status": status, "promise": promise_id, "detail": cadence.human_delay(promise.delay_seconds(now))}
    if status == "open":
        logger.info("promise #%d is not due before %s", promise_id, promise.promised)
        return {"status": "open", "promise": promise_id, "detail": f"due {promise.promised}"}
    return _overdue(root, Project(root).load(playbook_id).playbook, promise, now)


def _overdue(root: Path, playbook: Playbook, promise: cadence.Promise, now: datetime) -> dict[str, Any]:
    missed = cadence.mark_missed(root, promise.id, now)
    speakers = who_must_speak(playbook, promise.priority)
    late = cadence.human_delay(missed.delay_seconds(now))
    get_run_logger().warning("UPDATE OVERDUE — %s promised its next update for %s (promise #%d): nothing released "
                             "since (%s). Who must speak: %s", playbook.id, promise.promised, promise.id, late,
                             "; ".join(speakers) or "nobody named in the playbook")
    lines = [f"# Update overdue: {playbook.title}", "",
             f"The pack released at {promise.released_at} (flow run `{promise.run_id}`) promised the next update "
             f"for **{promise.promised}** (UTC). Nothing has been released since: **{late}**."
             + (" This was a drill." if promise.drill else ""), "", "## Who must speak", "",
             *[f"- {s}" for s in speakers or ["nobody is named: set communication.organisation.spokesperson and "
                                              "communication.approval"]],
             "", "Release an update (run the communication phase), or say publicly when you will.", "",
             f"Promise #{promise.id}, pack `{promise.pack[:16]}…`, playbook `{playbook.id}`."]
    create_markdown_artifact("\n".join(lines), key=f"{playbook.id}-update-overdue",
                             description=f"{playbook.id}: the promised update is overdue")
    return {"status": "overdue", "promise": promise.id, "detail": late, "speakers": speakers}


def who_must_speak(playbook: Playbook, priority: str | None) -> list[str]:
    """The spokesperson, then the members of the first approval stage for the crisis's priority."""
    found = []
    organisation = playbook.communication.organisation
    if organisation and organisation.spokesperson:
        found.append(f"spokesperson: {organisation.spokesperson} ({organisation.name})")
    chain = playbook.communication.approval.chain(priority)
    for role in chain[0].roles if chain else []:
        if role in playbook.team:
            members = ", ".join(m.name for m in playbook.team[role].members)
            found.append(f"first approval stage, {playbook.team[role].title}: {members}")
    return found
