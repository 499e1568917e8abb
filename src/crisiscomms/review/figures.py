"""The figures of a post-mortem, each computed from what was collected, or missing with the reason.

Definitions (the report states them too):
- onset: going back from the last window of the first alert to end (of the pass that raised the crisis's first
  alerts), the first window of the run of windows whose volume is above the usual volume (the median window of the
  BASELINE before it); time to detect = the first alert's time − onset. (An alert's own baseline may count negative
  mentions only: the rise is told by volume.)
- crisis start: the first alert at level `alert`/`crisis`, else the time the crisis was opened by hand.
- time to first statement: crisis start → the first holding statement sent (any message when none was declared).
- pack to release: the first released pack's creation → its first message sent.
- approval wait: a stage's opening → each approver's answer (and → the stage's last answer).
- sentiment band: the pre-crisis windows' mean sentiment ± max(2 standard deviations, 0.1); sentiment has returned
  at the first window after the peak from which RETURN_WINDOWS windows in a row sit in the band.
- effort: the time approval stages waited on each role (an upper bound of the time its people spent); cost =
  hours × the role's `hourly_rate` when the playbook gives one.
"""

from __future__ import annotations

import statistics
import unicodedata
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from crisiscomms.review.collect import Collected, Window
from crisiscomms.review.model import ApprovalWait, Figure, Sent

K = TypeVar("K")
RETURN_WINDOWS = 3
BASELINE = timedelta(hours=6)
MIN_BAND = 0.1


def seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds()


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def crisis_alerts(found: Collected) -> list[dict]:
    return [a for a in found.alerts if a.get("crisis") == found.crisis.id]


def crisis_start(found: Collected) -> tuple[datetime, str]:
    alerts = crisis_alerts(found)
    if alerts:
        return datetime.fromisoformat(alerts[0]["at"]), "first alert"
    return found.crisis.opened_at, "crisis opened by hand"


def onset(found: Collected) -> datetime | None:
    alerts = crisis_alerts(found)
    if not alerts or not found.windows:
        return None
    first = [a for a in alerts if a["at"] == alerts[0]["at"]]  # raised by one monitoring pass
    alert_end = min(datetime.fromisoformat(str(a["window_end"])) for a in first)
    before = [w for w in found.windows if w.start < alert_end]
    usual = [w.volume for w in before if alert_end - BASELINE <= w.start < before[-1].start] if before else []
    baseline = statistics.median(usual) if usual else 0
    start = None
    for window in reversed(before):
        if window.volume <= baseline:
            break
        start = window.start
    return start


def detection(found: Collected) -> list[Figure]:
    group = "detection"
    alerts = crisis_alerts(found)
    if not alerts:
        why = "no monitoring alert opened this crisis (it was started by hand)"
        return [Figure(key="time_to_detect", label="Time to detect", unit="seconds", missing=why, group=group)]
    if not found.windows:
        why = "monitoring kept no mention around the alert (monitoring off, or its store was reset)"
        return [Figure(key="time_to_detect", label="Time to detect", unit="seconds", missing=why, group=group)]
    rise = onset(found)
    if rise is None:
        why = "the alert's own window is not above its baseline: no rise to date it from"
        return [Figure(key="time_to_detect", label="Time to detect", unit="seconds", missing=why, group=group)]
    at = datetime.fromisoformat(alerts[0]["at"])
    return [Figure(key="onset", label="Onset of the rise", value=rise.isoformat(), unit="text", group=group),
            Figure(key="time_to_detect", label="Time to detect (onset → alert)", value=seconds(rise, at),
                   unit="seconds", group=group)]


def statements(found: Collected, sent: list[Sent]) -> list[Figure]:
    group = "statements"
    start, _ = crisis_start(found)
    out = [m for m in sent if m.status in ("sent", "already_sent") and m.at is not None]
    if not out:
        why = "no message was released in this crisis"
        return [Figure(key="time_to_first_statement", label="Time to first holding statement", unit="seconds",
                       missing=why, group=group),
                Figure(key="pack_to_release", label="Pack to release", unit="seconds", missing=why, group=group)]
    holding = [m for m in out if m.kind == "holding_statement"]
    first = min(holding or out, key=lambda m: m.at or start)
    label = "Time to first holding statement" if holding else f"Time to first statement ({first.kind})"
    earliest = min(out, key=lambda m: m.at or start)  # the first pack released is the one whose message left first
    pack = found.packs.get(earliest.pack, {})
    first_of_pack = earliest.at
    return [Figure(key="time_to_first_statement", label=label, value=seconds(start, first.at), unit="seconds",
                   group=group),
            Figure(key="pack_to_release", label="Pack to release (first pack)", unit="seconds", group=group,
                   value=seconds(when(pack.get("created_at")), first_of_pack),
                   missing=None if pack.get("created_at") else "the pack's creation time was not recorded")]


