"""assessment.run: assess the crisis from its mentions and publish it for the team (Markdown, table, charts)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from crisiscomms import clock
from crisiscomms.assessment import scoring
from crisiscomms.errors import CrisisError
from crisiscomms.mention import Alert
from crisiscomms.monitoring.store import open_store
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import AssessmentRecord, AssessmentRun
from crisiscomms.report import charts, reporting


def gather(step: AssessmentRun, playbook: Playbook, context: StepContext) -> tuple[scoring.Gathered, float | None]:
    """The mentions to assess (a file, or the monitoring store) and the usual volume of a window, if known."""
    root = Path(context.root)
    given = context.render(step.mentions).strip() if step.mentions else ""
    if given:  # an empty input (`mentions: "{{ inputs.mentions }}"` left blank in the Run form) means the store
        path = Path(given) if Path(given).is_absolute() else root / given
        if not path.is_file():
            raise CrisisError(f"step '{step.id}': mentions file '{given}' not found")
        logger = get_run_logger()
        gathered = scoring.tally_file(playbook, path, progress=lambda n: logger.info("assessed %d records", n))
        return gathered, None
    alert = Alert.model_validate(context.alert) if context.alert else None
    end = alert.window_end if alert else clock.now()
    store = open_store(root)
    try:
        gathered = scoring.tally_store(playbook, store, end - timedelta(seconds=step.period), end)
    finally:
        store.close()
    return gathered, alert.baseline if alert else None


def publish(playbook: Playbook, record: AssessmentRecord, origin: str) -> None:
    key = f"{playbook.id}-crisis-assessment"  # `<id>-assessment` is the phase's own artifact
    markdown = reporting.assessment_markdown(playbook.title, record.model_dump()) + f"\nMentions: {origin}.\n"
    create_markdown_artifact(markdown, key=key, description=f"{playbook.id}: assessment {record.priority}")
    rows = [{"audience": name, "title": row["title"], "kind": row["kind"], "mentions": row["count"],
             "share": row["share"], "negative_share": row["negative_share"], "sentiment": row["sentiment"],
             "needs_message": row["hit"]} for name, row in record.audiences.items()]
    create_table_artifact(rows, key=f"{key}-audiences", description=f"{playbook.id}: audiences hit")
    points = record.timeline
    timeline = charts.timeline(f"{playbook.title}: mentions and negative share",
                               [p["start"][:16].replace("T", " ") for p in points], [p["volume"] for p in points],
                               [p["negative_share"] for p in points])
    create_image_artifact(charts.data_url(timeline), key=f"{key}-timeline",
                          description=f"{playbook.id}: mentions over time (bars) and negative share (line)")
    shares = [(row["title"], row["share"], f"{row['share']:.0%} ({row['count']})")
              for row in sorted(record.audiences.values(), key=lambda r: -r["count"])]
    create_image_artifact(charts.data_url(charts.bars(f"{playbook.title}: audiences", shares)),
                          key=f"{key}-audiences-chart", description=f"{playbook.id}: share of mentions per audience")


@task(name="assessment.run")
def run_assessment(step: AssessmentRun, context: StepContext) -> AssessmentRecord:
    playbook = context.playbook
    gathered, usual = gather(step, playbook, context)
    record = scoring.assess(gathered.tally, playbook, usual)
    logger = get_run_logger()
    logger.info("read %d = assessed %d + quarantined %d (%s)", gathered.read, record.mentions, gathered.quarantined,
                gathered.origin)
    logger.info("priority %s: severity %.2f, urgency %.2f", record.priority, record.severity, record.urgency)
    publish(playbook, record, gathered.origin)
    store = open_store(Path(context.root))
    try:  # a communication phase started on its own later reads this verdict (flows/engine.py)
        store.save_assessment(playbook.id, step.id, str(flow_run.get_id() or ""), record.model_dump())
    finally:
        store.close()
    return record
