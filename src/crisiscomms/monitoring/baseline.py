"""The baseline a window is judged against, and how surprising a count is against it (see `detection`).

`tail_z` turns a count and its expectation into a z; `Series` keeps one quantity's counts per window: the trailing
span being judged, the baseline of windows judged normal, and the same time of day on the days before.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import islice
from statistics import NormalDist
from typing import Any

MAD_TO_SD = 1.4826  # MAD of a normal sample × this = its standard deviation
MIN_TAIL = 1e-300  # tail probabilities below this saturate the score (z ≈ 37)
DAY = 86400
SEASON_DAYS = 7  # days whose same time of day is looked up


def tail_z(observed: float, expected: float, dispersion: float = 1.0) -> float:
    """z of the normal tail equal to P(X ≥ observed), X quasi-Poisson (mean `expected`, variance × dispersion).

    0 when nothing exceeds the expectation; saturates near 37 (tail below MIN_TAIL).
    """
    if observed <= expected:
        return 0.0
    log_tail = _log_poisson_tail(observed / dispersion, expected / dispersion)
    return -NormalDist().inv_cdf(max(math.exp(log_tail), MIN_TAIL))


def _log_poisson_tail(count: float, mean: float) -> float:
    """log P(Poisson(mean) ≥ count), continuous in count: the regularized lower incomplete gamma P(count, mean).

    Series x^a e^-x / Γ(a+1) · Σ x^n / ((a+1)…(a+n)); its terms shrink from the first since count > mean.
    """
    term = total = 1.0
    n = 0
    while term > total * 1e-12:
        n += 1
        term *= mean / (count + n)
        total += term
    return count * math.log(mean) - mean - math.lgamma(count + 1) + math.log(total)


def normal_z(observed: float, expected: float, dispersion: float = 1.0) -> float:
    # an upper bound of tail_z (a Poisson's right tail is heavier than the normal's): a cheap first filter
    return (observed - expected) / math.sqrt(expected * dispersion)


def _median(ordered: Sequence[float]) -> float:
    middle = len(ordered) // 2
    return (ordered[middle] + ordered[~middle]) / 2


def _discard(ordered: list[int], value: int | None) -> None:
    if value is not None:
        del ordered[bisect_left(ordered, value)]


class Series:
    """Counts per window of one quantity: the trailing span being judged and the baseline it is judged against.

    The last `longest` windows are pending (the span being judged never dilutes its own baseline). A window
    leaving them joins the baseline only if it was judged normal — or its stream had been abnormal for `relearn`
    (`admit`). The baseline is the `baseline_windows` latest windows that joined, kept as sorted sums of each
    span (sums of consecutive joined windows: the abnormal ones between them are skipped), so that a median
    costs nothing. While it holds fewer, the usual volume (`prior`, per window) fills the rest.

    With `per_day` (windows a day), every window leaving the trailing span is also kept for `SEASON_DAYS` days
    (`Season`), and the expectation is never below what the same time of day usually held on those days: a daily
    cycle's evening peak is judged against the evenings before, not against the afternoon.
    """

    def __init__(self, baseline_windows: int, spans: tuple[int, ...], prior: float,
                 per_day: int | None = None) -> None:
        self.spans = spans  # ascending, starting with 1 (the window itself)
        self.longest = spans[-1]
        self.baseline_windows = baseline_windows
        self.prior = prior
        self.pending: deque[list[Any]] = deque()  # [count, joins the baseline, joins the season] when it leaves
        self.joined: deque[int] = deque(maxlen=self.longest)  # the latest counts that joined, for their sums
        self.sums: dict[int, deque[int]] = {span: deque(maxlen=baseline_windows) for span in spans}
        self.base: dict[int, list[int]] = {span: [] for span in spans}
        self.season = Season(per_day, self.longest) if per_day and per_day >= 2 * self.longest else None

    @property
    def memory(self) -> int:
        """Windows after which an empty one changes nothing more: the baseline, the season and the span."""
        season = SEASON_DAYS * self.season.per_day if self.season else 0
        return max(self.baseline_windows, season) + self.longest

    def push(self, count: int) -> None:
        """A new window, pending; the one leaving the trailing span joins the baseline if it was admitted."""
        self.pending.append([count, True, True])
        if len(self.pending) > self.longest:
            left, admitted, usual = self.pending.popleft()
            if admitted:
                self._join(left)
            if self.season:
                self.season.counts.append((left, usual))

    def admit(self, admitted: bool) -> None:
        """Whether the latest window will join the baseline (it was just judged)."""
        self.pending[-1][1] = admitted

    def unusual(self) -> None:
        """The latest window reached alert level: never a time of day's normal."""
        self.pending[-1][2] = False

    def _join(self, count: int) -> None:
        self.joined.append(count)
        for span, sums in self.sums.items():
            if len(self.joined) < span:
                continue
            if len(sums) == sums.maxlen:
                _discard(self.base[span], sums[0])
            sums.append(sum(islice(reversed(self.joined), span)))
            insort(self.base[span], sums[-1])

    def observed(self, span: int) -> int | None:
        """The sum of the latest `span` windows; None while fewer were seen."""
        if len(self.pending) < span:
            return None
        return sum(item[0] for item in islice(reversed(self.pending), span))

    def history(self) -> float:
        """Share of the baseline made of windows seen (the rest is the usual volume)."""
        return min(1.0, len(self.base[1]) / self.baseline_windows)

    def expected(self, span: int) -> float:
        """Baseline count of `span` windows: what was seen, mixed with the usual volume while history is short."""
        seen = self.history()
        usual = span * self.prior
        recent = usual if seen == 0 else seen * self._learned(span) + (1 - seen) * usual
        return max(recent, self.season.expected(span, len(self.pending))) if self.season else recent

    def _learned(self, span: int) -> float:
        baseline, longest = self.base[span], self.base[self.longest]
        floor = span * self.sparse_rate()
        if not baseline:  # fewer windows joined than the span: the single windows, scaled
            return max(span * _median(self.base[1]), floor)
        prorated = _median(longest) * span / self.longest if longest else 0.0
        return max(_median(baseline), prorated, floor)

    def sparse_rate(self) -> float:
        """Mentions per window implied by the share of non-empty windows: −ln(1 − share), Poisson's occupancy.

        The median of a sparse stream is 0 whatever its rate; the share of non-empty windows is not, and a
        burst weighs in by its duration, never its size. Smoothed as one more window, empty, and at least one
        mention: an all-zero baseline means about one mention per baseline, never zero. Only used where the
        median says nothing (at most half the windows non-empty): a regular dense stream has every window
        non-empty, and the estimate would then be ln(windows + 1), whatever the volume.
        """
        windows = len(self.base[1])
        non_empty = windows - bisect_right(self.base[1], 0)
        return -math.log1p(-min(max(non_empty, 1) / (windows + 1), 0.5))

    def dispersion(self, span: int, expected: float) -> float:
        """Quasi-Poisson variance factor of the baseline, in proportion to its history (the usual volume: 1)."""
        baseline = self.base[span]
        if len(baseline) < 2:
            return 1.0
        middle = _median(baseline)
        spread = MAD_TO_SD * _median(sorted(abs(value - middle) for value in baseline))
        return 1.0 + self.history() * max(0.0, spread * spread / expected - 1.0)

    def dump(self) -> dict[str, Any]:
        return {"pending": [list(item) for item in self.pending], "joined": list(self.joined),
                "sums": {str(span): list(sums) for span, sums in self.sums.items()},
                "season": self.season.dump() if self.season else []}

    @classmethod
    def load(cls, baseline_windows: int, spans: tuple[int, ...], prior: float, data: dict[str, Any],
             per_day: int | None = None) -> Series:
        """A series as `dump` left it (a version 2 state: no season, every pending window usual)."""
        series = cls(baseline_windows, spans, prior, per_day)
        series.pending.extend([int(item[0]), bool(item[1]), bool(item[2]) if len(item) > 2 else True]
                              for item in data["pending"])
        if series.season:
            series.season.load(data.get("season", []))
        series.joined.extend(int(count) for count in data["joined"])
        for span, sums in series.sums.items():
            sums.extend(int(value) for value in data["sums"][str(span)])
            series.base[span] = sorted(sums)
        return series

    @classmethod
    def from_counts(cls, baseline_windows: int, spans: tuple[int, ...], prior: float,
                    counts: Iterable[int], per_day: int | None = None) -> Series:
        """A series that saw `counts` (oldest first) and judged them all normal: how a version 1 state reads."""
        series = cls(baseline_windows, spans, prior, per_day)
        for count in counts:
            series.push(int(count))
        return series


