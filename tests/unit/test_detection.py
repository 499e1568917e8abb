"""Spike detection: windows (WindowAccumulator), the streaming detector, its state, and its behaviour with the product's
defaults on the five real CrisisLex volume curves (data/crisislex/*-volume_per_minute.csv, MIT; Olteanu, Vieweg,
Castillo, CSCW 2015).

Real curves are cut into the product's 5-minute windows by bench/detection_onset.py, whose `onset` function defines
the onset from the curve alone; the bench prints the same measures as tables (bench/README.md, "Detection").
Mechanics (de-duplication, negative share, guards) are tested on 1-minute streams with explicit settings.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from bench.detection_onset import (
    ALERTING,
    EARLY,
    MAX_DELAY,
    MID_CRISIS,
    PRODUCT,
    Curve,
    alert_minute,
    curve_paths,
    daily,
    flat,
    load_curve,
    low,
    onset,
    ramp,
    replay,
    slow_rise,
    windows,
)
from crisiscomms.mention import Alert, EnrichedMention
from crisiscomms.monitoring.baseline import tail_z
from crisiscomms.monitoring.detection import LEVELS, Detector, detect
from crisiscomms.monitoring.windows import NEGATIVE_CUT, SAMPLE_CHARS, WindowAccumulator, WindowStats
from crisiscomms.playbook.monitoring import Detection, Thresholds

T0 = datetime(2024, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
FIVE = 300  # seconds: the product's window
CURVES = {path.name.removesuffix("-volume_per_minute.csv"): path for path in curve_paths()}
# Switched on at the onset or half an hour into the crisis, these three are loud enough to tell from a quiet stream
# at once. Savar (3 tweets in the quarter hour after its onset, 12 an hour for days: the usual volume) and West
# Texas (16 in its first 13 minutes) are not: a cold start cannot tell them from the quiet twin of West Texas,
# which runs at 20 an hour (bench/README.md, "Detection", gives the figures).
LOUD_AT_ONCE = ["2012_Venezuela_refinery", "2013_Glasgow_helicopter_crash", "2013_Spain_train_crash"]
LOUD_MID_CRISIS = ["2013_Glasgow_helicopter_crash", "2013_Spain_train_crash", "2013_West_Texas_explosion"]
# Mechanics on 1-minute streams of about 2 mentions a minute: thresholds and usual volume stated, not the presets.
ONE_MINUTE = Detection(window="1m", warmup="1h", usual_volume=120, thresholds=Thresholds(watch=6, alert=9, crisis=14))


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


# --- real curves, product defaults ------------------------------------------------------------------------


def first_alerting(curve: Curve, alerts: list[Alert]) -> int | None:
    """Minute index of the first alert at alert level or above."""
    return next((alert_minute(curve, a) for a in alerts if a.level in ALERTING), None)


def test_the_five_curves_are_there() -> None:
    assert len(CURVES) == 5


@pytest.mark.parametrize("name", sorted(CURVES))
def test_with_its_history_a_crisis_reaches_the_alert_level_within_15_minutes_of_its_onset(
        name: str, curves: dict[str, Curve], replays: dict[str, list[Alert]]) -> None:
    curve, alerts = curves[name], replays[name]
    start = onset(curve.counts)
    reached = first_alerting(curve, alerts)
    assert start is not None and reached is not None, f"{name}: onset {start}, {len(alerts)} alerts"
    assert -EARLY <= reached - start <= MAX_DELAY, f"{name}: alert level at {curve.minute(reached)}, onset " \
                                                    f"{curve.minute(start)}"


@pytest.mark.parametrize("name", sorted(CURVES))
def test_no_false_alarm_before_the_onset(name: str, curves: dict[str, Curve],
                                         replays: dict[str, list[Alert]]) -> None:
    curve = curves[name]
    start = onset(curve.counts)
    early = [a for a in replays[name] if alert_minute(curve, a) < start - EARLY]
    assert early == []


@pytest.mark.parametrize("name", LOUD_AT_ONCE)
def test_switched_on_at_the_onset_without_history_a_loud_crisis_alerts_within_15_minutes(
        name: str, curves: dict[str, Curve]) -> None:
    curve = curves[name]
    start = onset(curve.counts)
    reached = first_alerting(curve, replay(curve, first=start))
    assert reached is not None and reached - start <= MAX_DELAY, f"{name}: alert level at {reached}, onset {start}"


@pytest.mark.parametrize("name", LOUD_MID_CRISIS)
def test_switched_on_in_the_middle_of_a_loud_crisis_it_alerts_within_15_minutes(
        name: str, curves: dict[str, Curve]) -> None:
    curve = curves[name]
    switched_on = onset(curve.counts) + MID_CRISIS
    reached = first_alerting(curve, replay(curve, first=switched_on))
    assert reached is not None and reached - switched_on <= MAX_DELAY


@pytest.mark.parametrize("name", sorted(CURVES))
def test_a_real_spike_raises_one_alert_per_level_in_rising_order(name: str, curves: dict[str, Curve],
                                                                 replays: dict[str, list[Alert]]) -> None:
    curve, alerts = curves[name], replays[name]
    first_hours = [a for a in alerts if alert_minute(curve, a) < alert_minute(curve, alerts[0]) + 120]
    levels = [LEVELS.index(a.level) for a in first_hours]
    assert levels == sorted(set(levels)), [a.level for a in first_hours]  # rising, each level once
    assert all(a.kind == "volume" for a in first_hours)


@pytest.mark.parametrize("make", [flat, ramp, low, daily, slow_rise], ids=["flat", "ramp", "low", "daily", "slow"])
@pytest.mark.parametrize("name", sorted(CURVES))
def test_no_alert_on_quiet_streams_switched_on_cold(name: str, make, curves) -> None:
    curve = curves[name]
    synthetic = make(curve, seed=0)
    assert len(synthetic.counts) == len(curve.counts) and sum(synthetic.counts) > 0
    assert replay(synthetic) == []


def test_onset_is_the_first_minute_of_a_clear_rise() -> None:
    quiet = [0] * 400 + [1, 0, 1, 1, 1, 0, 1, 2, 3, 5]
    assert onset(quiet) == 406  # the first trailing 10 minutes holding 5 tweets
    growing = [(i + 1) ** 2 // 800 - i**2 // 800 for i in range(600)]  # i/400 a minute: never 5× its past
    assert onset(growing) is None
    assert onset(growing + [4] * 30) is None  # about 4× the last 6 hours: not yet an onset
    assert onset(growing + [8] * 30) == 605  # trailing 10 minutes reach 5× the mean of the 6 hours before


def test_the_bench_cuts_a_curve_into_epoch_aligned_windows_from_the_switch_on() -> None:
    curve = Curve("test", datetime(2024, 3, 1, 10, 3, tzinfo=UTC), [1, 2, 3, 4, 5, 6, 7, 8])  # 10:03 … 10:10
    whole, cut = windows(curve), windows(curve, first=4)  # switched on at 10:07
    assert [(w.window_start.strftime("%H:%M"), w.volume) for w in whole] == [("10:00", 3), ("10:05", 25), ("10:10", 8)]
    assert [(w.window_start.strftime("%H:%M"), w.volume) for w in cut] == [("10:05", 18), ("10:10", 8)]


# --- cold start, switched on mid-crisis, the baseline keeps abnormal windows out ---------------------------


def usual(settings: Detection, times: float) -> int:
    """A window's count at `times` the usual volume."""
    return round(times * settings.usual_per_window)


