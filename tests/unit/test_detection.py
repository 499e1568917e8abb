"""Spike detection: windows (WindowAccumulator), the streaming detector, its state, and its behaviour on the five real
CrisisLex volume curves (data/crisislex/*-volume_per_minute.csv, MIT; Olteanu, Vieweg, Castillo, CSCW 2015).

Real curves are replayed one minute at a time with the `ONE_MINUTE` settings of bench/detection_onset.py,
whose `onset` function defines the onset from the curve alone; the bench prints the same measures as a table.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from bench.detection_onset import (
    MAX_DELAY,
    ONE_MINUTE,
    Curve,
    alert_minute,
    curve_paths,
    flat,
    load_curve,
    onset,
    ramp,
    replay,
    windows,
)
from crisiscomms.mention import Alert, EnrichedMention
from crisiscomms.monitoring.detection import (
    LEVELS,
    NEGATIVE_CUT,
    SAMPLE_CHARS,
    Detector,
    WindowAccumulator,
    WindowStats,
    detect,
    tail_z,
)
from crisiscomms.playbook.monitoring import Detection, Thresholds

T0 = datetime(2024, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
EARLY = 60  # minutes: an alert earlier than this before the onset is a false alarm, not an early detection
CURVES = {path.name.removesuffix("-volume_per_minute.csv"): path for path in curve_paths()}


@pytest.fixture(scope="module")
def curves() -> dict[str, Curve]:
    return {name: load_curve(path) for name, path in CURVES.items()}


@pytest.fixture(scope="module")
def replays(curves: dict[str, Curve]) -> dict[str, list[Alert]]:
    return {name: replay(curve) for name, curve in curves.items()}


def mention(at: datetime, sentiment: float | None = None, text: str = "hello", **fields: object) -> EnrichedMention:
    return EnrichedMention(id=f"m{at.timestamp()}-{sentiment}-{text[:8]}", created_at=at, text=text, lang="en",
                           analysed=sentiment is not None, sentiment=sentiment, relevance=1.0, **fields)


def windows_of(mentions: list[EnrichedMention], seconds: int, start: datetime | None = None,
               end: datetime | None = None) -> list[WindowStats]:
    accumulator = WindowAccumulator(seconds)
    accumulator.add(mentions)
    return list(accumulator.windows(start, end))


def stream(counts: list[int], negative: list[int] | None = None, analysed: list[int] | None = None,
           start: datetime = T0, seconds: int = 60) -> list[WindowStats]:
    step = timedelta(seconds=seconds)
    return [WindowStats(window_start=start + i * step, window_end=start + (i + 1) * step, volume=count,
                        negative=negative[i] if negative else 0, analysed=analysed[i] if analysed else 0)
            for i, count in enumerate(counts)]


def run(settings: Detection, stats: list[WindowStats]) -> list[Alert]:
    detector = Detector(settings)
    return [alert for window in stats for alert in detector.observe(window)]


def steady(minutes: int, pattern: tuple[int, ...] = (1, 3, 2, 2, 4, 1, 2, 3, 2, 0)) -> list[int]:
    """A deterministic, mildly noisy stream around 2 mentions a minute."""
    return [pattern[i % len(pattern)] for i in range(minutes)]


# --- real curves -------------------------------------------------------------------------------------------


def test_the_five_curves_are_there() -> None:
    assert len(CURVES) == 5


@pytest.mark.parametrize("name", sorted(CURVES))
def test_first_alert_within_15_minutes_of_the_onset(name: str, curves: dict[str, Curve],
                                                    replays: dict[str, list[Alert]]) -> None:
    curve, alerts = curves[name], replays[name]
    start = onset(curve.counts)
    assert start is not None and alerts, f"{name}: onset {start}, {len(alerts)} alerts"
    delay = alert_minute(curve, alerts[0]) - start
    assert -EARLY <= delay <= MAX_DELAY, f"{name}: first alert {alerts[0].window_end}, onset {curve.minute(start)}"


@pytest.mark.parametrize("name", sorted(CURVES))
def test_no_false_alarm_before_the_onset(name: str, curves: dict[str, Curve],
                                         replays: dict[str, list[Alert]]) -> None:
    curve = curves[name]
    start = onset(curve.counts)
    early = [a for a in replays[name] if alert_minute(curve, a) < start - EARLY]
    assert early == []


@pytest.mark.parametrize("name", sorted(CURVES))
def test_a_real_spike_raises_one_alert_per_level_in_rising_order(name: str, curves: dict[str, Curve],
                                                                 replays: dict[str, list[Alert]]) -> None:
    curve, alerts = curves[name], replays[name]
    first_hours = [a for a in alerts if alert_minute(curve, a) < alert_minute(curve, alerts[0]) + 120]
    levels = [a.level for a in first_hours]
    assert levels == ["watch", "alert", "crisis"][: len(levels)], levels
    assert all(a.kind == "volume" for a in first_hours)


@pytest.mark.parametrize("make", [flat, ramp], ids=["flat", "ramp"])
@pytest.mark.parametrize("name", sorted(CURVES))
def test_no_alert_on_synthetic_streams_of_the_same_volume_and_duration(name: str, make, curves) -> None:
    curve = curves[name]
    synthetic = make(curve, seed=0)
    assert sum(synthetic.counts) == sum(curve.counts) and len(synthetic.counts) == len(curve.counts)
    assert replay(synthetic) == []


def test_onset_is_the_first_minute_of_a_clear_rise() -> None:
    quiet = [0] * 400 + [1, 0, 1, 1, 1, 0, 1, 2, 3, 5]
    assert onset(quiet) == 406  # the first trailing 10 minutes holding 5 tweets
    growing = [(i + 1) ** 2 // 800 - i**2 // 800 for i in range(600)]  # i/400 a minute: never 5× its past
    assert onset(growing) is None
    assert onset(growing + [4] * 30) is None  # about 4× the last 6 hours: not yet an onset
    assert onset(growing + [8] * 30) == 605  # trailing 10 minutes reach 5× the mean of the 6 hours before


# --- de-duplication and escalation -------------------------------------------------------------------------


def test_one_spike_one_alert_per_level_reached() -> None:
    rise = [3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 12, 14, 17, 20, 24, 28, 34, 40, 50, 60, 75, 90]
    alerts = run(ONE_MINUTE, stream(steady(600) + rise + [90] * 60 + rise[::-1] + steady(120)))
    assert [a.level for a in alerts] == ["watch", "alert", "crisis"]
    assert alerts[0].window_end < alerts[1].window_end < alerts[2].window_end
    assert alerts[0].score < alerts[1].score < alerts[2].score


def test_a_sudden_spike_reports_the_level_it_reaches_first() -> None:
    alerts = run(ONE_MINUTE, stream(steady(600) + [90] * 60 + steady(120)))
    assert [a.level for a in alerts] in (["alert", "crisis"], ["crisis"])


def test_a_spike_that_stops_at_alert_is_not_re_raised_while_it_lasts() -> None:
    counts = steady(600) + [8] * 90 + steady(60)  # a plateau at 4× the usual volume
    levels = [a.level for a in run(ONE_MINUTE, stream(counts))]
    assert len(levels) == len(set(levels)) and levels, levels


def test_a_second_spike_after_the_cooldown_alerts_again_and_within_it_does_not() -> None:
    # a spike stays in view (hot) while it is in the trailing hour; the cooldown counts from then
    spike, hour = [40] * 10, 60
    quiet_long = steady(hour + ONE_MINUTE.cooldown // 60 + 10)
    quiet_short = steady(hour + ONE_MINUTE.cooldown // 60 - 20)
    after_long = run(ONE_MINUTE, stream(steady(600) + spike + quiet_long + spike))
    after_short = run(ONE_MINUTE, stream(steady(600) + spike + quiet_short + spike))
    first = [a.level for a in run(ONE_MINUTE, stream(steady(600) + spike))]
    assert first and [a.level for a in after_short] == first
    assert len(after_long) > len(first)


# --- negative share ----------------------------------------------------------------------------------------


def negative_stream(negative_after: int, analysed_after: int) -> list[WindowStats]:
    before, after = 600, 40
    counts = [10] * (before + after)
    analysed = [10] * before + [analysed_after] * after
    negative = [1 if i % 3 else 2 for i in range(before)] + [negative_after] * after
    return stream(counts, negative, analysed)


def test_a_surge_of_negative_mentions_raises_a_negative_alert() -> None:
    alerts = run(ONE_MINUTE, negative_stream(negative_after=7, analysed_after=10))
    assert alerts and {a.kind for a in alerts} == {"negative"}
    assert alerts[0].negative_share is not None and alerts[0].negative_share >= ONE_MINUTE.negative_share


def test_more_negatives_below_the_negative_share_do_not_alert() -> None:
    assert run(ONE_MINUTE, negative_stream(negative_after=4, analysed_after=10)) == []  # 40 % < 50 %


def test_too_few_analysed_mentions_never_make_a_negative_alert() -> None:
    few = ONE_MINUTE.model_copy(update={"min_volume": 500})  # more than an hour of analysed mentions holds
    assert run(few, negative_stream(negative_after=7, analysed_after=10)) == []


# --- guards: warm-up, min_volume, windows ------------------------------------------------------------------


def test_no_alert_during_warm_up() -> None:
    settings = Detection(window="1m", baseline="30m", warmup="100m")
    assert run(settings, stream([0] * 80 + [200] * 10)) == []
    assert run(settings, stream([0] * 120 + [200] * 10)) != []


def test_no_alert_below_min_volume() -> None:
    assert run(ONE_MINUTE, stream([0] * 600 + [4] + [0] * 100)) == []
    assert run(ONE_MINUTE, stream([0] * 600 + [6] + [0] * 100)) != []


def test_a_window_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="not 60s"):
        Detector(ONE_MINUTE).observe(stream([1], seconds=300)[0])


def test_windows_already_seen_are_ignored_and_missing_ones_count_as_empty() -> None:
    stats = stream([0] * 600 + [50] * 5)
    with_gap = stats[:300] + stats[400:]
    replayed = stats[:500] + stats[450:]
    assert run(ONE_MINUTE, with_gap) == run(ONE_MINUTE, stats) == run(ONE_MINUTE, replayed) != []
    detector = Detector(ONE_MINUTE)
    for window in stats:
        detector.observe(window)
    assert detector.next_window_start() == stats[-1].window_end


# --- state -------------------------------------------------------------------------------------------------


def split_run(settings: Detection, stats: list[WindowStats], at: int) -> list[Alert]:
    first = Detector(settings)
    alerts = [alert for window in stats[:at] for alert in first.observe(window)]
    state = json.loads(json.dumps(first.state()))  # what a store keeps between scheduled runs
    second = Detector.from_state(settings, state)
    return alerts + [alert for window in stats[at:] for alert in second.observe(window)]


@pytest.mark.parametrize("name", ["2013_West_Texas_explosion", "2013_Savar_building_collapse"])
def test_state_round_trip_gives_the_alerts_of_one_pass(name: str, curves: dict[str, Curve],
                                                       replays: dict[str, list[Alert]]) -> None:
    curve = curves[name]
    stats = windows(curve)
    start = onset(curve.counts)
    for at in (len(stats) // 2, start + 5):  # half-way, and in the middle of the first spike
        assert split_run(ONE_MINUTE, stats, at) == replays[name]


def test_state_round_trip_keeps_negative_episodes_and_terms() -> None:
    mentions = [mention(T0 + i * MINUTE + j * timedelta(seconds=7), 0.2, hashtags=["#calme"])
                for i in range(600) for j in range(3)]
    mentions += [mention(T0 + (600 + i) * MINUTE + j * timedelta(seconds=5), -0.8, f"rappel {i} {j}",
                         keywords=["rappel"], hashtags=["#boycott"]) for i in range(30) for j in range(9)]
    stats = windows_of(mentions, 60)
    whole = run(ONE_MINUTE, stats)
    assert {a.kind for a in whole} == {"volume", "negative"}
    for at in (300, 605, 615):
        assert split_run(ONE_MINUTE, stats, at) == whole
    top = whole[-1]
    assert top.top_keywords[0] == ("rappel", top.top_keywords[0][1]) and top.top_hashtags[0][0] == "#boycott"
    assert 1 <= len(top.samples) <= 3 and all(s["sentiment"] == -0.8 for s in top.samples)


def test_a_state_of_another_window_is_refused() -> None:
    state = Detector(ONE_MINUTE).state()
    with pytest.raises(ValueError, match="60s window"):
        Detector.from_state(Detection(window="5m"), state)
    assert Detector.from_state(ONE_MINUTE, state).state() == state


# --- windows -----------------------------------------------------------------------------------------------


def test_windows_fills_empty_windows_between_the_first_and_the_last() -> None:
    at = datetime(2024, 3, 1, 10, 3, 20, tzinfo=UTC)
    result = windows_of([mention(at), mention(at + timedelta(minutes=21))], 300)
    assert [(w.window_start.strftime("%H:%M"), w.volume) for w in result] == [
        ("10:00", 1), ("10:05", 0), ("10:10", 0), ("10:15", 0), ("10:20", 1)]
    assert all(w.window_end - w.window_start == timedelta(minutes=5) for w in result)


def test_windows_aligns_windows_to_the_epoch_and_honours_start_and_end() -> None:
    at = datetime(2024, 3, 1, 10, 7, tzinfo=UTC)
    result = windows_of([mention(at)], 900, start=at - timedelta(minutes=30), end=at + timedelta(minutes=8))
    assert [w.window_start.strftime("%H:%M") for w in result] == ["09:30", "09:45", "10:00"]
    assert [w.volume for w in result] == [0, 0, 1]
    assert all(w.window_start.timestamp() % 900 == 0 for w in result)
    assert windows_of([mention(at)], 900, start=at + timedelta(hours=1), end=at + timedelta(hours=2))[0].volume == 0
    assert windows_of([], 60) == []


def test_windows_counts_negative_and_analysed_mentions() -> None:
    at = datetime(2024, 3, 1, 10, 0, 5, tzinfo=UTC)
    sentiments = [-0.9, -0.06, NEGATIVE_CUT, 0.0, 0.7, None, None]
    [window] = windows_of([mention(at, s, text=f"t{i}") for i, s in enumerate(sentiments)], 60)
    assert (window.volume, window.analysed, window.negative) == (7, 5, 2)


def test_windows_counts_terms_once_a_mention_and_keeps_short_samples() -> None:
    at = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    mentions = [mention(at + timedelta(seconds=i), -0.1 * i, text="x" * 400 + str(i),
                        keywords=["rappel", "rappel", "lait"], hashtags=["#lait"]) for i in range(5)]
    [window] = windows_of(mentions, 60)
    assert window.keywords == {"rappel": 5, "lait": 5} and window.hashtags == {"#lait": 5}
    assert len(window.samples) == 3 and all(len(s.text) == SAMPLE_CHARS for s in window.samples)
    assert [s.sentiment for s in window.samples] == [-0.4, -0.30000000000000004, -0.2]  # most negative first


def test_windows_reads_naive_timestamps_as_utc() -> None:
    [window] = windows_of([mention(datetime(2024, 3, 1, 10, 0, 30))], 60)
    assert window.window_start == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


# --- score and the whole-stream helper ---------------------------------------------------------------------


def test_tail_z_is_the_exact_poisson_tail() -> None:
    # reference values: scipy.stats.norm.isf(scipy.stats.poisson.sf(k - 1, mean))
    assert tail_z(5, 0.17) == pytest.approx(4.747994, abs=1e-5)
    assert tail_z(30, 1.0) == pytest.approx(12.017766, abs=1e-5)
    assert tail_z(13, 3.3) == pytest.approx(3.930372, abs=1e-5)
    assert tail_z(3, 3.3) == 0.0
    assert tail_z(30, 3.0, dispersion=4.0) < tail_z(30, 3.0)
    assert tail_z(10_000, 1.0) == pytest.approx(37.5, abs=0.5)  # saturates, never infinite


def test_detect_runs_a_whole_stream_of_mentions() -> None:
    mentions = [mention(T0 + i * timedelta(minutes=5) + timedelta(seconds=j), text=f"{i}-{j}")
                for i in range(200) for j in range(i % 3 + 1)]
    mentions += [mention(T0 + timedelta(hours=17) + timedelta(seconds=5 * j), text=f"s{j}", hashtags=["#fire"])
                 for j in range(120)]
    settings = Detection(thresholds=Thresholds(watch=6, alert=9, crisis=14))
    alerts = detect(mentions, settings)
    assert alerts and all(LEVELS.index(a.level) < LEVELS.index(b.level) for a, b in pairwise(alerts))
    assert alerts[0].top_hashtags == [("#fire", alerts[0].top_hashtags[0][1])]
    assert alerts[0].reason.startswith(f"{alerts[0].volume} mentions in ")
