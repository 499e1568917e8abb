"""Assemble a post-mortem from what was collected: the timeline in order, the figures, the charts' series."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from crisiscomms.playbook.models import Playbook
from crisiscomms.review import figures as fig
from crisiscomms.review.collect import Collected
from crisiscomms.review.model import ApprovalWait, Event, Marker, PostMortem, Sent, WindowPoint

_STOPPED = {"CRASHED": "crashed", "FAILED": "failed", "CANCELLED": "was cancelled", "PAUSED": "is paused, waiting"}
_STATEMENT_KINDS = {"correction": "correction", "all_clear": "all_clear", "update": "update"}


def build(found: Collected, playbook: Playbook, identity: dict[str, str], currency: str = "EUR") -> PostMortem:
    waits = approval_waits(found)
    sent = messages_sent(found)
    end = found.crisis.closed_at
    figures = [fig.duration(found), *fig.detection(found), *fig.statements(found, sent),
               *fig.approvals(waits, found), *fig.cadence(found), *fig.messages(sent),
               *fig.sentiment(found, end), *fig.claims(found),
               *fig.effort(waits, {name: role.hourly_rate for name, role in playbook.team.items()}, currency,
                           _human_steps(found))]
    missing = [*found.missing, *_stopped_runs(found), *_unreached(sent)]
    if found.crisis.drill:
        missing.append("this crisis is a DRILL: its figures are kept out of real-crisis comparisons")
    if end is None:
        missing.append("the crisis is still under way (no all-clear released): this report is PROVISIONAL, the "
                       "figures are those so far")
    return PostMortem(
        crisis=found.crisis, playbook_version=identity.get("version", ""), playbook_sha256=identity.get("sha256", ""),
        git_revision=identity.get("git") or None, generated_at=found.now, provisional=end is None,
        timeline=timeline(found, sent), figures=figures, approvals=waits, sent=sent, windows=windows(found),
        markers=markers(found, sent), runs=found.runs, missing=missing, lessons=found.lessons)


def approval_waits(found: Collected) -> list[ApprovalWait]:
    """Every approver asked at every stage: when the stage opened, when (and how) they answered."""
    answers = _answers(found)
    waits = []
    for stage, _status in found.stages:
        opened = datetime.fromisoformat(stage.opened_at)
        for person in stage.approvers:
            answer = answers.get((stage.hash, stage.number, person["name"]))
            decided = datetime.fromisoformat(answer["at"]) if answer else None
            waits.append(ApprovalWait(pack=stage.hash, stage=stage.number, role=person.get("role", ""),
                                      approver=person["name"], opened_at=opened, decided_at=decided,
                                      decision=answer["decision"] if answer else None,
                                      seconds=fig.seconds(opened, decided)))
    return waits


def _answers(found: Collected) -> dict[tuple[str, int, str], dict[str, Any]]:
    """Each person's first accepted answer per pack and stage, from the approval records and the open stages."""
    found_answers: dict[tuple[str, int, str], dict[str, Any]] = {}
    bodies = [(r["record"].get("hash", ""), r["record"].get("decisions", [])) for r in found.records("message.approve")]
    bodies += [(stage.hash, stage.decisions) for stage, _ in found.stages]
    for digest, decisions in bodies:
        for d in decisions:
            if not d.get("refused"):
                found_answers.setdefault((digest, int(d["stage"]), d["name"]), d)
    return found_answers


def messages_sent(found: Collected) -> list[Sent]:
    """Each message of the crisis's packs as the outbox last recorded it (a send in doubt settled later too)."""
    out = []
    for row in found.outbox:
        kind, audience, channel, language = [*row["message"].split("/"), "", "", ""][:4]
        status = "in_doubt" if row["status"] == "sending" else row["status"]
        out.append(Sent(at=datetime.fromisoformat(row["at"]) if row.get("at") else None, kind=kind,
                        audience=audience, channel=channel, language=language, status=status, pack=row["pack"],
                        key=row["key"], receipt=row.get("receipt") or ""))
    return sorted(out, key=lambda m: (m.at or found.now, m.key))


