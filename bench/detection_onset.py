"""Alert delays on the five real CrisisLex volume curves with the product's defaults, and false alarms on quiet streams.

    .venv/bin/python bench/detection_onset.py [--seeds N] [--usual-volume X …] [--sensitivity low|medium|high]
                                              [--watch W --alert A --crisis C]

Each `data/crisislex/<event>-volume_per_minute.csv` (minute_utc,tweets; missing minutes are zero) is cut into the
product's windows (`Detection()`: 5 minutes, aligned to the epoch as `WindowAccumulator` aligns them) and replayed
through a `Detector` three ways: the whole history, the history cut away at the onset (monitoring switched on as
the crisis starts: a cold start) and cut at the onset + 30 minutes (switched on in the middle of it). The onset is
computed from the curve alone (`onset`, below), never picked by hand. The quiet synthetic streams have the total
volume and duration of each real curve (a tenth of it for `low`), with fixed seeds, and are replayed from their
first minute (a cold start too). Data: CrisisLex (MIT, © 2014 Alexandra Olteanu, Carlos Castillo); Olteanu,
Vieweg, Castillo. What to Expect When the Unexpected Happens: Social Media Communications Across Crises. CSCW 2015.

Tests (tests/unit/test_detection.py) import the helpers below, so the bench and the tests measure one thing.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

from crisiscomms.mention import Alert  # noqa: E402
from crisiscomms.monitoring.baseline import Series, tail_z  # noqa: E402
from crisiscomms.monitoring.detection import Detector, _Finding  # noqa: E402
from crisiscomms.monitoring.windows import WindowStats  # noqa: E402
from crisiscomms.playbook.monitoring import Detection, Thresholds  # noqa: E402
from crisiscomms.stack.drills.curve import onset  # noqa: E402  (the one definition of an onset)

DATA = ROOT / "data" / "crisislex"
MINUTE = timedelta(minutes=1)
PRODUCT = Detection()  # what a playbook gets when it says nothing: the settings measured here

MAX_DELAY = 15  # minutes: the first alert-level alert must come within this of the onset
EARLY = 60  # minutes: an alert earlier than this before the onset is a false alarm, not an early detection
MID_CRISIS = 30  # minutes after the onset: monitoring switched on in the middle of the crisis
ALERTING = ("alert", "crisis")  # the levels that start the automated assessment


@dataclass(frozen=True)
class Curve:
    name: str
    start: datetime  # the first minute
    counts: list[int]  # tweets per minute, zeros included

    def minute(self, index: int) -> datetime:
        return self.start + index * MINUTE


def curve_paths() -> list[Path]:
    return sorted(DATA.glob("*-volume_per_minute.csv"))


def load_curve(path: Path) -> Curve:
    """A sparse per-minute CSV → a dense curve from its first to its last minute."""
    with path.open(newline="") as handle:
        rows = [(datetime.fromisoformat(row["minute_utc"].replace("Z", "+00:00")), int(row["tweets"]))
                for row in csv.DictReader(handle)]
    start = min(minute for minute, _ in rows)
    counts = [0] * (int((max(minute for minute, _ in rows) - start) / MINUTE) + 1)
    for minute, tweets in rows:
        counts[int((minute - start) / MINUTE)] += tweets
    return Curve(path.name.removesuffix("-volume_per_minute.csv"), start, counts)


def windows(curve: Curve, settings: Detection = PRODUCT, first: int = 0) -> list[WindowStats]:
    """The curve's windows of `settings.window`, aligned to the epoch, from minute `first` on (the minutes before
    it cut away: the first window may hold only its last minutes, as when monitoring is switched on mid-window)."""
    seconds = settings.window
    step = timedelta(seconds=seconds)
    origin = datetime.fromtimestamp(int(curve.minute(first).timestamp()) // seconds * seconds, UTC)
    volumes: list[int] = []
    for index in range(first, len(curve.counts)):
        slot = int((curve.minute(index) - origin) / step)
        volumes.extend([0] * (slot + 1 - len(volumes)))
        volumes[slot] += curve.counts[index]
    return [WindowStats(window_start=origin + i * step, window_end=origin + (i + 1) * step, volume=volume)
            for i, volume in enumerate(volumes)]


def replay(curve: Curve, settings: Detection = PRODUCT, first: int = 0) -> list[Alert]:
    detector = Detector(settings)
    return [alert for stats in windows(curve, settings, first) for alert in detector.observe(stats)]


def alert_minute(curve: Curve, alert: Alert) -> int:
    """Index of the minute whose close raised the alert (the last minute it judged)."""
    return int((alert.window_end - curve.start) / MINUTE) - 1


def shifted(curve: Curve, minutes: int) -> Curve:
    """The same curve `minutes` later: the windows' boundaries fall elsewhere in the event (a robustness check)."""
    return Curve(curve.name, curve.start + minutes * MINUTE, curve.counts)


