"""claim.spread and claim.track: how far a false claim spreads and where; a released correction, tracked."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_image_artifact, create_markdown_artifact
from prefect.runtime import flow_run

from crisiscomms import clock
from crisiscomms.communication import claims
from crisiscomms.errors import CrisisError
from crisiscomms.monitoring import claimwatch, monitor
from crisiscomms.monitoring.claim import Rule, rule_for, rule_of_record
from crisiscomms.monitoring.correction import Correction, open_corrections
from crisiscomms.monitoring.store import open_store
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import ClaimSpread, ClaimSpreadRecord, ClaimTrack, ClaimTrackRecord, ReleaseRecord
from crisiscomms.report import charts

DELIVERED = ("sent", "already_sent")


def _text(source: str | None, context: StepContext) -> str:
    return context.render(source).strip() if source else ""


def _window(playbook: Playbook) -> int:
    return playbook.monitoring.detection.window if playbook.monitoring else 300


def claim_rule(step: ClaimSpread, playbook: Playbook, context: StepContext) -> Rule:
    text = _text(step.claim, context)
    if not text:
        raise CrisisError(f"step '{step.id}': no claim given (`claim: {step.claim}` renders empty)")
    return rule_for(playbook, text, _text(step.truth, context), [_text(m, context) for m in step.match])


def measure(step: ClaimSpread, playbook: Playbook, rule: Rule, context: StepContext) -> ClaimSpreadRecord:
    """The claim's spread in the mentions file, or in the monitoring store over `period` before now."""
    root = Path(context.root)
    spread = claims.Spread(rule, _window(playbook))
    given = _text(step.mentions, context)
    if given:  # an empty input (`mentions: "{{ inputs.mentions }}"` left blank) means the store
        path = Path(given) if Path(given).is_absolute() else root / given
        if not path.is_file():
            raise CrisisError(f"step '{step.id}': mentions file '{given}' not found")
        monitor.read_file(playbook, path, lambda outcome: spread.add_all(outcome.mentions))
        return spread.record(playbook, step.min_count, step.min_share, f"file {given}")
    end = clock.now()
    start = end - timedelta(seconds=step.period)
    store = open_store(root)
    try:
        spread.add_all(store.iter_mentions_between(playbook.id, start, end))
    finally:
        store.close()
    return spread.record(playbook, step.min_count, step.min_share, "monitoring store", (start, end))


def spread_markdown(title: str, r: ClaimSpreadRecord) -> str:
    lines = [f"## False claim — {title}", "", f"> {r.claim}", ""]
    if r.truth:
        lines += [f"**What is true:** {r.truth}", ""]
    lines += [f"{r.mentions} mention(s) carry it, {r.denials} deny it, out of {r.read} read ({r.origin}).",
              f"First seen {r.first_seen or '—'}, last seen {r.last_seen or '—'}; busiest window {r.peak} "
              f"(threshold {r.threshold}: {'spreading' if r.spreading else 'below'}).", "",
              f"Rule: {r.rule}.", "", "| audience | mentions | share | denials | spreads |", "|---|---:|---:|---:|---|"]
    for name, row in r.by_audience.items():
        lines.append(f"| {row['title']} (`{name}`) | {row['count']} | {row['share']:.0%} | {row['denials']} | "
                     f"{'✅ gets the correction' if row['spreading'] else '—'} |")
    lines += ["", f"**Where it spreads:** {', '.join(r.audiences) or 'nowhere: nothing to correct'}", ""]
    for example in r.examples:
        text = example["text"].replace("\n", " ")
        lines.append(f"- ×{example['shares']} · {example['audience']} · {example['author'] or '?'}: {text}")
    return "\n".join(lines) + "\n"


@task(name="claim.spread")
def measure_claim_spread(step: ClaimSpread, context: StepContext) -> ClaimSpreadRecord:
    playbook = context.playbook  # the run's frozen copy
    record = measure(step, playbook, claim_rule(step, playbook, context), context)
    key = f"{playbook.id}-claim-spread"
    create_markdown_artifact(spread_markdown(playbook.title, record), key=key,
                             description=f"{playbook.id}: where « {record.claim[:60]} » spreads")
    points = record.timeline
    svg = charts.counts(f"{playbook.title}: mentions carrying the claim", [p["start"][:16].replace("T", " ")
                        for p in points], [p["mentions"] for p in points], legend="mentions carrying the claim")
    create_image_artifact(charts.data_url(svg), key=f"{key}-chart", description=f"{playbook.id}: claim per window")
    get_run_logger().info("claim %s: %d mention(s), %d denial(s); spreads in %s", record.claim_id, record.mentions,
                          record.denials, ", ".join(record.audiences) or "no audience")
    return record


def _delivered(step: ClaimTrack, release: ReleaseRecord | None) -> list[dict[str, Any]]:
    if release is None or release.status not in ("released", "partly_failed"):
        state = release.status if release else "no release"
        raise CrisisError(f"step '{step.id}': the correction was not released ({state}): nothing to track")
    sent = [r for r in release.receipts if r["status"] in DELIVERED]
    if not sent:
        raise CrisisError(f"step '{step.id}': no message of the correction was delivered: nothing to track")
    return sent


@task(name="claim.track")
def track_correction(step: ClaimTrack, context: StepContext) -> ClaimTrackRecord:
    root = Path(context.root)
    playbook = context.playbook  # the run's frozen copy
    if not context.has_result(step.spread):
        raise CrisisError(f"step '{step.id}': no result from claim.spread step '{step.spread}'")
    spread = context.result(step.spread, ClaimSpreadRecord)
    release = context.result(step.release, ReleaseRecord) if context.has_result(step.release) else None
    sent = _delivered(step, release)
    measured = next(s for _, _, s in playbook.steps() if s.id == step.spread)
    correction = Correction(
        playbook.id, rule_of_record(spread.model_dump(), playbook), release.hash,  # type: ignore[union-attr]
        max(datetime.fromisoformat(r["at"]) for r in sent), sorted({r["message"].split("/")[1] for r in sent}),
        str(flow_run.get_id() or ""), getattr(measured, "period", 86400))
    book = open_corrections(root)
    store = open_store(root)
    try:
        new = book.record(correction)
        (since,) = claimwatch.track([correction], store, _window(playbook), clock.now())
    finally:
        book.close()
        store.close()
    record = ClaimTrackRecord(
        claim_id=correction.rule.id, claim=correction.rule.text, corrected_at=correction.corrected_at.isoformat(),
        audiences=correction.audiences, hash=correction.hash, flow_run=correction.flow_run,
        before=spread.mentions, since=since.since, status="recorded" if new else "already_recorded")
    create_markdown_artifact(
        f"## Correction recorded — {playbook.title}\n\n> {record.claim}\n\nCorrected at {record.corrected_at} for "
        f"{', '.join(record.audiences)} (pack `{record.hash[:16]}…`). Mentions carrying the claim: {record.before} "
        f"when measured, {record.since} since. Every monitoring run now tracks it (`{playbook.id}-claims`).\n",
        key=f"{playbook.id}-claim-track", description=f"{playbook.id}: correction of {record.claim_id}")
    get_run_logger().info("correction of %s %s: %s", record.claim_id, record.status, ", ".join(record.audiences))
    return record
