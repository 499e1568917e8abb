"""review.collect, review.lessons, review.actions: the post-mortem of the run's crisis, on the Prefect side.

Collection reads the crisis's flow runs from the Prefect API page by page (tasks/prefect_runs.py) and everything
else from the project's stores (crisiscomms.review.collect); the report is written as artifacts and as files
under `.crisis/reviews/<crisis>/`, with its evidence pack.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from crisiscomms import clock
from crisiscomms.communication import signing
from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.store import state_dir
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.review_steps import (
    ActionsRecord,
    LessonsRecord,
    ReviewActions,
    ReviewCollect,
    ReviewLessons,
    ReviewRecord,
)
from crisiscomms.report.charts import data_url
from crisiscomms.review import charts, crises, evidence, postmortem
from crisiscomms.review.collect import Collected, collect
from crisiscomms.review.evidence import Entry
from crisiscomms.review.html import render_html
from crisiscomms.review.markdown import render_markdown
from crisiscomms.review.model import Lessons, PostMortem, RunSeen
from crisiscomms.review.pack import evidence_entries
from crisiscomms.stack.project import git_revision
from tasks.prefect_runs import approval_inputs, runs_of_crisis


def post_mortem(context: StepContext, currency: str) -> tuple[PostMortem, Collected]:
    """The post-mortem of the run's crisis as it stands now (provisional while the crisis is under way)."""
    if not context.crisis:
        raise CrisisError("no crisis to review: this run belongs to none (start the post-crisis phase with a crisis "
                          "id, `crisis review list` shows them, or run it after a crisis was opened)")
    root, playbook = Path(context.root), context.playbook
    crisis = crises.get(root, context.crisis)
    window = playbook.monitoring.detection.window if playbook.monitoring else None
    found = collect(root, crisis, _others_as_recorded(runs_of_crisis(crisis.id)), window, clock.now())
    identity = {"version": context.playbook_version, "sha256": context.sha256,
                "git": git_revision(Path(context.source)) or ""}
    return postmortem.build(found, playbook, identity, currency), found


def _others_as_recorded(runs: Iterable[RunSeen]) -> Iterator[RunSeen]:
    """The crisis's runs; this one is running (it may have been paused for the review questions a moment ago)."""
    me = str(flow_run.get_id() or "")
    for run in runs:
        yield run.model_copy(update={"state": "RUNNING", "state_name": "Running"}) if run.id == me else run


def publish(context: StepContext, pm: PostMortem, found: Collected) -> ReviewRecord:
    """Files (Markdown, HTML, JSON, the evidence pack) and artifacts of the post-mortem."""
    root = Path(context.root)
    folder = state_dir(root) / "reviews" / pm.crisis.id
    folder.mkdir(parents=True, exist_ok=True)
    markdown, html = render_markdown(pm), render_html(pm)
    files = {"post-mortem.md": markdown, "post-mortem.html": html, "post-mortem.json": pm.model_dump_json(indent=1)}
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    stamp = pm.generated_at.strftime("%Y%m%dT%H%M%SZ")
    entries = evidence_entries(root, Path(context.source), pm, markdown, html, found.quality,
                               {digest: Path(pack["path"]) for digest, pack in found.packs.items()})
    entries.append(Entry(name="approvals/forms-as-submitted.json", kind="approval", data=_submitted(pm)))
    archive = evidence.write_evidence(folder / f"evidence-{pm.crisis.id}-{stamp}.zip", _header(context, pm),
                                      entries, signing.load_key(state_dir(root)))
    _artifacts(context, pm, markdown)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    get_run_logger().info("post-mortem of %s%s: %s; evidence %s (sha256 %s)", pm.crisis.id,
                          " (PROVISIONAL)" if pm.provisional else "", folder / "post-mortem.html", archive, digest)
    return ReviewRecord(crisis=pm.crisis.id, provisional=pm.provisional, drill=pm.crisis.drill,
                        figures=sum(f.value is not None for f in pm.figures), missing=_missing(pm),
                        markdown=str(folder / "post-mortem.md"), html=str(folder / "post-mortem.html"),
                        data=str(folder / "post-mortem.json"), evidence=str(archive), evidence_sha256=digest,
                        lessons=pm.lessons is not None)


