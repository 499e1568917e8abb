"""The product's clock: the system's, or a scripted one a drill's conductor moves on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crisiscomms import clock

T0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def test_waiting_on_a_scripted_clock_ends_when_the_script_moves_it_past_the_moment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "clock"
    clock.set_time(path, T0)
    monkeypatch.setenv(clock.CLOCK_FILE, str(path))
    naps: list[float] = []

    def nap(seconds: float) -> None:  # the script moves the drill on by 10 minutes each second that passes
        naps.append(seconds)
        clock.set_time(path, clock.now() + timedelta(minutes=10))

    clock.wait_until(T0 + timedelta(minutes=25), sleep=nap)
    assert naps == [1.0, 1.0, 1.0] and clock.now() == T0 + timedelta(minutes=30)


class _Slept(Exception):
    pass


def test_waiting_on_the_system_clock_is_one_sleep_of_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.CLOCK_FILE, raising=False)
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        raise _Slept  # the time left was slept in one go: stop the test there

    with pytest.raises(_Slept):
        clock.wait_until(datetime.now(UTC) + timedelta(seconds=30), sleep=nap)
    assert len(naps) == 1 and 29 < naps[0] <= 30


def test_a_moment_already_past_is_no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.CLOCK_FILE, raising=False)
    clock.wait_until(datetime.now(UTC) - timedelta(seconds=1), sleep=lambda s: pytest.fail("slept"))
