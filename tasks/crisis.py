"""The crisis id on the Prefect side: which crisis a run belongs to, written on the run as the tag `crisis:<id>`.

A run joins its crisis once (a task cached per flow run: a run suspended for an approval resumes with the same id);
runs it starts (reminders, deadlines, the review after the all-clear) carry the tag of the run that started them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.context import TagsContext
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run

from crisiscomms.review import crises
from crisiscomms.review.model import Crisis

# A phase run on its own joins the playbook's crisis (or opens one); preparation belongs to none.
JOINING = ("assessment", "communication", "all")
REVIEWING = "post_crisis"


def _per_run(context: Any, parameters: dict[str, Any]) -> str:
    return f"crisis-{context.task_run.flow_run_id}"


@task(name="crisis.join", persist_result=True, cache_key_fn=_per_run)
def join_crisis_once(root: str, playbook_id: str, title: str, phase: str, requested: str) -> str | None:
    """The run's crisis id (None: a preparation run), tagged on the run; the first answer of the run is kept."""
    crisis = which_crisis(Path(root), playbook_id, title, phase, requested)
    if crisis is None:
        return None
    tag_current_run(crisis)
    get_run_logger().info("crisis %s (%s, opened %s by %s)%s", crisis.id, crisis.title, crisis.opened_at,
                          crisis.opened_by, " — DRILL" if crisis.drill else "")
    return crisis.id


def which_crisis(root: Path, playbook_id: str, title: str, phase: str, requested: str) -> Crisis | None:
    """The crisis named (it must exist), else: the crisis under way (a review: the latest one), else a new one."""
    if requested.strip():
        return crises.get(root, requested.strip())
    if phase == REVIEWING:
        return crises.under_way(root, playbook_id) or crises.latest(root, playbook_id)
    if phase not in JOINING:
        return None
    name = flow_run.get_name() or "a run"
    return crises.join_or_open(root, playbook_id, title, f"a person (run {name})")


def tag_current_run(crisis: Crisis) -> None:
    run_id = flow_run.get_id()
    if run_id is None:
        return
    wanted = {crises.tag(crisis.id), *(["drill"] if crisis.drill else [])}
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        if not wanted <= set(run.tags):
            client.update_flow_run(run_id, tags=sorted({*run.tags, *wanted}))


def tags_of(crisis_id: str | None) -> list[str]:
    """The tags a run's steps carry for its crisis (none for preparation)."""
    return [crises.tag(crisis_id)] if crisis_id else []


def inherited_tags() -> list[str]:
    """The crisis tags of the current run's context, for the runs it starts (a reminder, a deadline, a review)."""
    context = TagsContext.get()
    return sorted(t for t in context.current_tags if t.startswith(crises.TAG) or t == "drill")


def enter_crisis(root: Path, playbook_id: str, title: str, phase: str, requested: str = "") -> str | None:
    """Join the run to its crisis: its id (None for preparation)."""
    return join_crisis_once.with_options(task_run_name=f"{playbook_id}:crisis")(
        str(root), playbook_id, title, phase, requested)


REVIEW_DEPLOYMENT = "phase-post-crisis/post-crisis"


def close_and_review(root: Path, playbook_id: str, crisis_id: str) -> str:
    """The all-clear went out: close the crisis and start its review (the post-crisis phase) on the stack, once."""
    closed = crises.close(root, crisis_id)
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(REVIEW_DEPLOYMENT)
        except ObjectNotFound:
            return (f"crisis {crisis_id} closed at {closed.closed_at}; no review started: deployment "
                    f"{REVIEW_DEPLOYMENT} is not registered on this Prefect API (`crisis up` registers it)")
    run = run_deployment(name=REVIEW_DEPLOYMENT, parameters={"playbook": playbook_id, "crisis_id": crisis_id},
                         timeout=0, as_subflow=False, tags=["crisiscomms", "review", crises.tag(crisis_id)],
                         flow_run_name=f"{playbook_id}/post_crisis", idempotency_key=f"review-{crisis_id}")
    return f"crisis {crisis_id} closed at {closed.closed_at}; its review is run {run.id}"


COMMUNICATION_DEPLOYMENT = "phase-communication/communication"
PRIORITIES = ("p1", "p2", "p3", "p4")  # most urgent first


def why_not_communicate(threshold: str, priority: str, crisis_id: str, journal: list[dict[str, Any]]) -> str | None:
    """Why the alert's crisis gets no communication phase started for it (None: it gets one)."""
    if PRIORITIES.index(priority) > PRIORITIES.index(threshold):
        return f"assessed {priority}, below {threshold}: the team decides when to communicate"
    if any(entry["phase"] in ("communication", "all") for entry in journal):
        return f"crisis {crisis_id} already has its communication: none started"
    return None


@task(name="communication.start_on_alert")
def communicate_on_alert(root: str, playbook_id: str, threshold: str, crisis_id: str, priority: str) -> str:
    """The playbook's `assessment.communicate_on_alert`: the alert's crisis, assessed at `threshold` or above, gets
    its communication phase at once — unless the crisis already has one (a person started it, or an earlier alert).
    The idempotency key keeps it to one run per crisis even when two alerts race."""
    held_back = why_not_communicate(threshold, priority, crisis_id, crises.journal(Path(root), crisis_id))
    if held_back:
        return held_back
    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(COMMUNICATION_DEPLOYMENT)
        except ObjectNotFound:
            return (f"no communication started for crisis {crisis_id}: deployment {COMMUNICATION_DEPLOYMENT} is not "
                    "registered on this Prefect API (`crisis up` registers it)")
    run = run_deployment(name=COMMUNICATION_DEPLOYMENT, parameters={"playbook": playbook_id, "crisis_id": crisis_id},
                         timeout=0, as_subflow=False, tags=["crisiscomms", "phase", crises.tag(crisis_id)],
                         flow_run_name=f"{playbook_id}/communication", idempotency_key=f"on-alert-{crisis_id}")
    return (f"assessed {priority} (communicate at {threshold} or above): communication phase started for crisis "
            f"{crisis_id}, run {run.id}; its pack waits for approval")