class _Probe(Detector):
    """A detector that also keeps the highest volume score it computed, whether or not it alerted (the margin
    to the thresholds). It judges exactly as the product does: the score is computed beside the judgement."""

    def __init__(self, settings: Detection) -> None:
        super().__init__(settings)
        self.peak = 0.0

    def _judge(self, series: Series, span: int) -> _Finding | None:
        observed = series.observed(span)
        if series is self._series["volume"] and observed is not None and observed >= self.settings.min_volume:
            expected = series.expected(span)
            if observed > expected:
                self.peak = max(self.peak, tail_z(observed, expected, series.dispersion(span, expected)))
        return super()._judge(series, span)


def probe(curve: Curve, settings: Detection = PRODUCT) -> tuple[list[Alert], float]:
    """The alerts of a whole stream and its highest volume score."""
    detector = _Probe(settings)
    alerts = [alert for stats in windows(curve, settings) for alert in detector.observe(stats)]
    return alerts, detector.peak


# --- quiet synthetic streams (no event: any alert is a false alarm) ---------------------------------------


def flat(curve: Curve, seed: int) -> Curve:
    """Same total and duration, every tweet at a uniformly random instant: Poisson-like noise, no event."""
    return _scatter(curve, "flat", seed, lambda u: u)


def ramp(curve: Curve, seed: int) -> Curve:
    """Same total and duration, density rising linearly from 0 to twice the mean: slow growth, no event."""
    return _scatter(curve, "ramp", seed, math.sqrt)  # inverse of the CDF t² of a linear density


def daily(curve: Curve, seed: int) -> Curve:
    """Same total and duration, a daily cycle: the density swings between 0.2× and 1.8× the mean (9 to 1)."""
    turns = 2 * math.pi * len(curve.counts) / 1440  # radians of the cycle over the whole stream

    def cumulative(t: float) -> float:  # the integral of 1 + 0.8 sin(turns · t) from 0 to t
        return t + 0.8 * (1 - math.cos(turns * t)) / turns

    return _scatter(curve, "daily", seed, _inverse(lambda u: cumulative(u) / cumulative(1.0)))


