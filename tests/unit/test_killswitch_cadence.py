"""The kill switch's record (halt, lift, history, scope) and the update cadence (promises kept, late, missed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crisiscomms.communication import cadence, killswitch
from crisiscomms.errors import CrisisError

T0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


@pytest.fixture
def root(tmp_path: Path, state_backend: str) -> Path:
    """A project whose state is on each backend in turn (SQLite files in a scratch folder, a PostgreSQL schema)."""
    return tmp_path


def test_halt_is_current_for_every_playbook_until_lifted_and_the_history_keeps_both(root: Path) -> None:
    assert killswitch.current(root, "rappel-produit") is None
    halt = killswitch.halt(root, "Communiqué erroné", "Claire Martin")
    assert (halt.scope, halt.by, halt.reason, halt.active) == ("*", "Claire Martin", "Communiqué erroné", True)
    assert killswitch.current(root, "rappel-produit") == halt == killswitch.current(root)
    assert "since" in killswitch.reason(root, "autre") and "Claire Martin" in killswitch.reason(root, "autre")
    lifted = killswitch.lift(root, "Julien Roche")
    assert lifted is not None and (lifted.lifted_by, lifted.active) == ("Julien Roche", False)
    assert killswitch.current(root, "rappel-produit") is None and killswitch.reason(root) is None
    assert killswitch.lift(root, "Julien Roche") is None  # nothing on: nothing lifted, nothing recorded
    again = killswitch.halt(root, "Second incident", "Sophie Lefèvre")
    history = killswitch.history(root)
    assert [(h.by, h.lifted_by) for h in history] == [("Claire Martin", "Julien Roche"), ("Sophie Lefèvre", None)]
    assert history[1] == again and killswitch.active(root) == [again]


def test_halting_twice_keeps_the_first_halt_in_force(root: Path) -> None:
    first = killswitch.halt(root, "Erreur de lot", "Claire Martin")
    assert killswitch.halt(root, "Autre raison", "Julien Roche") == first
    assert len(killswitch.history(root)) == 1


def test_a_playbook_halt_stops_that_playbook_only_and_a_project_halt_wins(root: Path) -> None:
    one = killswitch.halt(root, "Mauvais lot", "Claire Martin", playbook="rappel-produit")
    assert killswitch.current(root, "rappel-produit") == one
    assert killswitch.current(root, "cellule-de-crise") is None and killswitch.current(root) is None
    everything = killswitch.halt(root, "Tout arrêter", "Julien Roche")
    assert killswitch.current(root, "rappel-produit") == everything
    killswitch.lift(root, "Julien Roche")  # lifts the project-wide halt only
    assert killswitch.current(root, "rappel-produit") == one


@pytest.mark.parametrize(("reason", "by", "missing"), [("", "Claire", "a reason"), ("Erreur", "  ", "who halts")])
def test_a_halt_without_reason_or_name_is_refused(root: Path, reason: str, by: str, missing: str) -> None:
    with pytest.raises(CrisisError, match=missing):
        killswitch.halt(root, reason, by)
    assert killswitch.history(root) == []


def _release(root: Path, pack: str, at: datetime, promised: datetime, drill: bool = False) -> cadence.Recorded:
    return cadence.record_release(root, "rappel-produit", f"run-{pack}", pack, promised, at, drill, "p2")


def test_the_next_release_keeps_the_oldest_open_promise_on_time(root: Path) -> None:
    first = _release(root, "A", T0, T0 + timedelta(hours=2))
    assert first.new and first.fulfilled is None and first.promise.status(T0) == "open"
    second = _release(root, "B", T0 + timedelta(hours=1, minutes=52), T0 + timedelta(hours=4))
    assert second.fulfilled is not None and second.fulfilled.id == first.promise.id
    assert second.fulfilled.status() == "on_time" and second.fulfilled.delay_seconds() == -8 * 60
    assert second.fulfilled.row()["delay"] == "8 min 00 s early"
    assert (second.fulfilled.fulfilled_by_run, second.fulfilled.fulfilled_by_pack) == ("run-B", "B")
    assert [p.status(T0 + timedelta(hours=2)) for p in cadence.promises(root, "rappel-produit")] == ["on_time", "open"]


def test_a_release_after_the_promised_time_keeps_it_late_by_how_much(root: Path) -> None:
    _release(root, "A", T0, T0 + timedelta(hours=2))
    kept = _release(root, "B", T0 + timedelta(hours=3, minutes=15), T0 + timedelta(hours=5)).fulfilled
    assert kept is not None and kept.status() == "late" and kept.delay_seconds() == 75 * 60
    assert kept.row()["delay"] == "1 h 15 min late"


def test_a_missed_promise_is_recorded_and_a_later_release_still_keeps_it_late(root: Path) -> None:
    made = _release(root, "A", T0, T0 + timedelta(hours=2)).promise
    assert made.status(T0 + timedelta(hours=2, seconds=1)) == "overdue"
    missed = cadence.mark_missed(root, made.id, T0 + timedelta(hours=2, minutes=1))
    assert missed.status() == "missed" and missed.missed_at == "2026-03-12T11:01:00+00:00"
    kept = _release(root, "B", T0 + timedelta(hours=2, minutes=30), T0 + timedelta(hours=4)).fulfilled
    assert kept is not None and kept.status() == "late" and kept.missed_at == missed.missed_at


def test_a_rerun_of_the_same_pack_makes_no_second_promise_and_keeps_nothing(root: Path) -> None:
    made = _release(root, "A", T0, T0 + timedelta(hours=2)).promise
    again = _release(root, "A", T0 + timedelta(minutes=10), T0 + timedelta(hours=2))
    assert (again.new, again.fulfilled, again.promise) == (False, None, made)
    assert len(cadence.promises(root, "rappel-produit")) == 1


def test_a_drill_never_keeps_a_promise_made_to_the_public(root: Path) -> None:
    public = _release(root, "A", T0, T0 + timedelta(hours=2)).promise
    drill = _release(root, "D", T0 + timedelta(minutes=30), T0 + timedelta(hours=1), drill=True)
    assert drill.fulfilled is None and cadence.get(root, public.id).fulfilled_at is None
    kept = _release(root, "B", T0 + timedelta(hours=1), T0 + timedelta(hours=3)).fulfilled
    assert kept is not None and kept.id == public.id


def test_a_promise_without_time_zone_is_refused(root: Path) -> None:
    with pytest.raises(CrisisError, match="no time zone"):
        _release(root, "A", T0, datetime(2026, 3, 12, 11, 0))
    assert cadence.promises(root, "rappel-produit") == []
