"""The post-mortem's figures and timeline, from a scripted crisis whose every number is known in advance, and
what the report says when a piece is missing. `Collected` is built by hand (no store, no Prefect) except in the
last tests, where `collect` reads real rows written through the stores' own APIs.

The script (14 March 2025, UTC, 5-minute windows from 07:00, baseline 10 mentions a window):
    07:00–07:35 10 mentions a window, sentiment ±0.1 (band: 0 ± 0.2)
    07:40       the rise begins (20)                                    ← onset
    07:50       a `watch` alert (no crisis)
    08:00       the alert's window (100); the alert at 08:05 opens the crisis
    08:05       the peak (200); sentiment −0.5 until 08:20, 0.0 at 08:25, −0.5 at 08:30, back in the band from 08:35
    08:10 assessment · 08:15 pack A · 08:20 stage 1 (juridique) · 08:42 Sophie approves, stage 2 opens
    08:50 Claire approves (Hélène never answers) · 08:52 holding statement · 08:53 press release, memo failed
    08:54 a webhook send in doubt · 08:56 pack C (all-clear) · 08:58 / 08:59 Claire, Marc approve · 09:00 all-clear
    report made at 11:00
"""

from __future__ import annotations

import tracemalloc
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crisiscomms import clock
from crisiscomms.communication import cadence
from crisiscomms.communication.approval import ApprovalStore, StageRecord
from crisiscomms.communication.cadence import Promise
from crisiscomms.communication.release import Outbox
from crisiscomms.mention import EnrichedMention
from crisiscomms.monitoring.store import open_store, state_dir
from crisiscomms.playbook.models import Playbook
from crisiscomms.review import crises
from crisiscomms.review.collect import Collected, Window, collect
from crisiscomms.review.model import Crisis, PostMortem, RunSeen
from crisiscomms.review.postmortem import build

DAY = datetime(2025, 3, 14, tzinfo=UTC)
PB = "rappel-produit"
CRISIS_ID = f"{PB}-20250314-1"
A, C, OTHER = "a" * 64, "c" * 64, "f" * 64
RUN_MONITOR, RUN_ASSESS, RUN_COMM, RUN_END = "run-monitor", "run-assess", "run-comm", "run-end"
IDENTITY = {"version": "1.2.0", "sha256": "9" * 64, "git": "abc123"}


def unreached(missing: list[str]) -> list[str]:
    return [line for line in missing if "received NONE" in line]


def own(missing: list[str]) -> list[str]:
    """What is missing besides the audiences the scripted crisis never reached (checked once, below)."""
    return [line for line in missing if "received NONE" not in line]


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return DAY.replace(hour=int(hours), minute=int(minutes))


def iso(hhmm: str) -> str:
    return at(hhmm).isoformat()


OPENED, CLOSED, NOW = at("08:05"), at("09:00"), at("11:00")


def playbook() -> Playbook:
    team = {"juridique": {"title": "Juridique", "members": [{"name": "Sophie Lefèvre"}], "hourly_rate": 120},
            "direction_communication": {"title": "Direction de la communication", "hourly_rate": 90,
                                        "members": [{"name": "Claire Martin"}]},
            "direction_generale": {"title": "Direction générale",  # no hourly rate
                                   "members": [{"name": "Hélène Duval"}, {"name": "Marc Dubois"}]}}
    return Playbook.model_validate({"id": PB, "version": "1.2.0", "title": "Rappel produit", "phases": {},
                                    "team": team})


# ── the script ───────────────────────────────────────────────────────────────────────────────────────────────

VOLUMES = [10] * 8 + [20, 40, 60, 80, 100, 200, 150, 100, 80, 60, 40, 30, 20, 15, 12, 12] + [10, 10, 10, 10, 0, 10]
SENTIMENT = ([0.1, -0.1] * 4 + [-0.5] * 9 + [0.0, -0.5] + [0.0] * 5 + [0.1, -0.1, 0.1, -0.1, None, 0.1])


def script_windows() -> list[Window]:
    """30 windows 07:00–09:25; sentiment as (sum, analysed) so that the mean is the scripted score."""
    return [Window(at("07:00") + timedelta(minutes=5 * i), volume,
                   0.0 if score is None else score * volume, 0 if score is None else volume)
            for i, (volume, score) in enumerate(zip(VOLUMES, SENTIMENT, strict=True))]


def alert_row(hhmm: str, level: str, window: str, crisis: str | None, volume: int) -> dict[str, Any]:
    return {"at": iso(hhmm), "crisis": crisis, "run_id": RUN_MONITOR, "level": level, "kind": "volume",
            "window_start": iso(window), "window_end": (at(window) + timedelta(minutes=5)).isoformat(),
            "baseline": 10.0, "volume": volume}