def low(curve: Curve, seed: int) -> Curve:
    """A tenth of the total over the same duration, uniformly: a low-volume stream (0.3 to 2 mentions an hour)."""
    return _scatter(curve, "low", seed, lambda u: u, total=sum(curve.counts) // 10)


def slow_rise(curve: Curve, seed: int) -> Curve:
    """Flat for the first half, then a rise to 3× that level over 24 hours, kept to the end: growth, no burst."""
    minutes = len(curve.counts)
    half, rise = minutes // 2, min(1440, minutes - minutes // 2)

    def cumulative(t: float) -> float:  # the density's integral up to minute t, level 1 before the rise
        grown = min(max(t - half, 0.0), rise)
        return t + grown * grown / rise + 2 * max(t - half - rise, 0.0)

    return _scatter(curve, "slow rise", seed, _inverse(lambda u: cumulative(u * minutes) / cumulative(minutes)))


QUIET: tuple[Callable[[Curve, int], Curve], ...] = (flat, ramp, daily, low, slow_rise)


def _inverse(cdf: Callable[[float], float]) -> Callable[[float], float]:
    """The inverse of an increasing cdf on [0, 1] (cdf(0) = 0, cdf(1) = 1), by bisection: draws from its density."""
    def inverse(u: float) -> float:
        low_end, high_end = 0.0, 1.0
        for _ in range(40):
            middle = (low_end + high_end) / 2
            low_end, high_end = (middle, high_end) if cdf(middle) < u else (low_end, middle)
        return low_end
    return inverse


def _scatter(curve: Curve, kind: str, seed: int, inverse_cdf: Callable[[float], float],
             total: int | None = None) -> Curve:
    draw = random.Random(f"{curve.name}-{kind}-{seed}")
    counts = [0] * len(curve.counts)
    for _ in range(sum(curve.counts) if total is None else total):
        counts[min(len(counts) - 1, int(inverse_cdf(draw.random()) * len(counts)))] += 1
    return Curve(f"{curve.name} ({kind} #{seed})", curve.start, counts)


# --- measures ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """The first alerts of one replay, in minutes from the onset — or from the switch-on, for a replay that starts
    after the onset (None: never)."""

    watch: int | None  # the first alert of any level
    alert: int | None  # the first at alert level or above (what starts the automated assessment)
    early: int  # alerts more than EARLY minutes before the onset
    latest: int | None = None  # the latest `alert` over the 5 places the 5-minute grid can fall (None: one never)
    reach: float = 0.0  # the highest volume score of the windows closed within MAX_DELAY minutes


@dataclass(frozen=True)
class Row:
    name: str
    onset: datetime
    replays: dict[str, Replay]  # "full", "onset", "onset+30"


def replays_of(curve: Curve) -> dict[str, int]:
    """Where each replay starts: the whole history, the onset, the onset + MID_CRISIS minutes."""
    start = onset(curve.counts)
    if start is None:
        raise ValueError(f"{curve.name}: the curve has no onset")
    return {"full": 0, "onset": start, f"onset+{MID_CRISIS}": start + MID_CRISIS}


def measure_replay(curve: Curve, first: int, settings: Detection = PRODUCT) -> Replay:
    start = onset(curve.counts)
    assert start is not None
    since = max(start, first)
    delays = [(alert.level, alert_minute(curve, alert) - since) for alert in replay(curve, settings, first)]
    return Replay(
        watch=next((delay for _, delay in delays), None),
        alert=next((delay for level, delay in delays if level in ALERTING), None),
        early=sum(delay < since - start - EARLY for _, delay in delays),
        reach=reach(curve, first, curve.minute(since + MAX_DELAY + 1), settings),
    )


def reach(curve: Curve, first: int, until: datetime, settings: Detection = PRODUCT) -> float:
    """The highest volume score of the windows closed by `until` (replayed from minute `first`): what any
    threshold would have to be below to alert by then."""
    detector = _Probe(settings)
    for stats in windows(curve, settings, first):
        if stats.window_end > until:
            break
        detector.observe(stats)
    return detector.peak


def measure(curve: Curve, settings: Detection = PRODUCT) -> Row:
    """Each replay's first alerts, and the latest first alert-level delay wherever the window grid falls."""
    firsts = replays_of(curve)
    replays = {}
    for name, first in firsts.items():
        found = measure_replay(curve, first, settings)
        moved = [found.alert, *(measure_replay(shifted(curve, minutes), first, settings).alert
                                for minutes in range(1, settings.window // 60))]
        latest = None if None in moved else max(delay for delay in moved if delay is not None)
        replays[name] = Replay(found.watch, found.alert, found.early, latest, found.reach)
    return Row(curve.name, curve.minute(firsts["onset"]), replays)


@dataclass(frozen=True)
class QuietRow:
    like: str
    kind: str
    streams: int
    watch: int  # alerts at watch level (false alarms, the lightest)
    alerting: int  # alerts at alert level or above (false alarms that would start an assessment)
    streams_alerting: int
    peak: float


def measure_quiet(curve: Curve, make: Callable[[Curve, int], Curve], seeds: int,
                  settings: Detection = PRODUCT) -> QuietRow:
    runs = [probe(make(curve, seed), settings) for seed in range(seeds)]
    levels = [[alert.level for alert in alerts] for alerts, _ in runs]
    return QuietRow(curve.name, make.__name__.replace("_", " "), seeds,
                    sum(found.count("watch") for found in levels),
                    sum(level in ALERTING for found in levels for level in found),
                    sum(any(level in ALERTING for level in found) for found in levels),
                    max(peak for _, peak in runs))


# --- report ------------------------------------------------------------------------------------------------


def _minutes(delay: int | None) -> str:
    return "never" if delay is None else f"{delay:+d}" if delay < 0 else str(delay)


def table(rows: list[Row]) -> Iterator[str]:
    names = list(rows[0].replays)
    yield ("| event | onset (UTC) | " + " | ".join(f"{name}: first / alert level (latest)" for name in names)
           .replace(f"onset+{MID_CRISIS}:", f"switched on at onset+{MID_CRISIS}, from then:")
           + " | alerts > 1 h before onset |")
    yield "|---|---|" + "--:|" * (len(names) + 1)
    for row in rows:
        cells = [f"{_minutes(r.watch)} / **{_minutes(r.alert)}** ({_minutes(r.latest)})" for r in row.replays.values()]
        yield (f"| {row.name} | {row.onset.astimezone(UTC):%Y-%m-%d %H:%M} | " + " | ".join(cells)
               + f" | {sum(r.early for r in row.replays.values())} |")


def quiet_table(rows: list[QuietRow]) -> Iterator[str]:
    yield "| like event | stream | streams | watch alerts | alert-level alerts (streams) | peak z |"
    yield "|---|---|--:|--:|--:|--:|"
    for row in rows:
        yield (f"| {row.like} | {row.kind} | {row.streams} | {row.watch} | {row.alerting} ({row.streams_alerting}) "
               f"| {row.peak:.1f} |")


def verdict(rows: list[Row], quiet: list[QuietRow]) -> Iterator[str]:
    noise = max(r.peak for r in quiet)
    for name in rows[0].replays:
        late = [row for row in rows if (delay := row.replays[name].alert) is None or delay > MAX_DELAY]
        moved = [row.name for row in rows if (delay := row.replays[name].latest) is None or delay > MAX_DELAY]
        yield (f"{name}: alert level within {MAX_DELAY} min on {len(rows) - len(late)} of {len(rows)} curves"
               + (f" (not: {', '.join(row.name for row in late)})" if late else "")
               + f"; wherever the window grid falls: {len(rows) - len(moved)} of {len(rows)}")
        for row in late:  # can any threshold alert on it in time, and stay silent on the quiet streams?
            top = row.replays[name].reach
            yield (f"  {row.name}: highest z within {MAX_DELAY} min {top:.1f}, "
                   + (f"below the {noise:.1f} a quiet stream reached: no threshold alerts on it in time without "
                      "false alarms" if top <= noise else f"above the quiet streams' {noise:.1f}"))
    yield (f"quiet streams: {sum(r.alerting for r in quiet)} alert-level and {sum(r.watch for r in quiet)} watch "
           f"false alarms on {sum(r.streams for r in quiet)} streams, peak z {max(r.peak for r in quiet):.1f}")


def settings_from(args: argparse.Namespace, usual_volume: float | None) -> Detection:
    update: dict[str, object] = {}
    if usual_volume is not None:
        update["usual_volume"] = usual_volume
    if args.sensitivity is not None:
        update["sensitivity"] = args.sensitivity
    if args.watch is not None:
        update["thresholds"] = Thresholds(watch=args.watch, alert=args.alert, crisis=args.crisis)
    return Detection(**{**PRODUCT.model_dump(exclude={"thresholds"}), **update}) if update else PRODUCT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="quiet streams per kind and event")
    parser.add_argument("--usual-volume", type=float, nargs="*", default=[None],
                        help="other `usual_volume` values to compare (mentions an hour)")
    parser.add_argument("--sensitivity", choices=["low", "medium", "high"])
    parser.add_argument("--watch", type=float, help="with --alert and --crisis: thresholds instead of a preset")
    parser.add_argument("--alert", type=float)
    parser.add_argument("--crisis", type=float)
    args = parser.parse_args()
    curves = [load_curve(path) for path in curve_paths()]
    for usual in args.usual_volume:
        settings = settings_from(args, usual)
        print(f"settings: {settings.model_dump(exclude={'thresholds'})}, thresholds {settings.levels().model_dump()}")
        print(f"\nReal curves: minutes from the onset to the first alert / the first alert-level alert "
              f"(within {MAX_DELAY} required)\n")
        rows = [measure(curve, settings) for curve in curves]
        print("\n".join(table(rows)))
        print("\nQuiet synthetic streams, replayed from their first minute (no event: any alert is a false alarm)\n")
        quiet = [measure_quiet(curve, make, args.seeds, settings) for make in QUIET for curve in curves]
        print("\n".join(quiet_table(quiet)))
        print("\n" + "\n".join(verdict(rows, quiet)) + "\n")


if __name__ == "__main__":
    main()