def approvals(waits: list[ApprovalWait], found: Collected) -> list[Figure]:
    group = "approvals"
    if not waits:
        return [Figure(key="approval_wait", label="Approval wait", unit="seconds", group=group,
                       missing="no approval was requested in this crisis")]
    packs = list(dict.fromkeys(w.pack for w in waits))
    figures = []
    for w in waits:
        key = f"approval_wait.p{packs.index(w.pack) + 1}.s{w.stage}.{slug(w.approver)}"
        label = f"Approval wait, pack {packs.index(w.pack) + 1}, stage {w.stage}: {w.approver} ({w.role})"
        missing = None if w.seconds is not None else (
            "never answered (the stage is still open)" if w.decision is None and _still_open(found, w)
            else "did not answer (the stage was decided by others, or timed out)")
        figures.append(Figure(key=key, label=label, value=w.seconds, unit="seconds", missing=missing, group=group))
    for (pack, stage), rows in _grouped(waits, lambda w: (w.pack, w.stage)).items():
        answered = [w.decided_at for w in rows if w.decided_at]
        figures.append(Figure(
            key=f"approval_stage.p{packs.index(pack) + 1}.s{stage}", group=group, unit="seconds",
            label=f"Stage {stage} of pack {packs.index(pack) + 1}, opened → decided",
            value=seconds(rows[0].opened_at, max(answered)) if answered else None,
            missing=None if answered else "nobody answered this stage"))
    return figures


def _still_open(found: Collected, wait: ApprovalWait) -> bool:
    return any(status == "open" and s.hash == wait.pack and s.number == wait.stage for s, status in found.stages)


def _grouped(waits: list[ApprovalWait], key: Callable[[ApprovalWait], K]) -> dict[K, list[ApprovalWait]]:
    grouped: dict[K, list[ApprovalWait]] = {}
    for w in waits:
        grouped.setdefault(key(w), []).append(w)
    return grouped


def cadence(found: Collected) -> list[Figure]:
    group = "cadence"
    if not found.promises:
        return [Figure(key="updates_promised", label="Updates promised", unit="count", group=group,
                       missing="no release promised a next update (nothing was released, or no next update time)")]
    # `overdue`: past its time and nothing given, whether or not a reminder run found it yet: missed all the same.
    counted = Counter({"overdue": "missed"}.get(s, s) for s in (p.status(found.now) for p in found.promises))
    return [Figure(key="updates_promised", label="Updates promised", value=len(found.promises), group=group),
            *[Figure(key=f"updates_{s}", label=f"Updates {label}", value=counted.get(s, 0), group=group)
              for s, label in (("on_time", "kept on time"), ("late", "kept late"), ("missed", "missed"),
                               ("open", "not due yet"))]]


def messages(sent: list[Sent]) -> list[Figure]:
    group = "messages"
    status = Counter(m.status for m in sent)
    figures = [Figure(key="messages_sent", label="Messages sent", value=status["sent"] + status["already_sent"],
                      group=group),
               Figure(key="sends_failed", label="Sends failed", value=status["failed"], group=group),
               Figure(key="sends_in_doubt", label="Sends in doubt", value=status["in_doubt"], group=group)]
    per = Counter((m.audience, m.channel) for m in sent if m.status in ("sent", "already_sent"))
    figures += [Figure(key=f"messages.{a}.{c}", label=f"Messages to {a} on {c}", value=n, group=group)
                for (a, c), n in sorted(per.items())]
    return figures


def sentiment(found: Collected, end: datetime | None) -> list[Figure]:
    group = "sentiment"
    if not found.windows:
        why = "no monitoring data around the crisis (monitoring off, or its store was reset)"
        return [Figure(key=k, label=label, unit=u, missing=why, group=group)
                for k, label, u in (("volume_during", "Volume during (per window)", "count"),
                                    ("sentiment_return", "Time for sentiment to return", "seconds"))]
    start, _ = crisis_start(found)
    rise = onset(found) or start
    periods = {"before": [w for w in found.windows if w.start < rise],
               "during": [w for w in found.windows if rise <= w.start and (end is None or w.start < end)],
               "after": [w for w in found.windows if end is not None and w.start >= end]}
    figures = []
    for name, rows in periods.items():
        figures.append(_mean_figure(f"volume_{name}", f"Mean volume per window {name}", [w.volume for w in rows],
                                    name, "count"))
        figures.append(_mean_figure(f"sentiment_{name}", f"Mean sentiment {name}",
                                    [w.sentiment for w in rows if w.sentiment is not None], name, "score"))
    figures.append(_sentiment_return(found, periods["before"], start))
    return figures


