"""Detection delay on the five real CrisisLex volume curves, and false alarms on synthetic flat/ramp streams.

    .venv/bin/python bench/detection_onset.py [--seeds N]

Each `data/crisislex/<event>-volume_per_minute.csv` (minute_utc,tweets; missing minutes are zero) is replayed
one minute at a time through `Detector` with `ONE_MINUTE` settings. The onset is computed from the curve alone
(`onset`, below), never picked by hand. The synthetic streams have the total volume and duration of each real
curve: flat (every tweet at a uniformly random instant) and ramp (density rising linearly from zero), with fixed
seeds. Data: CrisisLex (MIT, © 2014 Alexandra Olteanu, Carlos Castillo); Olteanu, Vieweg, Castillo. What to
Expect When the Unexpected Happens: Social Media Communications Across Crises. CSCW 2015.

Tests (tests/unit/test_detection.py) import the helpers below, so the bench and the tests measure one thing.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing

from crisiscomms.mention import Alert  # noqa: E402
from crisiscomms.monitoring.detection import Detector, WindowStats, _Finding, _Series  # noqa: E402
from crisiscomms.playbook.monitoring import Detection, Thresholds  # noqa: E402

DATA = ROOT / "data" / "crisislex"
MINUTE = timedelta(minutes=1)

# Settings for one-minute windows (see bench/README.md, "Detection"): a 6 h baseline, an hour of warm-up.
ONE_MINUTE = Detection(
    window="1m", baseline="6h", warmup="1h"
)

# Onset: the first minute whose trailing ONSET_MINUTES hold at least ONSET_TWEETS tweets and at least
# ONSET_RATIO times the mean volume of as many minutes over the ONSET_HISTORY minutes before them.
ONSET_MINUTES = 10
ONSET_TWEETS = 5
ONSET_RATIO = 5
ONSET_HISTORY = 360
MAX_DELAY = 15  # minutes: the first alert must come within this of the onset


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


def onset(counts: Sequence[int]) -> int | None:
    """Index of the onset minute: the first whose trailing 10 minutes hold ≥ 5 tweets and ≥ 5× the mean
    10-minute volume of the 6 hours before them (an absolute floor, so a silent history does not make one tweet
    an onset, and a relative one, so a busy history needs a real rise)."""
    prefix = [0]
    for count in counts:
        prefix.append(prefix[-1] + count)
    for end in range(1, len(counts) + 1):
        recent = prefix[end] - prefix[max(0, end - ONSET_MINUTES)]
        history_start = max(0, end - ONSET_MINUTES - ONSET_HISTORY)
        history_minutes = max(1, end - ONSET_MINUTES - history_start)
        history = (prefix[max(0, end - ONSET_MINUTES)] - prefix[history_start]) * ONSET_MINUTES / history_minutes
        if recent >= ONSET_TWEETS and recent >= ONSET_RATIO * history:
            return end - 1
    return None


def windows(curve: Curve) -> list[WindowStats]:
    return [WindowStats(window_start=curve.minute(i), window_end=curve.minute(i + 1), volume=count)
            for i, count in enumerate(curve.counts)]


def replay(curve: Curve, settings: Detection = ONE_MINUTE) -> list[Alert]:
    detector = Detector(settings)
    return [alert for stats in windows(curve) for alert in detector.observe(stats)]


class _Probe(Detector):
    """A detector that alerts on anything and keeps the highest score it saw (the margin to the thresholds)."""

    def __init__(self, settings: Detection, until: int | None = None) -> None:
        super().__init__(settings.model_copy(update={"thresholds": Thresholds(watch=1e-9, alert=2e-9, crisis=3e-9)}))
        self.until = until  # windows to look at: before the onset only, for real curves
        self.peak = 0.0

    def _find(self, series: _Series, eligible) -> _Finding | None:
        finding = super()._find(series, eligible)
        if finding and (self.until is None or self._observed <= self.until):
            self.peak = max(self.peak, finding.score)
        return finding


def peak_score(curve: Curve, until: int | None = None, settings: Detection = ONE_MINUTE) -> float:
    """The highest score of any window (of the first `until` windows), whether or not it alerted."""
    probe = _Probe(settings, until)
    for stats in windows(curve):
        probe.observe(stats)
    return probe.peak


def alert_minute(curve: Curve, alert: Alert) -> int:
    """Index of the minute whose close raised the alert (the last minute it judged)."""
    return int((alert.window_end - curve.start) / MINUTE) - 1


def flat(curve: Curve, seed: int) -> Curve:
    """Same total and duration, every tweet at a uniformly random instant: Poisson-like noise, no event."""
    return _scatter(curve, "flat", seed, lambda u: u)


def ramp(curve: Curve, seed: int) -> Curve:
    """Same total and duration, density rising linearly from 0 to twice the mean: slow growth, no event."""
    return _scatter(curve, "ramp", seed, math.sqrt)  # inverse of the CDF t² of a linear density


def _scatter(curve: Curve, kind: str, seed: int, inverse_cdf) -> Curve:
    draw = random.Random(f"{curve.name}-{kind}-{seed}")
    counts = [0] * len(curve.counts)
    for _ in range(sum(curve.counts)):
        counts[min(len(counts) - 1, int(inverse_cdf(draw.random()) * len(counts)))] += 1
    return Curve(f"{curve.name} ({kind} #{seed})", curve.start, counts)


@dataclass(frozen=True)
class Row:
    name: str
    onset: datetime | None
    first: Alert | None
    delay: int | None  # minutes from onset to the first alert
    before: int  # alerts raised before the onset
    total: int
    levels: str  # levels raised, in order
    peak: float  # highest score before the onset (the whole stream when there is none)


def measure(curve: Curve, settings: Detection = ONE_MINUTE, with_onset: bool = True) -> Row:
    alerts = replay(curve, settings)
    start = onset(curve.counts) if with_onset else None
    first = alerts[0] if alerts else None
    delay = alert_minute(curve, first) - start if first and start is not None else None
    before = sum(alert_minute(curve, a) < start for a in alerts) if start is not None else 0
    levels = " ".join(a.level for a in alerts[:3]) + (" …" if len(alerts) > 3 else "")
    return Row(curve.name, curve.minute(start) if start is not None else None, first, delay, before, len(alerts),
               levels, peak_score(curve, start, settings))


def _time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "—"


def table(rows: list[Row]) -> str:
    lines = ["| event | onset (UTC) | first alert (UTC) | delay (min) | level, z | alerts before onset | "
             "peak z before onset | alerts in all | first levels |", "|---|---|---|--:|---|--:|--:|--:|---|"]
    for row in rows:
        first = row.first
        level = f"{first.level}, {first.score:.1f}" if first else "—"
        lines.append(
            f"| {row.name} | {_time(row.onset)} | {_time(first.window_end - MINUTE if first else None)} | "
            f"{row.delay if row.delay is not None else '—'} | {level} | "
            f"{row.before} | {row.peak:.1f} | {row.total} | {row.levels or '—'} |"
        )
    return "\n".join(lines)


def synthetic_table(curves: list[Curve], seeds: int) -> str:
    lines = ["| like event | stream | streams | alerts | peak z |", "|---|---|--:|--:|--:|"]
    for curve in curves:
        for make in (flat, ramp):
            rows = [measure(make(curve, seed), with_onset=False) for seed in range(seeds)]
            lines.append(f"| {curve.name} | {make.__name__} | {seeds} | {sum(r.total for r in rows)} | "
                         f"{max(r.peak for r in rows):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="synthetic streams per kind and event")
    args = parser.parse_args()
    curves = [load_curve(path) for path in curve_paths()]
    print(f"settings: {ONE_MINUTE.model_dump(exclude={'thresholds'})}, thresholds {ONE_MINUTE.levels().model_dump()}")
    print(f"\nReal curves (first alert within {MAX_DELAY} min of the onset required)\n")
    print(table([measure(curve) for curve in curves]))
    print("\nSynthetic streams of the same total and duration (no event: any alert is a false alarm)\n")
    print(synthetic_table(curves, args.seeds))


if __name__ == "__main__":
    main()