class Season:
    """The counts of the windows of the last `SEASON_DAYS` days, oldest first, each with whether it was usual
    (not judged at alert level), so that the same time of day can be looked up. Each day gives the sum of an hour
    (`longest` windows) centred on the span judged, at that time of day: a smoother figure than one window. The
    expectation is the lower median of those days, prorated to the span: one crisis among the days does not move
    it, a peak that comes back every day does. With a single day known, an hour holding an unusual window is left
    out: yesterday's crisis is not today's normal until it has come back. No day, no expectation (0): a cold start
    is the baseline's and the usual volume's business."""

    def __init__(self, per_day: int, longest: int) -> None:
        self.per_day = per_day
        self.longest = longest
        self.counts: deque[tuple[int, bool]] = deque(maxlen=SEASON_DAYS * per_day)

    def expected(self, span: int, after: int) -> float:
        """For the span ending `after` windows after the last one kept (the pending ones)."""
        centre = (span - 1) // 2 - (self.longest - 1) // 2  # the hour is centred on the span's middle
        days = [hour for day in range(1, SEASON_DAYS + 1)
                if (hour := self._hour(day * self.per_day - after + centre))]
        if len(days) == 1 and not days[0][1]:
            return 0.0
        totals = sorted(total for total, _ in days)
        return totals[(len(totals) - 1) // 2] * span / self.longest if totals else 0.0

    def _hour(self, back: int) -> tuple[int, bool] | None:
        """The sum of the hour whose newest window is `back` windows before the last one kept, and whether all its
        windows were usual (None: not kept)."""
        newest = len(self.counts) - 1 - back
        oldest = newest - self.longest + 1
        if oldest < 0 or newest >= len(self.counts):
            return None
        hour = [self.counts[index] for index in range(oldest, newest + 1)]
        return sum(count for count, _ in hour), all(usual for _, usual in hour)

    def dump(self) -> list[list[Any]]:
        return [[count, usual] for count, usual in self.counts]

    def load(self, data: Iterable[Sequence[Any]]) -> None:
        self.counts.extend((int(count), bool(usual)) for count, usual in data)
