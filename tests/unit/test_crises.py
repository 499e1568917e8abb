"""The crisis registry: one id per crisis (joined while it is under way, a new one per day with a counter once it
is closed), the alerts monitoring raised, the journal of step outcomes, the lessons and their open actions.
Real SQLite under a temporary state folder; no Prefect."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from crisiscomms.review import crises
from crisiscomms.review.crises import UnknownCrisis
from crisiscomms.review.model import Action, Lessons

T0 = datetime(2025, 3, 14, 8, 5, tzinfo=UTC)
PLAYBOOK = "rappel-produit"


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_backend: str) -> Path:
    """A project whose state is on each backend in turn (SQLite files in a scratch folder, a PostgreSQL schema)."""
    monkeypatch.delenv("CRISIS_CLOCK_FILE", raising=False)
    return tmp_path / "project"


def alert(level: str, kind: str = "volume", minutes: int = 0) -> dict[str, object]:
    start = T0 + timedelta(minutes=minutes - 5)
    return {"kind": kind, "level": level, "window_start": start.isoformat(),
            "window_end": (start + timedelta(minutes=5)).isoformat(), "volume": 60, "baseline": 10.0}


def test_the_registry_lives_in_the_state_folder_or_database(root: Path, tmp_path: Path, state_backend: str) -> None:
    crises.join_or_open(root, PLAYBOOK, "Rappel", "claire", T0)
    assert (tmp_path / "state" / "crises.db").is_file() == (state_backend == "sqlite")
    assert not (root / ".crisis").exists()


def test_a_crisis_under_way_is_joined_not_opened_twice(root: Path) -> None:
    first = crises.join_or_open(root, PLAYBOOK, "Rappel yaourts", "monitoring", T0)
    again = crises.join_or_open(root, PLAYBOOK, "Another title", "claire", T0 + timedelta(hours=3))
    assert first.id == again.id == f"{PLAYBOOK}-20250314-1"
    assert again.title == "Rappel yaourts" and again.opened_by == "monitoring" and again.opened_at == T0
    assert again.closed_at is None and not again.drill
    assert crises.under_way(root, PLAYBOOK) == first
    assert [c.id for c in crises.listed(root)] == [first.id]


def test_each_playbook_has_its_own_crisis_under_way(root: Path) -> None:
    recall = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    strike = crises.join_or_open(root, "greve", "Grève", "claire", T0)
    assert (recall.id, strike.id) == (f"{PLAYBOOK}-20250314-1", "greve-20250314-1")
    assert crises.under_way(root, "greve") == strike and crises.under_way(root, "other") is None


def test_a_closed_crisis_is_not_joined_the_next_one_of_the_day_takes_the_next_number(root: Path) -> None:
    first = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    crises.close(root, first.id, T0 + timedelta(hours=1))
    second = crises.join_or_open(root, PLAYBOOK, "Rappel bis", "claire", T0 + timedelta(hours=2))
    crises.close(root, second.id, T0 + timedelta(hours=3))
    third = crises.join_or_open(root, PLAYBOOK, "Rappel ter", "claire", T0 + timedelta(hours=4))
    assert [first.id, second.id, third.id] == [f"{PLAYBOOK}-20250314-{n}" for n in (1, 2, 3)]
    assert crises.under_way(root, PLAYBOOK) == third
    assert crises.latest(root, PLAYBOOK) == third


def test_a_new_day_starts_the_counter_again(root: Path) -> None:
    first = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    crises.close(root, first.id, T0 + timedelta(hours=1))
    next_day = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0 + timedelta(days=1))
    assert next_day.id == f"{PLAYBOOK}-20250315-1"
    assert [c.id for c in crises.listed(root)] == [first.id, next_day.id]


def test_closing_twice_keeps_the_first_close_time(root: Path) -> None:
    crisis = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    closed = crises.close(root, crisis.id, T0 + timedelta(hours=1))
    again = crises.close(root, crisis.id, T0 + timedelta(hours=5))
    assert closed.closed_at == again.closed_at == T0 + timedelta(hours=1)
    assert crises.get(root, crisis.id).closed_at == T0 + timedelta(hours=1)
    assert crises.under_way(root, PLAYBOOK) is None
    assert crises.latest(root, PLAYBOOK) == closed


def test_closing_an_unknown_crisis_is_refused(root: Path) -> None:
    with pytest.raises(UnknownCrisis, match="no crisis 'nope'"):
        crises.close(root, "nope", T0)


def test_an_unknown_id_names_the_latest_crises_and_points_to_the_list(root: Path) -> None:
    opened = []
    for day in range(7):
        crisis = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0 + timedelta(days=day))
        crises.close(root, crisis.id, T0 + timedelta(days=day, hours=1))
        opened.append(crisis.id)
    with pytest.raises(UnknownCrisis) as caught:
        crises.get(root, f"{PLAYBOOK}-20250314-9")
    message = str(caught.value)
    assert f"no crisis '{PLAYBOOK}-20250314-9'" in message
    assert f"latest: {', '.join(reversed(opened[-5:]))}" in message  # the five latest, newest first
    assert opened[0] not in message.split("latest:")[1] and opened[1] not in message.split("latest:")[1]
    assert "`crisis review list`" in message


def test_an_unknown_id_in_a_project_without_crises_says_none_was_ever_opened(root: Path) -> None:
    with pytest.raises(UnknownCrisis) as caught:
        crises.get(root, "x-20250314-1")
    assert "none was ever opened here" in str(caught.value)
    assert "`crisis review list`" in str(caught.value)


def test_a_drill_is_marked(root: Path) -> None:
    crisis = crises.join_or_open(root, PLAYBOOK, "Exercice", "claire", T0)
    crises.mark_drill(root, crisis.id)
    assert crises.get(root, crisis.id).drill


@pytest.mark.parametrize("level, kind", [("watch", "volume"), ("watch", "negative"), ("alert", "data_gap"),
                                         ("crisis", "data_gap")])
def test_a_watch_or_a_data_gap_is_kept_but_opens_no_crisis(root: Path, level: str, kind: str) -> None:
    assert crises.record_alert(root, PLAYBOOK, alert(level, kind), "run-1", T0) is None
    assert crises.listed(root) == []
    kept = crises.alerts(root, PLAYBOOK, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [(a["level"], a["kind"], a["crisis"], a["run_id"], a["at"]) for a in kept] == [
        (level, kind, None, "run-1", T0.isoformat())]


@pytest.mark.parametrize("level", ["alert", "crisis"])
def test_an_alert_opens_the_crisis_and_the_next_alerts_join_it(root: Path, level: str) -> None:
    opened = crises.record_alert(root, PLAYBOOK, alert(level), "run-1", T0)
    joined = crises.record_alert(root, PLAYBOOK, alert("crisis", minutes=30), "run-2", T0 + timedelta(minutes=30))
    assert opened == joined == f"{PLAYBOOK}-20250314-1"
    crisis = crises.get(root, opened)
    assert (crisis.opened_by, crisis.opened_at, crisis.title) == ("monitoring", T0, PLAYBOOK)


def test_an_alert_after_the_all_clear_opens_a_new_crisis(root: Path) -> None:
    first = crises.record_alert(root, PLAYBOOK, alert("alert"), "run-1", T0)
    assert first is not None
    crises.close(root, first, T0 + timedelta(hours=1))
    second = crises.record_alert(root, PLAYBOOK, alert("alert"), "run-2", T0 + timedelta(hours=2))
    assert second == f"{PLAYBOOK}-20250314-2"


def test_alerts_are_those_of_the_playbook_between_the_two_times_oldest_first(root: Path) -> None:
    for minutes, level in ((-60, "watch"), (-10, "watch"), (0, "alert"), (20, "crisis"), (90, "alert")):
        crises.record_alert(root, PLAYBOOK, alert(level, minutes=minutes), f"run{minutes}",
                            T0 + timedelta(minutes=minutes))
    crises.record_alert(root, "greve", alert("alert"), "other", T0)
    found = crises.alerts(root, PLAYBOOK, T0 - timedelta(minutes=10), T0 + timedelta(minutes=20))
    assert [(a["at"], a["level"], a["run_id"]) for a in found] == [
        ((T0 - timedelta(minutes=10)).isoformat(), "watch", "run-10"),  # both bounds included
        (T0.isoformat(), "alert", "run0"),
        ((T0 + timedelta(minutes=20)).isoformat(), "crisis", "run20")]
    assert [a["crisis"] for a in found] == [None, f"{PLAYBOOK}-20250314-1", f"{PLAYBOOK}-20250314-1"]
    assert found[1]["baseline"] == 10.0 and found[1]["volume"] == 60  # the payload comes back whole


def test_a_replayed_step_keeps_its_first_time_and_takes_the_new_record(root: Path) -> None:
    crisis = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    crises.record_step(root, crisis.id, "run-c", "communication", "messages", "message.pack",
                       {"hash": "a" * 64}, T0 + timedelta(minutes=10))
    crises.record_step(root, crisis.id, "run-c", "communication", "messages", "message.pack",
                       {"hash": "b" * 64, "edited": True}, T0 + timedelta(hours=2))
    assert crises.journal(root, crisis.id) == [
        {"run_id": "run-c", "phase": "communication", "step": "messages", "type": "message.pack",
         "at": (T0 + timedelta(minutes=10)).isoformat(), "record": {"hash": "b" * 64, "edited": True}}]


def test_the_journal_is_the_crisis_steps_oldest_first(root: Path) -> None:
    crisis = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    other = crises.join_or_open(root, "greve", "Grève", "claire", T0)
    steps = [("run-c", "communication", "approval", "message.approve", 30), ("run-a", "assessment", "score",
             "assessment.run", 5), ("run-c", "communication", "messages", "message.pack", 15),
             ("run-c", "communication", "release", "message.release", 30)]
    for run, phase, step, kind, minutes in steps:
        crises.record_step(root, crisis.id, run, phase, step, kind, {"step": step}, T0 + timedelta(minutes=minutes))
    crises.record_step(root, other.id, "run-x", "assessment", "score", "assessment.run", {}, T0)
    journal = crises.journal(root, crisis.id)
    # by time; at the same time, in the order recorded
    assert [row["step"] for row in journal] == ["score", "messages", "approval", "release"]
    assert [row["run_id"] for row in journal] == ["run-a", "run-c", "run-c", "run-c"]
    assert crises.journal(root, "unknown") == []


def lessons(at: datetime, *actions: Action, worked: str = "") -> Lessons:
    return Lessons(answered_by="Claire Martin", at=at, answers={"Qu'est-ce qui a marché ?": worked or "la FAQ"},
                   worked=worked, actions=list(actions))


def test_open_actions_are_listed_soonest_due_first_across_the_playbook_crises(root: Path) -> None:
    first = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    crises.close(root, first.id, T0 + timedelta(hours=1))
    second = crises.join_or_open(root, PLAYBOOK, "Rappel 2", "monitoring", T0 + timedelta(hours=2))
    other = crises.join_or_open(root, "greve", "Grève", "claire", T0)
    late = Action(what="Relire la FAQ", owner="Léa", due=date(2025, 5, 1))
    soon = Action(what="Former l'astreinte", owner="Marc", due=date(2025, 4, 1))
    middle = Action(what="Numéros de lot dans le modèle", owner="Julien", due=date(2025, 4, 15))
    crises.save_lessons(root, first, lessons(T0, late, soon))
    crises.save_lessons(root, second, lessons(T0, middle))
    crises.save_lessons(root, other, lessons(T0, Action(what="Autre", owner="X", due=date(2025, 1, 1))))
    assert crises.open_actions(root, PLAYBOOK) == [(first.id, soon), (second.id, middle), (first.id, late)]


def test_saving_lessons_twice_replaces_the_answers_without_duplicating_actions(root: Path) -> None:
    crisis = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    action = Action(what="Former l'astreinte", owner="Marc", due=date(2025, 4, 1))
    crises.save_lessons(root, crisis, lessons(T0, action, worked="v1"))
    newer = lessons(T0 + timedelta(days=1), action, worked="v2")
    crises.save_lessons(root, crisis, newer)
    assert crises.lessons_of(root, crisis.id) == newer
    assert crises.open_actions(root, PLAYBOOK) == [(crisis.id, action)]


def test_a_crisis_without_a_review_has_no_lessons(root: Path) -> None:
    crisis = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", T0)
    assert crises.lessons_of(root, crisis.id) is None
    assert crises.open_actions(root, PLAYBOOK) == []


def test_the_crisis_tag_carries_its_id() -> None:
    assert crises.tag(f"{PLAYBOOK}-20250314-1") == f"crisis:{PLAYBOOK}-20250314-1"


@pytest.mark.parametrize(("threshold", "priority", "started"), [
    ("p2", "p1", True), ("p2", "p2", True), ("p2", "p3", False), ("p1", "p2", False), ("p4", "p4", True)])
def test_an_alert_s_crisis_gets_its_communication_started_from_the_playbook_s_priority_up(
        root: Path, threshold: str, priority: str, started: bool) -> None:
    from tasks.crisis import why_not_communicate

    crisis = crises.join_or_open(root, PLAYBOOK, "Rappel", "monitoring", at=T0)
    crises.record_step(root, crisis.id, "run-1", "assessment", "assessment", "assessment.run", {})
    held_back = why_not_communicate(threshold, priority, crisis.id, crises.journal(root, crisis.id))
    assert (held_back is None) is started
    if not started:
        assert held_back == f"assessed {priority}, below {threshold}: the team decides when to communicate"


def test_a_crisis_that_already_has_its_communication_gets_none_started_by_a_later_alert(root: Path) -> None:
    from tasks.crisis import why_not_communicate

    crisis = crises.join_or_open(root, PLAYBOOK, "Rappel", "a person", at=T0)
    crises.record_step(root, crisis.id, "run-1", "communication", "messages", "message.pack", {})
    assert why_not_communicate("p2", "p1", crisis.id, crises.journal(root, crisis.id)) == (
        f"crisis {crisis.id} already has its communication: none started")