def windows(found: Collected) -> list[WindowPoint]:
    start, _ = fig.crisis_start(found)
    rise = fig.onset(found) or start
    end = found.crisis.closed_at

    def period(at: datetime) -> str:
        return "before" if at < rise else "after" if end is not None and at >= end else "during"

    return [WindowPoint(start=w.start, volume=w.volume, sentiment=w.sentiment, period=period(w.start))  # type: ignore[arg-type]
            for w in found.windows]


def markers(found: Collected, sent: list[Sent]) -> list[Marker]:
    found_markers = []
    alerts = fig.crisis_alerts(found)
    if alerts:
        found_markers.append(Marker(at=datetime.fromisoformat(alerts[0]["at"]), kind="alert",
                                    label=f"alert ({alerts[0].get('level')})"))
    first_of_pack: dict[str, Sent] = {}
    for m in sent:
        if m.at is not None and m.status in ("sent", "already_sent"):
            first_of_pack.setdefault(m.pack, m)
    kinds_of = {digest: {s.kind for s in sent if s.pack == digest} for digest in first_of_pack}
    for i, (digest, m) in enumerate(sorted(first_of_pack.items(), key=lambda kv: kv[1].at or found.now)):
        kind = next((k for k in ("all_clear", "correction") if k in kinds_of[digest]),
                    "statement" if i == 0 else "update")
        label = {"statement": "first statement", "all_clear": "all-clear"}.get(kind, kind)
        found_markers.append(Marker(at=m.at, kind=kind, label=label))  # type: ignore[arg-type]
    return sorted(found_markers, key=lambda mk: mk.at)


def timeline(found: Collected, sent: list[Sent]) -> list[Event]:
    events = [*_signal_and_alerts(found), *_steps(found), *_stages(found), *_sends(sent), *_promises(found),
              *_halts(found), *_runs(found)]
    if found.crisis.closed_at:
        events.append(Event(at=found.crisis.closed_at, kind="all_clear", source="crises",
                            title="All-clear released: the crisis is closed"))
    if found.lessons:
        events.append(Event(at=found.lessons.at, kind="lessons", source="crises",
                            title=f"Lessons learned answered by {found.lessons.answered_by} "
                            f"({len(found.lessons.actions)} action(s))"))
    order = {kind: i for i, kind in enumerate(("signal", "alert", "assessment", "claim", "pack",
                                               "approval_requested", "approval_decision", "approval_outcome",
                                               "release", "correction", "update_due", "halt", "run", "all_clear",
                                               "lessons"))}
    return sorted(events, key=lambda e: (e.at, order.get(e.kind, 99)))


def _signal_and_alerts(found: Collected) -> list[Event]:
    events = []
    rise = fig.onset(found)
    if rise is not None:
        events.append(Event(at=rise, kind="signal", source="monitoring",
                            title="First signal: mentions rise above the baseline"))
    for a in [a for a in found.alerts if a.get("crisis") in (None, found.crisis.id)]:  # not another crisis's
        events.append(Event(at=datetime.fromisoformat(a["at"]), kind="alert", source="crises", run=a.get("run_id"),
                            title=f"Monitoring alert, level {a.get('level')} ({a.get('kind')}): {a.get('volume')} "
                            f"mentions in the window from {a.get('window_start')} (usual {a.get('baseline')})"))
    return events


def _steps(found: Collected) -> list[Event]:
    events = []
    for row in found.journal:
        at, record, run = datetime.fromisoformat(row["at"]), row["record"], row["run_id"]
        match row["type"]:
            case "assessment.run":
                events.append(Event(at=at, kind="assessment", source="journal", run=run,
                                    title=f"Assessment: priority {record.get('priority')} (severity "
                                    f"{record.get('severity')}, urgency {record.get('urgency')})",
                                    details={"priority": record.get("priority")}))
            case "message.pack" if record.get("hash"):
                events.append(Event(at=at, kind="pack", source="journal", run=run,
                                    title=f"Pack {record['hash'][:12]} prepared: {len(record.get('variants', []))} "
                                    f"message(s), by {record.get('author') or 'unnamed'}"))
            case "message.approve":
                events.append(Event(at=at, kind="approval_outcome", source="journal", run=run,
                                    title=f"Pack {record.get('hash', '')[:12]}: {record.get('decision')} "
                                    f"(priority {record.get('priority')})"))
            case "claim.spread":
                events.append(Event(at=at, kind="claim", source="journal", run=run,
                                    title=f"False claim measured: « {str(record.get('claim', ''))[:80]} » "
                                    f"({record.get('mentions')} mention(s))"))
            case "claim.track":
                events.append(Event(at=datetime.fromisoformat(record["corrected_at"]), kind="correction",
                                    source="journal", run=run, title=f"Correction released for "
                                    f"« {str(record.get('claim', ''))[:80]} »"))
    return events


