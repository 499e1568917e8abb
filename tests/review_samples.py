"""Post-mortems as `review.postmortem.build` makes them, for the renderers' tests: a closed product recall, the same
crisis still under way, and a crisis where nothing could be collected. Deterministic: fixed times, a seeded
generator. Figure keys, labels, packs (hashes) and timeline titles follow `review/figures.py` and
`review/postmortem.py`; the texts people typed are French, as in the product.

The recall (Laiterie Duval, yaourts nature lot L2403): 10 hours of 5-minute windows from 06:00 UTC; the rise starts
07:40, the alert 08:05, the peak near 09:40, the all-clear 15:00; sentiment sinks to about −0.65 and is back in its
usual band by the evening.
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import UTC, date, datetime, timedelta

from crisiscomms.review.model import (
    Action,
    ApprovalWait,
    Crisis,
    Event,
    Figure,
    Lessons,
    Marker,
    PostMortem,
    RunSeen,
    Sent,
    WindowPoint,
)

START = datetime(2025, 3, 14, 6, 0, tzinfo=UTC)
WINDOWS = 120
ALERT = START + timedelta(hours=2, minutes=5)
ALL_CLEAR = START + timedelta(hours=9)
CRISIS_ID = "rappel-produit-20250314-1"
SHA = hashlib.sha256(b"playbooks/rappel-produit.yaml").hexdigest()
PACK, CORRECTION, UPDATE, FIN = (hashlib.sha256(name.encode()).hexdigest()
                                 for name in ("messages", "correction", "point", "fin"))
RUN_IDS = {name: f"{i:08x}-5c1e-4d2a-9b7f-0000000000{i:02d}" for i, name in enumerate(
    ("monitor", "assessment", "communication", "approval", "correction", "review"), start=1)}


def at(hhmm: str, day: int = 14, month: int = 3) -> datetime:
    hours, minutes = hhmm.split(":")
    return datetime(2025, month, day, int(hours), int(minutes), tzinfo=UTC)


def _volume(minutes: float, rng: random.Random) -> int:
    """About 10 mentions per window, a rise from 07:40 to a peak near 09:45, then a slow decline."""
    if minutes < 100:
        return max(0, 10 + rng.randint(-3, 3))
    peak = 175 * math.exp(-(((minutes - 225) / 70) ** 2)) if minutes < 225 else 175 * math.exp(-(minutes - 225) / 110)
    return int(10 + peak + rng.randint(-6, 6))


def _sentiment(minutes: float, rng: random.Random) -> float:
    """About −0.05 before, down to −0.65 after the peak, back in its band after the all-clear. The first mentions
    relay the recall notice (neutral): anger starts with the alert, not with the rise."""
    onset = min(1.0, max(0.0, (minutes - 115) / 45))
    dip = 0.57 * onset * math.exp(-(((minutes - 250) / 190) ** 2))
    return round(-0.05 - dip + rng.uniform(-0.06, 0.06), 3)


def windows(count: int = WINDOWS, closed: datetime | None = ALL_CLEAR) -> list[WindowPoint]:
    """Periods as `postmortem.windows` sets them: before the onset of the rise, during, after the all-clear."""
    rng, onset = random.Random(20250314), at("07:40")
    points = []
    for i in range(count):
        start = START + timedelta(minutes=5 * i)
        volume = 0 if i == 7 else _volume(5 * i, rng)  # 06:35: the source was quiet, nothing to analyse
        period = "before" if start < onset else "after" if closed and start >= closed else "during"
        points.append(WindowPoint(start=start, volume=volume, period=period,  # type: ignore[arg-type]
                                  sentiment=None if volume == 0 else _sentiment(5 * i, rng)))
    return points


def markers(closed: bool = True) -> list[Marker]:
    found = [
        Marker(at=ALERT, kind="alert", label="Alerte : hausse des mentions"),
        Marker(at=at("08:52"), kind="statement", label="Déclaration d'attente"),
        Marker(at=at("09:41"), kind="statement", label="Communiqué de presse"),
        Marker(at=at("11:04"), kind="update", label="Point d'étape distributeurs"),
        Marker(at=at("12:16"), kind="correction", label="Correction : « lot contaminé à la listeria » est faux"),
        Marker(at=at("13:30"), kind="update", label="Point d'étape n° 2"),
    ]
    return [*found, Marker(at=ALL_CLEAR, kind="all_clear", label="Fin d'alerte")] if closed else found


def approvals() -> list[ApprovalWait]:
    """Two stages for the messages (stage 2: either of two roles), one for the correction."""
    def wait(pack: str, stage: int, role: str, who: str, opened: str, decided: str | None) -> ApprovalWait:
        seconds = (at(decided) - at(opened)).total_seconds() if decided else None
        return ApprovalWait(pack=pack, stage=stage, role=role, approver=who, opened_at=at(opened),
                            decided_at=at(decided) if decided else None, decision="approve" if decided else None,
                            seconds=seconds)

    return [wait(PACK, 1, "juridique", "Sophie Lefèvre", "08:20", "08:42"),
            wait(PACK, 2, "direction_communication", "Claire Martin", "08:42", "08:50"),
            wait(PACK, 2, "direction_generale", "Hélène Duval", "08:42", None),
            wait(CORRECTION, 1, "direction_communication", "Claire Martin", "12:02", "12:14")]


def sent() -> list[Sent]:
    """Eight sends on four channels, one per audience: one failed (retried later), one in doubt."""
    def message(hhmm: str | None, kind: str, audience: str, channel: str, status: str, pack: str = PACK) -> Sent:
        receipt = "" if status in ("failed", "in_doubt") else f"{channel}-{(hhmm or '').replace(':', '')}"
        return Sent(at=at(hhmm) if hhmm else None, kind=kind, audience=audience, channel=channel, language="fr",
                    status=status, pack=pack, key=f"{pack[:16]}/{kind}/{audience}/{channel}/fr", receipt=receipt)

    return [message("08:52", "holding_statement", "clients", "site_web", "sent"),
            message("09:41", "press_release", "journalistes", "communique_presse", "sent"),
            message("09:43", "internal_memo", "salaries", "intranet", "sent"),
            message(None, "update", "distributeurs", "email_partenaires", "failed"),
            message("11:04", "update", "distributeurs", "email_partenaires", "sent", UPDATE),
            message("12:16", "correction", "clients", "site_web", "in_doubt", CORRECTION),
            message("12:16", "correction", "journalistes", "communique_presse", "sent", CORRECTION),
            message("15:00", "all_clear", "clients", "site_web", "sent", FIN)]


def timeline(closed: bool = True) -> list[Event]:
    def event(hhmm: str, kind: str, title: str, source: str, run: str | None = None, day: int = 14) -> Event:
        return Event(at=at(hhmm, day), kind=kind, title=title, source=source,  # type: ignore[arg-type]
                     run=RUN_IDS[run] if run else None)

    events = [
        event("07:40", "signal", "First signal: mentions rise above the baseline", "monitoring"),
        event("08:05", "alert", "Monitoring alert alert (volume): 61 mentions in the window from "
              "2025-03-14T08:00:00+00:00 (baseline 10)", "crises", "monitor"),
        event("08:12", "assessment", "Assessment: priority P1 (severity 4, urgency 5)", "journal", "assessment"),
        event("08:18", "pack", f"Pack {PACK[:12]} prepared: 4 message(s), by Julien Roche", "journal",
              "communication"),
        event("08:20", "approval_requested", "Approval stage 1/2 (juridique) asked of Sophie Lefèvre", "approvals",
              "approval"),
        event("08:42", "approval_decision", f"Sophie Lefèvre (juridique) — approve at stage 1 (pack {PACK[:12]}, "
              "via ui)", "approvals"),
        event("08:42", "approval_requested", "Approval stage 2/2 (direction_communication, direction_generale) "
              "asked of Claire Martin, Hélène Duval", "approvals", "approval"),
        event("08:50", "approval_decision", f"Claire Martin (direction_communication) — approve at stage 2 (pack "
              f"{PACK[:12]}, via page)", "approvals"),
        event("08:50", "approval_outcome", f"Pack {PACK[:12]}: approved (priority P1)", "journal", "approval"),
        event("08:52", "release", "holding_statement to clients on site_web (fr): sent", "outbox"),
        event("09:41", "release", "press_release to journalistes on communique_presse (fr): sent", "outbox"),
        event("09:43", "release", "internal_memo to salaries on intranet (fr): sent", "outbox"),
        event("10:15", "halt", "Kill switch ON by Claire Martin: vérifier le numéro de lot avant tout envoi",
              "killswitch"),
        event("10:31", "halt", "Kill switch lifted by Claire Martin", "killswitch"),
        event("11:00", "update_due", "Update promised for this time: kept late (given 2025-03-14T11:04:00+00:00)",
              "cadence", "communication"),
        event("11:04", "release", "update to distributeurs on email_partenaires (fr): sent", "outbox"),
        event("11:48", "claim", "False claim measured: « Le lot L2403 est contaminé à la listeria » "
              "(212 mention(s))", "journal", "correction"),
        event("12:02", "approval_requested", "Approval stage 1/1 (direction_communication) asked of Claire Martin",
              "approvals", "correction"),
        event("12:14", "approval_decision", f"Claire Martin (direction_communication) — approve at stage 1 (pack "
              f"{CORRECTION[:12]}, via ui)", "approvals"),
        event("12:14", "approval_outcome", f"Pack {CORRECTION[:12]}: approved (priority P1)", "journal",
              "correction"),
        event("12:16", "release", "correction to clients on site_web (fr): in_doubt", "outbox"),
        event("12:16", "release", "correction to journalistes on communique_presse (fr): sent", "outbox"),
        event("12:16", "correction", "Correction released for « Le lot L2403 est contaminé à la listeria »",
              "journal", "correction"),
        event("12:40", "run", "Flow run rappel-produit-correction crashed (Crashed)",
              f"prefect:flow-run {RUN_IDS['correction']}", "correction"),
        event("13:00", "update_due", "Update promised for this time: kept on time (given "
              "2025-03-14T12:58:00+00:00)", "cadence", "communication"),
        event("14:00", "update_due", "Update promised for this time: MISSED", "cadence", "communication"),
    ]
    if not closed:
        return events
    return [*events,
            event("15:00", "release", "all_clear to clients on site_web (fr): sent", "outbox"),
            event("15:00", "all_clear", "All-clear released: the crisis is closed", "crises"),
            event("10:30", "lessons", "Lessons learned answered by Claire Martin (2 action(s))", "crises", day=17)]


def runs(closed: bool = True) -> list[RunSeen]:
    def run(name: str, state: str, started: str, ended: str | None, tasks: int, failed: int = 0,
            warnings: int = 0, day: int = 14) -> RunSeen:
        return RunSeen(id=RUN_IDS[name], name=f"rappel-produit-{name}", flow=f"crisis-{name}", state=state,
                       state_name=state.title(), started=at(started, day), ended=at(ended, day) if ended else None,
                       tags=[f"crisis:{CRISIS_ID}"], task_runs=tasks, failed_task_runs=failed, warnings=warnings,
                       artifacts=[f"rappel-produit-{name}"])

    seen = [run("monitor", "COMPLETED", "08:00", "08:06", 12, warnings=1),
            run("assessment", "COMPLETED", "08:06", "08:13", 9),
            run("communication", "COMPLETED", "08:13", "15:01", 41, failed=1, warnings=3),
            run("approval", "COMPLETED", "08:19", "08:51", 6),
            run("correction", "CRASHED", "12:01", "12:40", 7, failed=2, warnings=2)]
    if closed:
        return [*seen, run("review", "COMPLETED", "10:31", "10:32", 5, day=17)]
    return [*seen, run("review", "RUNNING", "11:29", None, 2)]


def _figure(key: str, label: str, group: str, value: float | int | str | None = None, unit: str = "count",
            missing: str | None = None) -> Figure:
    return Figure(key=key, label=label, group=group, value=value, unit=unit, missing=missing)  # type: ignore[arg-type]


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4)


def sentiment_figures(points: list[WindowPoint], returned: float | None, why: str = "") -> list[Figure]:
    """Mean volume and sentiment per period, as `figures.sentiment` computes them from the same windows."""
    out = []
    for period in ("before", "during", "after"):
        rows = [w for w in points if w.period == period]
        scores = [w.sentiment for w in rows if w.sentiment is not None]
        none = f"no monitoring window {period} the crisis"
        out += [_figure(f"volume_{period}", f"Mean volume per window {period}", "sentiment",
                        _mean([w.volume for w in rows]) if rows else None, missing=None if rows else none),
                _figure(f"sentiment_{period}", f"Mean sentiment {period}", "sentiment",
                        _mean(scores) if scores else None, "score", None if scores else none)]
    return [*out, _figure("sentiment_return", "Time for sentiment to return to its pre-crisis band (from the crisis "
                          "start)", "sentiment", returned, "seconds", why or None)]


NEVER_ANSWERED = "did not answer (the stage was decided by others, or timed out)"


def figures(closed: bool = True) -> list[Figure]:
    """One or more figures of every group; a few missing, each with its reason."""
    lasted = (ALL_CLEAR - ALERT) if closed else (at("11:30") - ALERT)
    points = windows() if closed else windows(66, None)
    returned = "sentiment has not come back to its band (-0.14 … 0.06) for 3 windows in a row in the data so far"
    return [
        _figure("duration", "Total duration" if closed else "Duration so far (crisis under way)", "detection",
                lasted.total_seconds(), "seconds"),
        _figure("onset", "Onset of the rise", "detection", at("07:40").isoformat(), "text"),
        _figure("time_to_detect", "Time to detect (onset → alert)", "detection", 1500.0, "seconds"),
        _figure("time_to_first_statement", "Time to first holding statement", "statements", 2820.0, "seconds"),
        _figure("pack_to_release", "Pack to release (first pack)", "statements", 2040.0, "seconds"),
        _figure("approval_wait.p1.s1.sophie_lefevre", "Approval wait, pack 1, stage 1: Sophie Lefèvre (juridique)",
                "approvals", 1320.0, "seconds"),
        _figure("approval_wait.p1.s2.claire_martin", "Approval wait, pack 1, stage 2: Claire Martin "
                "(direction_communication)", "approvals", 480.0, "seconds"),
        _figure("approval_wait.p1.s2.helene_duval", "Approval wait, pack 1, stage 2: Hélène Duval "
                "(direction_generale)", "approvals", unit="seconds", missing=NEVER_ANSWERED),
        _figure("approval_stage.p1.s1", "Stage 1 of pack 1, opened → decided", "approvals", 1320.0, "seconds"),
        _figure("approval_stage.p1.s2", "Stage 2 of pack 1, opened → decided", "approvals", 480.0, "seconds"),
        _figure("updates_promised", "Updates promised", "cadence", 3 if closed else 1),
        _figure("updates_on_time", "Updates kept on time", "cadence", 1 if closed else 0),
        _figure("updates_late", "Updates kept late", "cadence", 1),
        _figure("updates_missed", "Updates missed", "cadence", 1 if closed else 0),
        _figure("messages_sent", "Messages sent", "messages", 6 if closed else 3),
        _figure("sends_failed", "Sends failed", "messages", 1),
        _figure("sends_in_doubt", "Sends in doubt", "messages", 1 if closed else 0),
        _figure("sends_delivered_share", "Share of sends delivered", "messages", 0.75, "share"),
        _figure("messages.clients.site_web", "Messages to clients on site_web", "messages", 2 if closed else 1),
        _figure("messages.journalistes.communique_presse", "Messages to journalistes on communique_presse",
                "messages", 2 if closed else 1),
        *sentiment_figures(points, 23100.0 if closed else None, "" if closed else returned),
        _figure("claim.listeria.before", "« Le lot L2403 est contaminé à la listeria » before the correction "
                "(mentions)", "claims", 212 if closed else 188),
        _figure("claim.listeria.since", "« Le lot L2403 est contaminé à la listeria » since the correction "
                "(mentions)", "claims", 38 if closed else None,
                missing=None if closed else "no correction released yet"),
        _figure("claim.lait-cru.before", "« Le lait utilisé était cru » before the correction (mentions)", "claims",
                17),
        _figure("claim.lait-cru.since", "« Le lait utilisé était cru » since the correction (mentions)", "claims",
                missing="the correction went out after the last monitoring window"),
        _figure("effort.juridique", "Hours waited on juridique (approvals)", "effort", 0.367),
        _figure("effort.direction_communication", "Hours waited on direction_communication (approvals)",
                "effort", 0.333),
        _figure("effort.direction_generale", "Hours waited on direction_generale (approvals)", "effort",
                missing="never answered: no wait to count"),
        _figure("human_steps.porte_parole", "Checklist items for porte_parole", "effort", 3),
        _figure("cost_total", "Estimated cost (EUR)", "effort", 1412.5, "money"),
        _figure("cost_unpriced", "Roles without an hourly rate", "effort", "direction_communication", "text"),
    ]


def lessons() -> Lessons:
    return Lessons(
        answered_by="Claire Martin", at=at("10:30", day=17),
        answers={
            "Le premier signal a-t-il été vu assez tôt ?": "Oui : l'alerte est partie 25 min après le début de la "
            "hausse. La veille de nuit n'aurait rien changé.",
            "Les validations ont-elles tenu les délais ?": "En partie : la direction générale n'a jamais répondu à "
            "l'étape 2 ; l'approbation de Claire Martin a suffi.",
            "Qu'aurait-il fallu dire plus tôt ?": "Le numéro de lot (L2403) et les dates limites, dès la "
            "déclaration d'attente.",
        },
        worked="La déclaration d'attente 47 min après l'alerte.\nLa rumeur « listeria » corrigée en 28 min.",
        not_worked="Le courriel aux distributeurs a échoué (SMTP 451) et n'est parti qu'à 11:04.\n"
                   "Le point d'étape de 14:00 a été manqué.",
        actions=[Action(what="Ajouter un second serveur d'envoi pour le courriel aux distributeurs",
                        owner="Karim Benali", due=date(2025, 4, 15)),
                 Action(what="Nommer un suppléant de la direction générale pour les validations de l'étape 2",
                        owner="Hélène Duval", due=date(2025, 3, 31))])


def crisis(closed: datetime | None = ALL_CLEAR, drill: bool = False) -> Crisis:
    return Crisis(id=CRISIS_ID, playbook="rappel-produit", title="Rappel des yaourts nature Laiterie Duval "
                  "(lot L2403)", opened_at=ALERT, opened_by="monitoring", closed_at=closed, drill=drill)


def complete_postmortem(drill: bool = False) -> PostMortem:
    """The recall, closed, with the team's lessons: every section has something to show."""
    return PostMortem(
        crisis=crisis(drill=drill), playbook_version="2025.03.2", playbook_sha256=SHA, git_revision="4c64b04",
        generated_at=at("10:32", day=17), provisional=False, timeline=timeline(), figures=figures(),
        approvals=approvals(), sent=sent(), windows=windows(), markers=markers(), runs=runs(),
        missing=[f"flow run rappel-produit-correction ({RUN_IDS['correction']}) crashed (Crashed): what it would "
                 "have done after that point is not in this report",
                 "data quality: 14 mentions of the 2025-03-14 batch quarantined (language not detected)"],
        lessons=lessons())