def test_a_cold_start_alerts_on_a_crisis_without_any_history() -> None:
    crisis = [usual(PRODUCT, times) for times in (3, 15, 40)]  # a sharp rise from the first window on
    alerts = run(PRODUCT, stream(crisis, seconds=FIVE))
    assert [a.level for a in alerts if a.level in ALERTING], alerts
    assert all(f"usual volume ({PRODUCT.usual_volume:g} mentions an hour)" in a.reason for a in alerts)


def test_switched_on_in_the_middle_of_a_crisis_it_alerts_at_the_first_window() -> None:
    alerts = run(PRODUCT, stream([usual(PRODUCT, 40)] * 24, seconds=FIVE))  # two hours at 40× the usual volume
    assert alerts and alerts[0].window_end == T0 + timedelta(seconds=FIVE) and alerts[0].level in ALERTING


def levels_of(settings: Detection, counts: list[int], seconds: int = FIVE) -> list[str | None]:
    """The level each window reaches, whether or not it raised an alert."""
    detector = Detector(settings)
    levels = []
    for window in stream(counts, seconds=seconds):
        detector.observe(window)
        levels.append(detector.level())
    return levels


def quiet_day(windows_count: int) -> list[int]:
    """Quiet: 1 mention a window on average (12 an hour, about the usual volume), mildly noisy."""
    return [(0, 1, 2, 1, 0, 1, 3, 1, 0, 1)[i % 10] for i in range(windows_count)]