def step(hhmm: str, run: str, phase: str, name: str, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": run, "phase": phase, "step": name, "type": kind, "at": iso(hhmm), "record": record}


def decision(stage: int, name: str, role: str, hhmm: str, via: str = "ui", **extra: Any) -> dict[str, Any]:
    return {"stage": stage, "name": name, "role": role, "decision": "approve", "at": iso(hhmm), "via": via,
            "comment": "", **extra}


SOPHIE = decision(1, "Sophie Lefèvre", "juridique", "08:42")
CLAIRE_A = decision(2, "Claire Martin", "direction_communication", "08:50", via="link")
CLAIRE_C = decision(1, "Claire Martin", "direction_communication", "08:58")
MARC_C = decision(1, "Marc Dubois", "direction_generale", "08:59")


def script_journal() -> list[dict[str, Any]]:
    return [
        step("08:10", RUN_ASSESS, "assessment", "score", "assessment.run",
             {"priority": "P1", "severity": 4, "urgency": 5}),
        step("08:12", RUN_ASSESS, "preparation", "call_legal", "checklist.item", {"owner": "juridique"}),
        step("08:13", RUN_COMM, "communication", "brief_team", "checklist.item", {"owner": "direction_communication"}),
        step("08:14", RUN_COMM, "communication", "call_press", "checklist.item", {"owner": "direction_communication"}),
        step("08:15", RUN_COMM, "communication", "messages", "message.pack",
             {"hash": A, "variants": ["v1", "v2", "v3", "v4"], "path": "/gone/a.json", "author": "Julien Roche"}),
        step("08:50", RUN_COMM, "communication", "approval", "message.approve",
             {"hash": A, "decision": "approved", "priority": "P1", "decisions": [SOPHIE, CLAIRE_A]}),
        step("08:56", RUN_END, "communication", "fin", "message.pack",
             {"hash": C, "variants": ["v1"], "path": "/gone/c.json", "author": "Julien Roche"}),
        step("08:58", RUN_END, "communication", "fin_approval", "message.approve",
             {"hash": C, "decision": "approved", "priority": "P1",
              "decisions": [CLAIRE_C, {**MARC_C, "at": iso("08:58"), "refused": "not yet"}, MARC_C]}),
    ]


def stage(run: str, digest: str, number: int, of: int, roles: list[str], people: list[tuple[str, str]],
          opened: str, decisions: list[dict[str, Any]]) -> StageRecord:
    return StageRecord(stage_id=f"{run}/approval/1/{number}", run_id=run, playbook=PB, title="Rappel",
                       step="approval", number=number, of=of, roles=roles,
                       approvers=[{"name": n, "role": r, "email": None, "notify": None} for n, r in people],
                       hash=digest, pack_path=f"/gone/{digest[:1]}.json", opened_at=iso(opened),
                       deadline=(at(opened) + timedelta(hours=1)).isoformat(), via=["ui", "link"], drill=False,
                       decisions=decisions)


def script_stages() -> list[tuple[StageRecord, str]]:
    return [
        (stage(RUN_COMM, A, 1, 2, ["juridique"], [("Sophie Lefèvre", "juridique")], "08:20", [SOPHIE]), "approved"),
        (stage(RUN_COMM, A, 2, 2, ["direction_communication", "direction_generale"],
               [("Claire Martin", "direction_communication"), ("Hélène Duval", "direction_generale")], "08:42",
               [SOPHIE, CLAIRE_A]), "approved"),
        (stage(RUN_END, C, 1, 1, ["direction_communication", "direction_generale"],
               [("Claire Martin", "direction_communication"), ("Marc Dubois", "direction_generale")], "08:56",
               [CLAIRE_C, MARC_C]), "approved"),
    ]


def outbox_row(digest: str, message: str, status: str, hhmm: str, receipt: str | None = "ok") -> dict[str, Any]:
    return {"key": f"{digest[:8]}-{message}", "playbook": PB, "pack": digest, "message": message,
            "channel": message.split("/")[2], "status": status, "attempts": 1, "receipt": receipt, "at": iso(hhmm)}


def script_outbox() -> list[dict[str, Any]]:
    return [outbox_row(A, "holding_statement/clients/site_web/fr", "sent", "08:52"),
            outbox_row(A, "press_release/journalistes/email_presse/fr", "sent", "08:53"),
            outbox_row(A, "internal_memo/salaries/intranet/fr", "failed", "08:53", "refused"),
            outbox_row(A, "press_release/journalistes/webhook_agence/fr", "sending", "08:54", None),
            outbox_row(C, "all_clear/clients/site_web/fr", "sent", "09:00")]


def promise(ident: int, pack: str, promised: str, released: str, fulfilled: str | None = None,
            missed: str | None = None) -> Promise:
    return Promise(id=ident, playbook=PB, run_id=RUN_COMM, pack=pack, promised=iso(promised), released_at=iso(released),
                   drill=False, fulfilled_at=iso(fulfilled) if fulfilled else None,
                   missed_at=iso(missed) if missed else None)


def script_promises() -> list[Promise]:
    return [promise(1, A, "09:30", "08:52", fulfilled="09:00"),  # kept on time
            promise(2, "b" * 64, "08:58", "08:53", fulfilled="09:00"),  # kept late
            promise(3, C, "10:00", "09:00", missed="10:05"),  # missed (the reminder found it)
            promise(4, "d" * 64, "10:30", "09:00"),  # overdue: missed all the same
            promise(5, "e" * 64, "12:00", "09:00")]  # not due yet


def script_runs() -> list[RunSeen]:
    return [RunSeen(id=run, name=f"{PB}-{run}", flow="playbook", state="COMPLETED", state_name="Completed",
                    started=at("08:05"), ended=at("09:00")) for run in (RUN_MONITOR, RUN_ASSESS, RUN_COMM, RUN_END)]


def scripted(**changes: Any) -> Collected:
    crisis = Crisis(id=CRISIS_ID, playbook=PB, title="Rappel yaourts", opened_at=OPENED, opened_by="monitoring",
                    closed_at=CLOSED)
    found = Collected(
        crisis=crisis, now=NOW, runs=script_runs(), journal=script_journal(),
        alerts=[alert_row("07:50", "watch", "07:45", None, 40), alert_row("08:05", "alert", "08:00", CRISIS_ID, 100)],
        stages=script_stages(), outbox=script_outbox(), promises=script_promises(), halts=[], claims=[],
        windows=script_windows(), window_seconds=300, quality=[], lessons=None,
        packs={A: {"created_at": iso("08:15"), "drill": False, "step": "messages"},
               C: {"created_at": iso("08:56"), "drill": False, "step": "fin"}})
    for name, value in changes.items():
        setattr(found, name, value)
    return found


def empty(crisis: Crisis | None = None, **changes: Any) -> Collected:
    found = Collected(crisis=crisis or Crisis(id="x-20250314-1", playbook=PB, title="À la main", opened_at=OPENED,
                                              opened_by="Claire Martin", closed_at=CLOSED),
                      now=NOW, runs=[], journal=[], alerts=[], stages=[], outbox=[], promises=[], halts=[],
                      claims=[], windows=[], window_seconds=0, quality=[], lessons=None)
    for name, value in changes.items():
        setattr(found, name, value)
    return found


def report(found: Collected) -> PostMortem:
    return build(found, playbook(), IDENTITY, "EUR")


def values(pm: PostMortem, prefix: str) -> dict[str, Any]:
    return {f.key: f.value for f in pm.figures if f.key.startswith(prefix)}


# ── figures of the scripted crisis ───────────────────────────────────────────────────────────────────────────

def test_time_to_detect_runs_from_the_onset_of_the_rise_to_the_alert() -> None:
    pm = report(scripted())
    assert pm.figure("onset").value == iso("07:40")  # 07:35 sits at the baseline (10): not above it
    assert pm.figure("time_to_detect").value == 25 * 60
    assert pm.figure("time_to_detect").missing is None
    assert pm.figure("duration").value == 55 * 60 and pm.figure("duration").label == "Total duration"


def test_a_watch_before_the_crisis_is_not_its_start() -> None:
    """The crisis starts at its first alert of level alert/crisis, not at the watch of 07:50."""
    pm = report(scripted())
    assert pm.figure("time_to_first_statement").value == (at("08:52") - at("08:05")).total_seconds()


def test_time_to_first_statement_and_pack_to_release() -> None:
    pm = report(scripted())
    first = pm.figure("time_to_first_statement")
    assert (first.value, first.label) == (47 * 60, "Time to first holding statement")
    assert pm.figure("pack_to_release").value == 37 * 60  # pack A made 08:15, its first message 08:52


def test_without_a_holding_statement_the_first_message_of_any_kind_counts() -> None:
    outbox = [row for row in script_outbox() if not row["message"].startswith("holding_statement")]
    pm = report(scripted(outbox=outbox))
    first = pm.figure("time_to_first_statement")
    assert (first.value, first.label) == (48 * 60, "Time to first statement (press_release)")
    assert pm.figure("pack_to_release").value == 38 * 60


def test_approval_wait_per_approver_and_per_stage() -> None:
    pm = report(scripted())
    assert values(pm, "approval_wait.") == {
        "approval_wait.p1.s1.sophie_lefevre": 22 * 60,
        "approval_wait.p1.s2.claire_martin": 8 * 60,
        "approval_wait.p1.s2.helene_duval": None,
        "approval_wait.p2.s1.claire_martin": 2 * 60,
        "approval_wait.p2.s1.marc_dubois": 3 * 60}  # his refused answer of 08:58 does not count
    assert values(pm, "approval_stage.") == {"approval_stage.p1.s1": 22 * 60, "approval_stage.p1.s2": 8 * 60,
                                             "approval_stage.p2.s1": 3 * 60}
    assert pm.figure("approval_wait.p1.s2.helene_duval").missing == (
        "did not answer (the stage was decided by others, or timed out)")
    assert [(w.approver, w.decision, w.seconds) for w in pm.approvals] == [
        ("Sophie Lefèvre", "approve", 1320), ("Claire Martin", "approve", 480), ("Hélène Duval", None, None),
        ("Claire Martin", "approve", 120), ("Marc Dubois", "approve", 180)]


def test_updates_kept_late_missed_and_open() -> None:
    pm = report(scripted())
    assert values(pm, "updates_") == {"updates_promised": 5, "updates_on_time": 1, "updates_late": 1,
                                      "updates_missed": 2, "updates_open": 1}


def test_messages_per_audience_and_channel_failed_and_in_doubt() -> None:
    pm = report(scripted())
    assert values(pm, "messages") == {"messages_sent": 3, "messages.clients.site_web": 2,
                                      "messages.journalistes.email_presse": 1}
    assert pm.figure("sends_failed").value == 1
    assert pm.figure("sends_in_doubt").value == 1  # the outbox row left `sending`
    assert [(m.kind, m.audience, m.channel, m.language, m.status) for m in pm.sent] == [
        ("holding_statement", "clients", "site_web", "fr", "sent"),
        ("internal_memo", "salaries", "intranet", "fr", "failed"),
        ("press_release", "journalistes", "email_presse", "fr", "sent"),
        ("press_release", "journalistes", "webhook_agence", "fr", "in_doubt"),
        ("all_clear", "clients", "site_web", "fr", "sent")]
    assert pm.sent[3].receipt == ""


def test_volume_and_sentiment_before_during_and_after() -> None:
    pm = report(scripted())
    assert values(pm, "volume_") == {"volume_before": 10.0, "volume_during": 63.6875, "volume_after": 8.3333}
    assert values(pm, "sentiment_") == pytest.approx({"sentiment_before": 0.0, "sentiment_during": -0.3125,
                                                      "sentiment_after": 0.02, "sentiment_return": 30 * 60})
    assert Counter(w.period for w in pm.windows) == {"before": 8, "during": 16, "after": 6}
    assert [w.period for w in pm.windows[7:9]] == ["before", "during"]  # 07:35 before, 07:40 (the onset) during
    assert pm.windows[28].sentiment is None and pm.windows[28].volume == 0


def test_sentiment_returns_at_the_first_of_three_windows_in_a_row_in_the_band_after_the_peak() -> None:
    """08:25 is in the band but 08:30 is not: the return is 08:35, 30 minutes after the 08:05 alert."""
    pm = report(scripted())
    assert pm.figure("sentiment_return").value == 30 * 60
    stuck = [replace(w, sentiment_sum=-0.5 * w.volume) if w.start >= at("08:05") else w for w in script_windows()]
    missing = report(scripted(windows=stuck)).figure("sentiment_return")
    assert missing.value is None
    assert missing.missing == ("sentiment has not come back to its band (-0.20 … 0.20) for 3 windows in a row in "
                               "the data so far")


def test_no_band_without_two_analysed_windows_before_the_crisis() -> None:
    windows = [w if w.start >= at("07:35") else replace(w, sentiment_sum=0.0, analysed=0) for w in script_windows()]
    figure = report(scripted(windows=windows)).figure("sentiment_return")
    assert figure.missing == "fewer than 2 analysed windows before the crisis: no pre-crisis band"


def test_effort_hours_by_role_and_cost_with_the_rates() -> None:
    pm = report(scripted())
    assert values(pm, "effort.") == {"effort.direction_communication": round(600 / 3600, 3),
                                     "effort.direction_generale": round(180 / 3600, 3),
                                     "effort.juridique": round(1320 / 3600, 3)}
    assert pm.figure("cost_total").value == 59.0  # 22 min × 120 + 10 min × 90
    assert pm.figure("cost_total").label == "Estimated cost (EUR)"
    assert pm.figure("cost_unpriced").value == "direction_generale"
    assert values(pm, "human_steps.") == {"human_steps.direction_communication": 2, "human_steps.juridique": 1}


def test_the_report_carries_the_playbook_identity_and_is_final_once_closed() -> None:
    pm = report(scripted())
    assert (pm.playbook_version, pm.playbook_sha256, pm.git_revision) == ("1.2.0", "9" * 64, "abc123")
    assert pm.generated_at == NOW and not pm.provisional and own(pm.missing) == []


def test_every_figure_has_a_value_or_says_why_not() -> None:
    for found in (scripted(), empty(), scripted(windows=[], outbox=[], stages=[], promises=[])):
        for figure in report(found).figures:
            assert (figure.value is None) == bool(figure.missing), figure


# ── the timeline and the markers ─────────────────────────────────────────────────────────────────────────────

def test_the_timeline_holds_every_event_once_in_time_order() -> None:
    pm = report(scripted())
    assert Counter(e.kind for e in pm.timeline) == {
        "signal": 1, "alert": 2, "assessment": 1, "pack": 2, "approval_requested": 3, "approval_decision": 4,
        "approval_outcome": 2, "release": 5, "update_due": 5, "all_clear": 1}
    assert [e.at for e in pm.timeline] == sorted(e.at for e in pm.timeline)
    assert pm.timeline[0].at == at("07:40") and pm.timeline[0].kind == "signal"
    assert [(e.at, e.kind) for e in pm.timeline if e.at == CLOSED] == [
        (CLOSED, "release"), (CLOSED, "all_clear")]  # at the same time, in the order things happen
    decided = [e.title for e in pm.timeline if e.kind == "approval_decision"]
    assert decided == [f"Sophie Lefèvre (juridique) — approve at stage 1 (pack {A[:12]}, via ui)",
                       f"Claire Martin (direction_communication) — approve at stage 2 (pack {A[:12]}, via link)",
                       f"Claire Martin (direction_communication) — approve at stage 1 (pack {C[:12]}, via ui)",
                       f"Marc Dubois (direction_generale) — approve at stage 1 (pack {C[:12]}, via ui)"]
    assert [e.title for e in pm.timeline if e.kind == "assessment"] == [
        "Assessment: priority P1 (severity 4, urgency 5)"]
    assert [e.title for e in pm.timeline if e.kind == "pack"] == [
        f"Pack {A[:12]} prepared: 4 message(s), by Julien Roche", f"Pack {C[:12]} prepared: 1 message(s), by "
        "Julien Roche"]
    statuses = {e.title for e in pm.timeline if e.kind == "update_due"}
    assert statuses == {"Update promised for this time: kept on time (given 2025-03-14T09:00:00+00:00)",
                        "Update promised for this time: kept late (given 2025-03-14T09:00:00+00:00)",
                        "Update promised for this time: MISSED", "Update promised for this time: not due yet"}


def test_the_markers_show_the_alert_the_statement_and_the_all_clear() -> None:
    pm = report(scripted())
    assert [(m.at, m.kind, m.label) for m in pm.markers] == [
        (at("08:05"), "alert", "alert (alert)"), (at("08:52"), "statement", "first statement"),
        (at("09:00"), "all_clear", "all-clear")]


# ── missing pieces: each named ───────────────────────────────────────────────────────────────────────────────

def test_without_a_release_the_statement_figures_say_so() -> None:
    failed = [row for row in script_outbox() if row["status"] != "sent"]
    for outbox in ([], failed):
        pm = report(scripted(outbox=outbox))
        for key in ("time_to_first_statement", "pack_to_release"):
            assert pm.figure(key).value is None
            assert pm.figure(key).missing == "no message was released in this crisis"
        assert pm.figure("messages_sent").value == 0
        assert [m.kind for m in pm.markers] == ["alert"]


def test_a_crashed_run_is_named_in_the_report_and_on_the_timeline() -> None:
    crashed = RunSeen(id="run-crash", name="rappel-produit-communication", flow="playbook", state="CRASHED",
                      state_name="Crashed", started=at("08:15"), ended=at("08:51"))
    pm = report(scripted(runs=[*script_runs(), crashed]))
    assert own(pm.missing) == ["flow run rappel-produit-communication (run-crash) crashed (Crashed): what it would have "
                          "done after that point is not in this report"]
    runs = [e for e in pm.timeline if e.kind == "run"]
    assert [(e.at, e.run, e.title) for e in runs] == [
        (at("08:51"), "run-crash", "Flow run rappel-produit-communication crashed (Crashed)")]


def test_an_unanswered_pause_names_the_approver_who_never_answered_and_the_paused_run() -> None:
    waiting = stage(RUN_END, C, 1, 1, ["direction_generale"], [("Hélène Duval", "direction_generale")], "08:56", [])
    paused = RunSeen(id=RUN_END, name="rappel-produit-fin", flow="playbook", state="PAUSED", state_name="Suspended",
                     started=at("08:56"), ended=None)
    found = scripted(stages=[*script_stages()[:2], (waiting, "open")], runs=[*script_runs()[:3], paused],
                     journal=[row for row in script_journal() if row["step"] != "fin_approval"])
    pm = report(found)
    figure = pm.figure("approval_wait.p2.s1.helene_duval")
    assert figure.value is None and figure.missing == "never answered (the stage is still open)"
    assert pm.figure("approval_stage.p2.s1").missing == "nobody answered this stage"
    assert own(pm.missing) == ["flow run rappel-produit-fin (run-end) is paused, waiting (Suspended): what it would have "
                          "done after that point is not in this report"]
    assert any(e.kind == "approval_requested" and e.title.endswith("— still open") for e in pm.timeline)
    assert [e.at for e in pm.timeline if e.kind == "run"] == [at("08:56")]  # not ended: shown when it started


def test_without_monitoring_the_detection_and_sentiment_figures_say_why() -> None:
    pm = report(scripted(windows=[], window_seconds=0))
    assert pm.figure("time_to_detect").missing == ("monitoring kept no mention around the alert (monitoring off, "
                                                   "or its store was reset)")
    for key in ("volume_during", "sentiment_return"):
        assert pm.figure(key).missing == ("no monitoring data around the crisis (monitoring off, or its store was "
                                          "reset)")
    assert pm.windows == [] and not any(e.kind == "signal" for e in pm.timeline)


def test_an_alert_whose_window_is_not_above_its_baseline_dates_no_rise() -> None:
    flat = [replace(w, volume=10) if w.start == at("08:00") else w for w in script_windows()]
    figure = report(scripted(windows=flat)).figure("time_to_detect")
    assert figure.missing == "the alert's own window is not above its baseline: no rise to date it from"


def test_a_crisis_started_by_hand_has_no_time_to_detect_and_starts_when_opened() -> None:
    found = scripted(alerts=[])
    found.crisis = found.crisis.model_copy(update={"opened_at": at("08:20"), "opened_by": "Claire Martin"})
    pm = report(found)
    assert pm.figure("time_to_detect").missing == "no monitoring alert opened this crisis (it was started by hand)"
    assert pm.figure("time_to_first_statement").value == 32 * 60  # 08:20 → 08:52


def test_a_drill_is_said_to_be_one() -> None:
    found = scripted()
    found.crisis = found.crisis.model_copy(update={"drill": True})
    assert own(report(found).missing) == ["this crisis is a DRILL: its figures are kept out of real-crisis comparisons"]


def test_a_crisis_under_way_gives_a_provisional_report() -> None:
    found = scripted()
    found.crisis = found.crisis.model_copy(update={"closed_at": None})
    pm = report(found)
    assert pm.provisional
    assert own(pm.missing) == ["the crisis is still under way (no all-clear released): this report is PROVISIONAL, the "
                          "figures are those so far"]
    assert (pm.figure("duration").value, pm.figure("duration").label) == (
        (NOW - OPENED).total_seconds(), "Duration so far (crisis under way)")
    assert pm.figure("volume_after").missing == "no monitoring window after the crisis"
    assert not any(e.kind == "all_clear" for e in pm.timeline)


def test_an_empty_collection_still_gives_a_report() -> None:
    pm = report(empty())
    assert [(e.at, e.kind) for e in pm.timeline] == [(CLOSED, "all_clear")]
    assert pm.sent == [] and pm.approvals == [] and pm.windows == [] and pm.markers == []
    assert pm.figure("time_to_detect").missing == "no monitoring alert opened this crisis (it was started by hand)"
    assert pm.figure("approval_wait").missing == "no approval was requested in this crisis"
    assert pm.figure("updates_promised").missing.startswith("no release promised a next update")
    assert pm.figure("cost_total").missing == "no approval time was recorded"
    assert pm.figure("duration").value == 55 * 60


def test_an_empty_crisis_under_way_still_gives_a_report() -> None:
    crisis = Crisis(id="x-20250314-1", playbook=PB, title="?", opened_at=OPENED, opened_by="x", drill=True)
    pm = report(empty(crisis))
    assert pm.provisional and len(pm.missing) == 2


# ── collection from the project's stores ─────────────────────────────────────────────────────────────────────

@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv(clock.CLOCK_FILE, str(tmp_path / "clock"))
    clock.set_time(tmp_path / "clock", NOW)
    return tmp_path / "project"


def mention(ident: str, moment: datetime, sentiment: float | None, text: str = "yaourt") -> EnrichedMention:
    return EnrichedMention(id=ident, created_at=moment, text=text, lang="fr", analysed=sentiment is not None,
                           sentiment=sentiment, relevance=0.9)


def pack_file(tmp_path: Path, digest: str, created: str) -> str:
    path = tmp_path / f"pack-{digest[:4]}.json"
    path.write_text(f'{{"hash": "{digest}", "created_at": "{created}", "drill": false}}', encoding="utf-8")
    return str(path)


def write_crisis(root: Path, tmp_path: Path, crisis: Crisis, run: str, digest: str, opened: datetime) -> None:
    """One crisis as its runs leave it: a pack in the journal, a stage, two outbox rows, a promise."""
    clock.set_time(tmp_path / "clock", opened)
    crises.record_step(root, crisis.id, run, "communication", "messages", "message.pack",
                       {"hash": digest, "variants": ["v1", "v2"], "path": pack_file(tmp_path, digest,
                                                                                     opened.isoformat())}, opened)
    approvals = ApprovalStore(state_dir(root))
    try:
        approvals.open_stage(replace(stage(run, digest, 1, 1, ["juridique"], [("Sophie Lefèvre", "juridique")],
                                           "08:00", []), opened_at=opened.isoformat()))
    finally:
        approvals.close()
    outbox = Outbox(state_dir(root) / "outbox.db")
    try:
        for n, message in enumerate(("holding_statement/clients/site_web/fr", "internal_memo/salaries/intranet/fr")):
            key = f"{digest[:8]}{n}"
            clock.set_time(tmp_path / "clock", opened + timedelta(minutes=30 + n))
            outbox.claim(key, crisis.playbook, digest, message, message.split("/")[2])
            assert outbox.begin_send(key)
            outbox.mark(key, "sent", f"receipt-{n}")
    finally:
        outbox.close()
    cadence.record_release(root, crisis.playbook, run, digest, opened + timedelta(hours=2),
                           opened + timedelta(minutes=30))


def raise_alert(root: Path, level: str, hhmm: str, window: str) -> str | None:
    alert = {"kind": "volume", "level": level, "window_start": iso(window),
             "window_end": (at(window) + timedelta(minutes=5)).isoformat(), "volume": 60, "baseline": 10.0}
    return crises.record_alert(root, PB, alert, RUN_MONITOR, at(hhmm))


def test_collect_finds_exactly_this_crisis_in_the_stores(root: Path, tmp_path: Path) -> None:
    earlier = crises.get(root, raise_alert(root, "alert", "05:00", "04:55") or "")
    write_crisis(root, tmp_path, earlier, "run-morning", OTHER, at("05:00"))
    crises.close(root, earlier.id, at("06:00"))
    raise_alert(root, "watch", "07:50", "07:45")
    ours = crises.get(root, raise_alert(root, "alert", "08:05", "08:00") or "")
    assert ours.id != earlier.id
    write_crisis(root, tmp_path, ours, RUN_COMM, A, OPENED)
    crises.close(root, ours.id, CLOSED)
    ours = crises.get(root, ours.id)
    store = open_store(root)
    try:
        store.commit_batch(PB, "fake", "run-monitor", [
            mention("m1", at("07:00"), 0.1), mention("m2", at("07:01"), None), mention("m3", at("08:07"), -0.5),
            mention("m4", at("08:08"), -0.3), mention("m5", at("08:09"), None), mention("m6", at("08:21"), 0.0)],
            [], {"position": 6}, 6)
        store.commit_batch("greve", "fake", "run-other", [mention("g1", at("08:07"), -1.0)], [], {}, 1)
    finally:
        store.close()

    found = collect(root, ours, script_runs(), 300, NOW)

    assert [row["run_id"] for row in found.journal] == [RUN_COMM]
    assert [(s.run_id, s.hash, status) for s, status in found.stages] == [(RUN_COMM, A, "open")]
    assert [(row["pack"], row["message"], row["status"], row["at"]) for row in found.outbox] == [
        (A, "holding_statement/clients/site_web/fr", "sent", iso("08:35")),
        (A, "internal_memo/salaries/intranet/fr", "sent", iso("08:36"))]
    assert [(p.run_id, p.pack) for p in found.promises] == [(RUN_COMM, A)]
    assert set(found.packs) == {A} and found.packs[A]["created_at"] == OPENED.isoformat() and found.packs[A]["file"]
    assert [(w.start, w.volume, w.sentiment) for w in found.windows] == [
        (at("07:00"), 2, 0.1),
        *[(at("07:05") + timedelta(minutes=5 * i), 0, None) for i in range(12)],
        (at("08:05"), 3, pytest.approx(-0.4)), (at("08:10"), 0, None), (at("08:15"), 0, None), (at("08:20"), 1, 0.0)]
    assert [(q["run_id"], q["read"], q["processed"]) for q in found.quality] == [("run-monitor", 6, 6)]
    assert found.missing == []

    assert [(a["at"], a["crisis"]) for a in found.alerts] == [
        (iso("05:00"), earlier.id), (iso("07:50"), None), (iso("08:05"), ours.id)]  # a day back: the watch too

    pm = build(found, playbook(), IDENTITY)
    # the watch that came before, and the alert that opened it; not the alert of the morning's crisis
    assert [e.at for e in pm.timeline if e.kind == "alert"] == [at("07:50"), at("08:05")]
    assert pm.figure("pack_to_release").value == 30 * 60
    assert pm.figure("messages_sent").value == 2
    assert pm.figure("time_to_first_statement").value == 30 * 60


def test_collect_without_runs_on_the_prefect_api_says_so(root: Path) -> None:
    crisis = crises.join_or_open(root, PB, "Rappel", "Claire Martin", OPENED)
    found = collect(root, crisis, [], None, NOW)
    assert found.missing == ["no flow run of this crisis was found on the Prefect API (runs deleted by a retention "
                             "policy, or another server): the runs table is empty; the rest comes from the "
                             "project's own stores"]
    assert (found.windows, found.window_seconds, found.stages, found.outbox, found.promises) == ([], 0, [], [], [])
    pm = build(found, playbook(), IDENTITY)
    assert pm.missing[0].startswith("no flow run of this crisis was found") and pm.provisional
    assert pm.figure("volume_during").missing.startswith("no monitoring data around the crisis")


def test_collect_folds_mentions_into_windows_without_holding_them(root: Path, tmp_path: Path) -> None:
    crisis = crises.join_or_open(root, PB, "Rappel", "monitoring", OPENED)
    mentions = [mention(f"m{i}", at("07:00") + timedelta(seconds=i), 0.5, text="yaourt " * 60) for i in range(6000)]
    store = open_store(root)
    try:
        store.commit_batch(PB, "fake", "run-monitor", mentions, [], {}, len(mentions))
    finally:
        store.close()
    size = sum(len(m.model_dump_json()) for m in mentions)
    del mentions
    tracemalloc.start()
    try:
        found = collect(root, crisis, script_runs(), 300, NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(w.volume for w in found.windows) == 6000 and len(found.windows) == 20  # 100 minutes of mentions
    assert peak < size / 4, (peak, size)


def test_collected_windows_are_the_detector_windows_whatever_the_second_the_crisis_opened(root: Path) -> None:
    """Monitoring counts in windows aligned on the clock (08:00, 08:05 …); the alert that opened the crisis was
    recorded a few seconds after its window closed. The post-mortem must date the rise on those same windows."""
    alert = {"kind": "volume", "level": "alert", "window_start": iso("08:00"), "window_end": iso("08:05"),
             "volume": 60, "baseline": 10.0}
    opened = at("08:05") + timedelta(seconds=17)
    crisis_id = crises.record_alert(root, PB, alert, RUN_MONITOR, opened)
    assert crisis_id is not None
    quiet = [mention(f"q{i}", at("07:55") + timedelta(seconds=50 * i), 0.0) for i in range(5)]
    rise = [mention(f"r{i}", at("08:00") + timedelta(seconds=30 + 4 * i), -0.5) for i in range(60)]
    store = open_store(root)
    try:
        store.commit_batch(PB, "fake", RUN_MONITOR, [*quiet, *rise], [], {}, 65)
    finally:
        store.close()
    found = collect(root, crises.get(root, crisis_id), script_runs(), 300, NOW)
    assert [(w.start, w.volume) for w in found.windows] == [(at("07:55"), 5), (at("08:00"), 60)]
    pm = build(found, playbook(), IDENTITY)
    assert pm.figure("onset").value == iso("08:00")
    assert pm.figure("time_to_detect").value == 317