def provisional_postmortem() -> PostMortem:
    """The same recall at 11:30 UTC, still under way: the report so far."""
    now = at("11:30")
    return PostMortem(
        crisis=crisis(closed=None), playbook_version="2025.03.2", playbook_sha256=SHA, git_revision="4c64b04",
        generated_at=now, provisional=True, timeline=[e for e in timeline(closed=False) if e.at <= now],
        figures=figures(closed=False), approvals=[a for a in approvals() if a.opened_at <= now],
        sent=[s for s in sent() if s.at is None or s.at <= now], windows=windows(66, closed=None),
        markers=[m for m in markers(closed=False) if m.at <= now],
        runs=[r for r in runs(closed=False) if r.started and r.started <= now],
        missing=["the crisis is still under way (no all-clear released): this report is PROVISIONAL, the figures "
                 "are those so far"])


def empty_postmortem() -> PostMortem:
    """A crisis opened by hand and closed an hour later: no window, no release, no approval, no run."""
    opened, closed = at("08:00", day=2, month=4), at("09:00", day=2, month=4)
    none = "no monitoring data around the crisis (monitoring off, or its store was reset)"
    return PostMortem(
        crisis=Crisis(id="rappel-produit-20250402-1", playbook="rappel-produit", title="Question d'un journaliste "
                      "sur l'usine de Vire", opened_at=opened, opened_by="Claire Martin", closed_at=closed),
        playbook_version="2025.03.2", playbook_sha256=SHA, git_revision=None, generated_at=closed + timedelta(
            minutes=5), provisional=False, timeline=[], approvals=[], sent=[], windows=[], markers=[], runs=[],
        figures=[
            _figure("time_to_detect", "Time to detect", "detection", unit="seconds",
                    missing="no monitoring alert opened this crisis (it was started by hand)"),
            _figure("time_to_first_statement", "Time to first holding statement", "statements", unit="seconds",
                    missing="no message was released in this crisis"),
            _figure("pack_to_release", "Pack to release", "statements", unit="seconds",
                    missing="no message was released in this crisis"),
            _figure("approval_wait", "Approval wait", "approvals", unit="seconds",
                    missing="no approval was requested in this crisis"),
            _figure("updates_promised", "Updates promised", "cadence", missing="no release promised a next update "
                    "(nothing was released, or no next update time)"),
            _figure("volume_during", "Volume during (per window)", "sentiment", missing=none),
            _figure("sentiment_return", "Time for sentiment to return", "sentiment", unit="seconds", missing=none),
            _figure("cost_total", "Estimated cost", "effort", unit="money", missing="no approval time was recorded"),
        ],
        missing=["no flow run of this crisis was found on the Prefect API (runs deleted by a retention policy, or "
                 "another server)", "monitoring: the playbook's sources were off, no window was collected"])