def test_a_long_crisis_plateau_stays_at_alert_level_because_its_windows_stay_out_of_the_baseline() -> None:
    hours = 12  # windows of 5 minutes an hour
    plateau = [usual(PRODUCT, 10)] * (10 * hours)  # 10 hours: longer than the 6-hour baseline, shorter than relearn
    kept_out = levels_of(PRODUCT, quiet_day(8 * hours) + plateau)[-len(plateau) + hours:]  # after its first hour
    assert set(kept_out) <= set(ALERTING), set(kept_out)
    learned = levels_of(PRODUCT.model_copy(update={"relearn": 3600}), quiet_day(8 * hours) + plateau)
    assert learned[-1] is None  # had the plateau entered the baseline, it would read as normal by now


def test_a_level_that_lasts_longer_than_relearn_becomes_the_new_normal() -> None:
    hours = 12
    plateau = [usual(PRODUCT, 10)] * (PRODUCT.relearn // 3600 * hours + 6 * hours)
    levels = levels_of(PRODUCT, quiet_day(8 * hours) + plateau)
    assert levels[8 * hours + hours] in ALERTING and levels[-1] is None


BUSY = PRODUCT.model_copy(update={"usual_volume": 120.0})  # 10 mentions a window: a daily cycle is visible


def daily_cycle(days: int) -> list[int]:
    """Windows of a day of 1 to 3 mentions (2 on average) with an evening of 16 to 20 from 18:00 to 21:00."""
    return [(18 if 216 <= i % 288 < 252 else 2) + (-1, 0, 1, 0, 2, -2, 1, 0, -1)[i % 9] for i in range(288 * days)]


def test_an_evening_peak_that_comes_back_every_day_is_learned_and_a_spike_in_it_still_alerts() -> None:
    cycle = daily_cycle(6)
    assert sum(cycle[216:252]) >= 9 * sum(cycle[:36])  # the evening holds 9× the night
    alerts = run(BUSY, stream(cycle, seconds=FIVE))
    assert {a.window_start.day for a in alerts} == {T0.day, T0.day + 1}  # the first two evenings only
    evening = 5 * 288 + 228  # day 6, 19:00
    spiked = cycle[:evening] + [count * 3 for count in cycle[evening:evening + 3]] + cycle[evening + 3:]
    late = [a for a in run(BUSY, stream(spiked, seconds=FIVE)) if a.window_start.day > T0.day + 1]
    assert [a.level for a in late if a.level in ALERTING]
    assert late[0].window_start >= T0 + evening * timedelta(seconds=FIVE)


@pytest.mark.parametrize("before", [0, 2], ids=["the first day", "after two quiet days"])
def test_yesterdays_crisis_is_not_the_normal_of_its_time_of_day(before: int) -> None:
    day = quiet_day(288)
    crisis = [usual(PRODUCT, 30)] * 6  # half an hour at 30× the usual volume, at 14:00 two days running
    days = day * before + day[:168] + crisis + day[174:] + day[:168] + crisis + day[174:]
    alerts = run(PRODUCT, stream(days, seconds=FIVE))
    second_day = [a for a in alerts if a.window_start >= T0 + timedelta(days=before + 1)]
    assert [a.level for a in second_day if a.level in ALERTING], alerts


def test_a_version_2_state_is_read_without_its_memory_of_past_days() -> None:
    detector = Detector(PRODUCT)
    for window in stream(quiet_day(12 * 8), seconds=FIVE):
        detector.observe(window)
    state = json.loads(json.dumps(detector.state()))
    for kind in ("volume", "negative"):
        state[kind]["pending"] = [item[:2] for item in state[kind]["pending"]]
        del state[kind]["season"]
    restored = Detector.from_state(PRODUCT, {**state, "version": 2})
    assert restored.state()["volume"]["season"] == [] and restored.state()["version"] == 3
    spike = stream([usual(PRODUCT, 40)], start=T0 + 12 * 8 * timedelta(seconds=FIVE), seconds=FIVE)[0]
    assert [a.level for a in restored.observe(spike)] == [a.level for a in detector.observe(spike)] != []


def test_a_quiet_stream_after_warm_up_raises_nothing() -> None:
    assert run(PRODUCT, stream(quiet_day(12 * 24 * 7), seconds=FIVE)) == []  # a week at the usual volume


def test_a_stream_busier_than_the_usual_volume_alerts_when_switched_on_and_is_learned_after_relearn() -> None:
    busy = [(8, 10, 12, 9, 11)[i % 5] for i in range(12 * 24 * 2)]  # 120 an hour for two days, usual volume 12
    alerts = run(PRODUCT, stream(busy, seconds=FIVE))
    assert alerts and all(a.window_end <= T0 + timedelta(hours=1) for a in alerts)
    assert levels_of(PRODUCT, busy)[-1] is None
    assert run(PRODUCT.model_copy(update={"usual_volume": 120}), stream(busy, seconds=FIVE)) == []


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


NEGATIVE = ONE_MINUTE.model_copy(update={"usual_volume": 600})  # the negative streams run at 10 mentions a minute


def test_a_surge_of_negative_mentions_raises_a_negative_alert() -> None:
    alerts = run(NEGATIVE, negative_stream(negative_after=7, analysed_after=10))
    assert alerts and {a.kind for a in alerts} == {"negative"}
    assert alerts[0].negative_share is not None and alerts[0].negative_share >= NEGATIVE.negative_share


def test_more_negatives_below_the_negative_share_do_not_alert() -> None:
    assert run(NEGATIVE, negative_stream(negative_after=4, analysed_after=10)) == []  # 40 % < 50 %


def test_too_few_analysed_mentions_never_make_a_negative_alert() -> None:
    few = NEGATIVE.model_copy(update={"min_volume": 500})  # more than an hour of analysed mentions holds
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
    start = next(i for i, w in enumerate(stats) if w.window_end > curve.minute(onset(curve.counts)))
    for at in (len(stats) // 2, start + 1, start + 30):  # half-way, in the first spike, while it is kept out
        assert split_run(PRODUCT, stats, at) == replays[name]


def test_state_round_trip_keeps_negative_episodes_and_terms() -> None:
    mentions = [mention(T0 + i * MINUTE + j * timedelta(seconds=7), 0.2, hashtags=["#calme"])
                for i in range(600) for j in range(3)]
    mentions += [mention(T0 + (600 + i) * MINUTE + j * timedelta(seconds=5), -0.8, f"rappel {i} {j}",
                         keywords=["rappel"], hashtags=["#boycott"]) for i in range(30) for j in range(9)]
    stats = windows_of(mentions, 60)
    settings = ONE_MINUTE.model_copy(update={"usual_volume": 180})
    whole = run(settings, stats)
    assert {a.kind for a in whole} == {"volume", "negative"}
    for at in (300, 605, 615):
        assert split_run(settings, stats, at) == whole
    top = whole[-1]
    assert top.top_keywords[0] == ("rappel", top.top_keywords[0][1]) and top.top_hashtags[0][0] == "#boycott"
    assert 1 <= len(top.samples) <= 3 and all(s["sentiment"] == -0.8 for s in top.samples)


def test_a_state_of_another_window_is_refused() -> None:
    state = Detector(ONE_MINUTE).state()
    with pytest.raises(ValueError, match="60s window"):
        Detector.from_state(Detection(window="5m"), state)
    assert Detector.from_state(ONE_MINUTE, state).state() == state


def version_1_state(counts: list[int], last_end: datetime) -> dict[str, object]:
    """A state as version 1 saved it: every window's trailing sums per span, oldest first, no runs."""
    def sums(span: int) -> list[int | None]:
        return [sum(counts[i - span + 1 : i + 1]) if i >= span - 1 else None for i in range(len(counts))]
    return {"version": 1, "window": FIVE, "spans": [1, 3, 12], "observed": len(counts),
            "last_end": last_end.isoformat(), "volume": {str(span): sums(span) for span in (1, 3, 12)},
            "negative": {str(span): [0 if i >= span - 1 else None for i in range(len(counts))] for span in (1, 3, 12)},
            "analysed": [0] * 12, "recent": [], "episodes": {}}


def test_a_version_1_state_is_read_as_a_history_of_normal_windows() -> None:
    counts = quiet_day(12 * 8)
    end = T0 + len(counts) * timedelta(seconds=FIVE)
    restored = Detector.from_state(PRODUCT, version_1_state(counts, end))
    fresh = Detector(PRODUCT)
    for window in stream(counts, seconds=FIVE):
        fresh.observe(window)
    assert restored.state()["volume"] == fresh.state()["volume"]
    spike = stream([usual(PRODUCT, 40)], start=end, seconds=FIVE)[0]
    assert [a.level for a in restored.observe(spike)] == [a.level for a in fresh.observe(spike)] != []


@pytest.mark.parametrize(("change", "complaint"), [
    ({"version": 7}, "version 7 cannot be read"),
    ({"volume": {"pending": [[1, True]]}}, "malformed: KeyError"),
    ({"observed": "many"}, "malformed: ValueError"),
])
def test_an_unreadable_state_is_refused_naming_what_is_wrong(change: dict[str, object], complaint: str) -> None:
    state = {**Detector(PRODUCT).state(), **change}
    with pytest.raises(ValueError, match=complaint):
        Detector.from_state(PRODUCT, state)


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