def _mean_figure(key: str, label: str, values: list, period: str, unit: str) -> Figure:
    if not values:
        return Figure(key=key, label=label, unit=unit, group="sentiment",  # type: ignore[arg-type]
                      missing=f"no monitoring window {period} the crisis")
    return Figure(key=key, label=label, value=round(statistics.fmean(values), 4), unit=unit,  # type: ignore[arg-type]
                  group="sentiment")


def band(before: list[Window]) -> tuple[float, float] | None:
    scores = [w.sentiment for w in before if w.sentiment is not None]
    if len(scores) < 2:
        return None
    mean, spread = statistics.fmean(scores), max(2 * statistics.pstdev(scores), MIN_BAND)
    return mean - spread, mean + spread


def _sentiment_return(found: Collected, before: list[Window], start: datetime) -> Figure:
    key, label = "sentiment_return", "Time for sentiment to return to its pre-crisis band (from the crisis start)"
    limits = band(before)
    if limits is None:
        return Figure(key=key, label=label, unit="seconds", group="sentiment",
                      missing="fewer than 2 analysed windows before the crisis: no pre-crisis band")
    later = [w for w in found.windows if w.start >= start]
    peak = max(range(len(later)), key=lambda i: later[i].volume, default=0)
    run = 0
    for i, w in enumerate(later[peak:]):
        inside = w.sentiment is not None and limits[0] <= w.sentiment <= limits[1]
        run = run + 1 if inside else 0
        if run == RETURN_WINDOWS:
            back = later[peak + i - RETURN_WINDOWS + 1].start
            return Figure(key=key, label=label, value=seconds(start, back), unit="seconds", group="sentiment")
    return Figure(key=key, label=label, unit="seconds", group="sentiment",
                  missing=f"sentiment has not come back to its band ({limits[0]:.2f} … {limits[1]:.2f}) for "
                  f"{RETURN_WINDOWS} windows in a row in the data so far")


def claims(found: Collected) -> list[Figure]:
    figures = []
    for t in found.claims:
        rule = t.correction.rule.id
        figures += [Figure(key=f"claim.{rule}.before", label=f"« {t.correction.rule.text[:60]} » before the "
                           "correction (mentions)", value=t.before, group="claims"),
                    Figure(key=f"claim.{rule}.since", label=f"« {t.correction.rule.text[:60]} » since the "
                           "correction (mentions)", value=t.since, group="claims")]
    return figures


def effort(waits: list[ApprovalWait], rates: dict[str, float | None], currency: str,
           human_steps: Counter[str]) -> list[Figure]:
    group = "effort"
    hours: dict[str, float] = {}
    # A stage waits on a role once, not once per person of it.
    for (_, _, role), rows in _grouped(waits, lambda w: (w.pack, w.stage, w.role)).items():
        answered = [w.decided_at for w in rows if w.decided_at]
        if answered:
            hours[role] = hours.get(role, 0.0) + (max(answered) - rows[0].opened_at).total_seconds() / 3600
    figures = [Figure(key=f"effort.{role}", label=f"Hours waited on {role} (approvals)", value=round(h, 3),
                      unit="count", group=group) for role, h in sorted(hours.items())]
    figures += [Figure(key=f"human_steps.{role}", label=f"Checklist items for {role}", value=n, group=group)
                for role, n in sorted(human_steps.items())]
    costs = {role: h * rate for role, h in hours.items() if (rate := rates.get(role)) is not None}
    if not hours:
        figures.append(Figure(key="cost_total", label="Estimated cost", unit="money", group=group,
                              missing="no approval time was recorded"))
    elif not costs:
        figures.append(Figure(key="cost_total", label="Estimated cost", unit="money", group=group,
                              missing="the playbook gives no hourly_rate for the roles that approved"))
    else:
        unpriced = sorted(set(hours) - set(costs))
        figures.append(Figure(key="cost_total", label=f"Estimated cost ({currency})", value=round(
            sum(costs.values()), 2), unit="money", group=group))
        if unpriced:
            figures.append(Figure(key="cost_unpriced", label="Roles without an hourly rate", unit="text",
                                  value=", ".join(unpriced), group=group))
    return figures


def duration(found: Collected) -> Figure:
    end = found.crisis.closed_at or found.now
    label = "Total duration" if found.crisis.closed_at else "Duration so far (crisis under way)"
    return Figure(key="duration", label=label, value=seconds(found.crisis.opened_at, end), unit="seconds",
                  group="detection")


def slug(name: str) -> str:
    """`Sophie Lefèvre` → `sophie_lefevre`: a person in a figure's key."""
    plain = unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()
    folded = "".join(c if c.isalnum() else "_" for c in plain)
    return "_".join(part for part in folded.split("_") if part)