def _submitted(pm: PostMortem) -> bytes:
    """Every form answer the server kept for the crisis's runs (approvals, review questions), as submitted: what
    people typed, beside what the product made of it."""
    runs = {run.id: approval_inputs(run.id) for run in pm.runs if run.state != "SCHEDULED"}
    return json.dumps({run: found for run, found in runs.items() if found}, ensure_ascii=False, indent=1,
                      sort_keys=True, default=str).encode("utf-8")


def _missing(pm: PostMortem) -> list[str]:
    return [*pm.missing, *(f"{f.label}: {f.missing}" for f in pm.figures if f.missing)]


def _header(context: StepContext, pm: PostMortem) -> dict[str, Any]:
    return {"crisis": pm.crisis.id, "playbook": context.playbook_id, "version": pm.playbook_version,
            "git_revision": pm.git_revision, "playbook_sha256": pm.playbook_sha256,
            "generated_at": pm.generated_at.isoformat(), "provisional": pm.provisional, "drill": pm.crisis.drill}


def _artifacts(context: StepContext, pm: PostMortem, markdown: str) -> None:
    key = context.playbook_id.replace("_", "-").lower()
    create_markdown_artifact(markdown, key=f"{key}-post-mortem",
                             description=f"{pm.crisis.id}: post-mortem" + (" (provisional)" if pm.provisional else ""))
    rows = [{"figure": f.label, "value": "" if f.value is None else f.value, "unit": f.unit,
             "missing": f.missing or ""} for f in pm.figures]
    create_table_artifact(rows, key=f"{key}-review-figures", description=f"{pm.crisis.id}: figures of the review")
    create_image_artifact(data_url(charts.crisis_chart(pm.windows, pm.markers)), key=f"{key}-review-volume",
                          description=f"{pm.crisis.id}: volume and sentiment, statements marked")
    create_image_artifact(data_url(charts.approval_chart(pm.approvals)), key=f"{key}-review-approvals",
                          description=f"{pm.crisis.id}: how long each approver took")


@task(name="review.collect", persist_result=True)
def collect_review(step: ReviewCollect, context: StepContext) -> ReviewRecord:
    return publish(context, *post_mortem(context, step.currency))


@task(name="review.lessons", persist_result=True)
def record_lessons(step: ReviewLessons, context: StepContext, lessons: dict[str, Any] | None,
                   currency: str) -> LessonsRecord:
    """The team's answers (None: the form was not answered in time), kept, merged into a new report and pack."""
    root = Path(context.root)
    if lessons is not None and context.crisis:
        crises.save_lessons(root, crises.get(root, context.crisis), Lessons.model_validate(lessons))
    record = publish(context, *post_mortem(context, currency))
    given = Lessons.model_validate(lessons) if lessons else None
    return LessonsRecord(**record.model_dump(), status="answered" if given else "unanswered",
                         answered_by=given.answered_by if given else "", actions=len(given.actions) if given else 0)


@task(name="review.actions", persist_result=True)
def list_open_actions(step: ReviewActions, context: StepContext) -> ActionsRecord:
    """Open actions of past reviews as the preparation's checklist (an artifact), overdue ones first."""
    today = clock.now().date()
    found = crises.open_actions(Path(context.root), context.playbook_id)
    rows = [{"what": a.what, "owner": a.owner, "due": a.due.isoformat(), "crisis": c,
             "overdue": "yes" if a.due < today else ""} for c, a in found]
    if rows:
        create_table_artifact(rows, key=f"{context.playbook_id}-open-actions".replace("_", "-").lower(),
                              description=f"{context.playbook_id}: actions decided in past reviews, not done yet")
    return ActionsRecord(actions=rows, overdue=sum(1 for r in rows if r["overdue"]))