def _stages(found: Collected) -> list[Event]:
    events = []
    for stage, status in found.stages:
        names = ", ".join(a["name"] for a in stage.approvers)
        events.append(Event(at=datetime.fromisoformat(stage.opened_at), kind="approval_requested",
                            source="approvals", run=stage.run_id, title=f"Approval stage {stage.number}/{stage.of} "
                            f"({', '.join(stage.roles)}) asked of {names}" + (" — still open" if status == "open"
                                                                              else "")))
    for (digest, number, name), answer in _answers(found).items():
        events.append(Event(at=datetime.fromisoformat(answer["at"]), kind="approval_decision", source="approvals",
                            title=f"{name} ({answer.get('role')}) — {answer['decision']} at stage {number} "
                            f"(pack {digest[:12]}, via {answer.get('via', 'ui')})"))
    return events


def _sends(sent: list[Sent]) -> list[Event]:
    return [Event(at=m.at, kind="release", source="outbox",
                  title=f"{m.kind} to {m.audience} on {m.channel} ({m.language}): {m.status}",
                  details={"pack": m.pack[:16], "key": m.key}) for m in sent if m.at is not None]


def _promises(found: Collected) -> list[Event]:
    labels = {"on_time": "kept on time", "late": "kept late", "overdue": "MISSED", "missed": "MISSED",
              "open": "not due yet"}
    return [Event(at=datetime.fromisoformat(p.promised), kind="update_due", source="cadence", run=p.run_id,
                  title=f"Update promised for this time: {labels[p.status(found.now)]}"
                  + (f" (given {p.fulfilled_at})" if p.fulfilled_at else ""))
            for p in found.promises]


def _halts(found: Collected) -> list[Event]:
    events = [Event(at=datetime.fromisoformat(h.at), kind="halt", source="killswitch",
                    title=f"Kill switch ON by {h.by}: {h.reason}") for h in found.halts]
    events += [Event(at=datetime.fromisoformat(h.lifted_at), kind="halt", source="killswitch",
                     title=f"Kill switch lifted by {h.lifted_by}") for h in found.halts if h.lifted_at]
    return events


def _runs(found: Collected) -> list[Event]:
    return [Event(at=r.ended or r.started or found.now, kind="run", source=f"prefect:flow-run {r.id}", run=r.id,
                  title=f"Flow run {r.name} {_STOPPED[r.state]} ({r.state_name})")
            for r in found.runs if r.state in _STOPPED]


def _unreached(sent: list[Sent]) -> list[str]:
    """Each audience and channel none of whose messages went out: a public the crisis did not reach."""
    lines = []
    for audience, channel in sorted({(m.audience, m.channel) for m in sent}):
        rows = [m for m in sent if (m.audience, m.channel) == (audience, channel)]
        if not any(m.status in ("sent", "already_sent") for m in rows):
            states = ", ".join(f"{n} {s}" for s, n in sorted(Counter(m.status for m in rows).items()))
            lines.append(f"{audience} on {channel} received NONE of its {len(rows)} message(s) ({states}): "
                         "reach them another way, and fix the channel")
    return lines


def _stopped_runs(found: Collected) -> list[str]:
    return [f"flow run {r.name} ({r.id}) {_STOPPED[r.state]} ({r.state_name}): what it would have done after "
            "that point is not in this report" for r in found.runs if r.state in _STOPPED]


def _human_steps(found: Collected) -> Counter[str]:
    return Counter(r["record"].get("owner", "") for r in found.records("checklist.item") if r["record"].get("owner"))
