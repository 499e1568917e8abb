"""Spike detection on mention volume: fixed windows, a robust rolling baseline, one alert per level reached.

How a window is judged
----------------------
Each closed window is judged at three scales (`SCALES`): the window alone (a sharp burst shows at once), the
trailing quarter of an hour and the trailing hour ending with it (evidence of a sustained rise that no single
window shows: one to three mentions a minute after hours of silence). With 1-minute windows the spans are 1, 15
and 60 windows; with 5-minute windows 1, 3 and 12. Every scale is compared with the `baseline_windows` windows
that precede the longest span, so a rise never dilutes its own baseline:

- expected count: the median of the baseline's sums of the same length — a past spike barely moves a median,
  where it drags a mean or an EWMA for hours. Never below the window's share of the hourly median, nor — for
  sparse streams, whose median is 0 at any rate below 0.7 a window — below the rate implied by the share of
  non-empty windows; a silent baseline reads as about one mention per baseline: "rare", not "impossible", so
  one mention is never an infinite surprise.
- dispersion: (1.4826 · MAD)² / expected, at least 1. A bursty stream widens its own noise band
  (quasi-Poisson); a steady one is judged by counting noise alone.

The score is the z whose normal upper tail equals the quasi-Poisson tail P(X ≥ observed). Why not the plain
robust z = (x − median) / (1.4826 · MAD): counts of a few mentions a minute are discrete and skewed, the MAD of
a sparse stream is 0 (any floor then decides everything), and replaying flat Poisson streams of the CrisisLex
volumes, a plain z ≥ 3 fired about a hundred times a month. The tail z means the same at 2 and at 2 000 mentions
a window — how unlikely the count is if nothing is happening: z 5 ≈ 3e-7, z 6 ≈ 1e-9 per judgement. Why not an
EWMA: it follows a spike within a few windows and, not being robust, yesterday's spike blunts today's alerts.

`min_volume` applies to the count judged, at every scale. A `negative` alert needs both a surge of negative
mentions against their own baseline (same score) and a negative share of at least `negative_share` among at
least `min_volume` analysed mentions of the same span.

Alerts are de-duplicated per kind by episode: an episode lasts while hot windows (score at least `watch`, at any
scale — so a spike stays hot while it is in the trailing hour) are less than `cooldown` seconds apart, and
raises one alert per level it reaches: the first, then each escalation (watch → alert → crisis). The same or a
lower level is never raised twice in an episode.

The `Detector` is streaming and its `state()` is plain JSON, so a scheduled run continues the baseline of the
previous one (`Detector.from_state`). The library never imports Prefect.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from statistics import NormalDist
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from crisiscomms.mention import Alert, AlertKind, AlertLevel, EnrichedMention
from crisiscomms.playbook.monitoring import Detection

NEGATIVE_CUT = -0.05  # sentiment below this counts as negative (VADER's convention for its compound score)
SAMPLE_CHARS = 280
SAMPLES = 3  # sample mentions kept per window and shown per alert
TOP_TERMS = 5  # keywords and hashtags shown per alert
KEPT_TERMS = 20  # terms a window keeps in the detector's memory: plenty for a top 5 over a span
SCALES = (900, 3600)  # seconds judged together besides the window itself: a quarter and an hour
MAD_TO_SD = 1.4826  # MAD of a normal sample × this = its standard deviation
MIN_TAIL = 1e-300  # tail probabilities below this saturate the score (z ≈ 37)
STATE_VERSION = 1
LEVELS: tuple[AlertLevel, ...] = ("watch", "alert", "crisis")


class Sample(BaseModel):
    """A mention shown with an alert, so that a human sees what the spike is about."""

    model_config = ConfigDict(frozen=True)

    id: str
    text: str = Field(max_length=SAMPLE_CHARS)
    created_at: datetime
    sentiment: float | None = None


class WindowStats(BaseModel):
    """What one fixed window [window_start, window_end) holds: counts, terms and a few samples."""

    model_config = ConfigDict(frozen=True)

    window_start: datetime
    window_end: datetime
    volume: int = Field(0, ge=0)
    negative: int = Field(0, ge=0, description=f"Mentions with a sentiment below {NEGATIVE_CUT}.")
    analysed: int = Field(0, ge=0, description="Mentions with a sentiment (the base of the negative share).")
    keywords: dict[str, int] = Field(default_factory=dict)
    hashtags: dict[str, int] = Field(default_factory=dict)
    samples: list[Sample] = Field(default_factory=list, max_length=SAMPLES)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def window_index(moment: datetime, window_seconds: int) -> int:
    """Which window of `window_seconds`, counted from the epoch, holds `moment` (naive: UTC)."""
    return int(_utc(moment).timestamp() // window_seconds)


def _sample(mention: EnrichedMention) -> Sample:
    created = _utc(mention.created_at)
    return Sample(id=mention.id, text=mention.text[:SAMPLE_CHARS], created_at=created, sentiment=mention.sentiment)


def _sample_order(sample: Sample) -> tuple[float, datetime, str]:
    # most negative first (what a crisis team needs to read), then the earliest
    return (sample.sentiment if sample.sentiment is not None else 0.0, sample.created_at, sample.id)


class WindowAccumulator:
    """Mentions → consecutive windows aligned to the epoch, empty ones included (zeros are baseline too).

    Fed mention by mention, in any order and in as many calls as wanted, without keeping the mentions: per
    non-empty window a few counters and its SAMPLES best samples. Memory grows with the number of windows, not
    of mentions, so a whole file (or a long span of the store) is detected on after its mentions were written
    out. Naive timestamps are read as UTC.
    """

    def __init__(self, window_seconds: int) -> None:
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.window_seconds = window_seconds
        self._tallies: dict[int, _Tally] = {}

    def add(self, mentions: Iterable[EnrichedMention]) -> None:
        for mention in mentions:
            index = window_index(mention.created_at, self.window_seconds)
            tally = self._tallies.get(index)
            if tally is None:
                tally = self._tallies[index] = _Tally()
            tally.add(mention)

    def windows(self, start: datetime | None = None, end: datetime | None = None) -> Iterator[WindowStats]:
        """The windows from the one holding `start` (else the first mention's) to the one holding the instant
        before `end` (else the last mention's), one at a time. Mentions outside that range are left out: the
        neighbouring run counts them."""
        seconds = self.window_seconds
        first = window_index(start, seconds) if start is not None else min(self._tallies, default=None)
        last = (window_index(end - timedelta(microseconds=1), seconds) if end is not None
                else max(self._tallies, default=None))
        if first is None or last is None:
            return
        for index in range(first, last + 1):
            tally = self._tallies.get(index)
            yield (tally or _Tally()).stats(index, seconds)


@dataclass
class _Tally:
    """What a window holds, updated one mention at a time."""

    volume: int = 0
    negative: int = 0
    analysed: int = 0
    keywords: Counter[str] = field(default_factory=Counter)
    hashtags: Counter[str] = field(default_factory=Counter)
    samples: list[tuple[tuple[float, datetime, str], Sample]] = field(default_factory=list)

    def add(self, mention: EnrichedMention) -> None:
        self.volume += 1
        if mention.sentiment is not None:
            self.analysed += 1
            self.negative += mention.sentiment < NEGATIVE_CUT
        # a term repeated within one mention counts once; in order of first appearance, hence stable ties
        self.keywords.update(list(dict.fromkeys(mention.keywords)))
        self.hashtags.update(list(dict.fromkeys(mention.hashtags)))
        self._offer(mention)

    def _offer(self, mention: EnrichedMention) -> None:
        """Keep the SAMPLES first in `_sample_order`; on a tie the earlier arrival stays ahead."""
        sentiment = mention.sentiment if mention.sentiment is not None else 0.0
        key = (sentiment, _utc(mention.created_at), mention.id)
        place = bisect_right([kept for kept, _ in self.samples], key)
        if place < SAMPLES:  # the Sample (a validated model) is only built for mentions that are kept
            self.samples.insert(place, (key, _sample(mention)))
            del self.samples[SAMPLES:]

    def stats(self, index: int, window_seconds: int) -> WindowStats:
        start = datetime.fromtimestamp(index * window_seconds, UTC)
        return WindowStats(
            window_start=start, window_end=start + timedelta(seconds=window_seconds), volume=self.volume,
            negative=self.negative, analysed=self.analysed, keywords=dict(self.keywords),
            hashtags=dict(self.hashtags), samples=[sample for _, sample in self.samples],
        )


# --- scoring -----------------------------------------------------------------------------------------------


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


def _normal_z(observed: float, expected: float, dispersion: float = 1.0) -> float:
    # an upper bound of tail_z (a Poisson's right tail is heavier than the normal's): a cheap first filter
    return (observed - expected) / math.sqrt(expected * dispersion)


def _median(ordered: Sequence[float]) -> float:
    middle = len(ordered) // 2
    return (ordered[middle] + ordered[~middle]) / 2


def _discard(ordered: list[int], value: int | None) -> None:
    if value is not None:
        del ordered[bisect_left(ordered, value)]


def _insort(ordered: list[int], value: int | None) -> None:
    if value is not None:
        insort(ordered, value)


class _Series:
    """Counts per window of one quantity, their trailing sums over each span, and the baseline of each span
    (the sums ending before the longest span), kept sorted so that a median costs nothing."""

    def __init__(self, baseline_windows: int, spans: tuple[int, ...]) -> None:
        self.spans = spans  # ascending, starting with 1 (the window itself)
        self.longest = spans[-1]
        keep = baseline_windows + self.longest
        self.sums: dict[int, deque[int | None]] = {span: deque(maxlen=keep) for span in spans}  # None: too early
        self.base: dict[int, list[int]] = {span: [] for span in spans}

    def push(self, count: int) -> None:
        counts = self.sums[1]
        full = len(counts) == counts.maxlen  # the oldest window leaves the baseline
        trailing = {span: count + sum(islice(reversed(counts), span - 1)) if len(counts) >= span - 1 else None
                    for span in self.spans}
        for span, sums in self.sums.items():
            if full:
                _discard(self.base[span], sums[0])
            sums.append(trailing[span])
            if len(sums) > self.longest:  # the sum ending just before the longest span joins the baseline
                _insort(self.base[span], sums[-self.longest - 1])

    def observed(self, span: int) -> int | None:
        return self.sums[span][-1]

    def expected(self, span: int) -> float | None:
        """Baseline count of `span` windows; None while the baseline cannot say."""
        baseline, longest = self.base[span], self.base[self.longest]
        if not baseline:
            return None
        prorated = _median(longest) * span / self.longest if longest else 0.0
        return max(_median(baseline), prorated, span * self.sparse_rate())

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
        baseline = self.base[span]
        middle = _median(baseline)
        spread = MAD_TO_SD * _median(sorted(abs(value - middle) for value in baseline))
        return max(1.0, spread * spread / expected)

    def dump(self) -> dict[str, list[int | None]]:
        return {str(span): list(sums) for span, sums in self.sums.items()}

    @classmethod
    def load(cls, baseline_windows: int, spans: tuple[int, ...], data: dict[str, list[int | None]]) -> _Series:
        series = cls(baseline_windows, spans)
        for span, sums in series.sums.items():
            sums.extend(data[str(span)])
            baseline = islice(sums, max(0, len(sums) - series.longest))
            series.base[span] = sorted(value for value in baseline if value is not None)
        return series


@dataclass(frozen=True)
class _Finding:
    windows: int  # how many windows were judged together (a span)
    observed: int
    expected: float
    score: float


@dataclass(frozen=True)
class _Episode:
    level: int  # 1 watch, 2 alert, 3 crisis: the highest raised so far
    last_hot: datetime  # end of the latest window at or above watch


class Detector:
    """Streaming spike detector: feed closed windows in order to `observe`, keep `state()` between runs.

    Nothing is judged before `warmup_windows` windows and one longest span plus a window have been seen: the
    baseline never includes the span being judged.
    """

    def __init__(self, settings: Detection) -> None:
        self.settings = settings
        self.thresholds = settings.levels()
        self.spans = tuple(sorted({1, *(max(1, seconds // settings.window) for seconds in SCALES)}))
        self._volume = _Series(settings.baseline_windows, self.spans)
        self._negative = _Series(settings.baseline_windows, self.spans)
        self._analysed: deque[int] = deque(maxlen=self.spans[-1])
        self._recent: deque[WindowStats] = deque(maxlen=self.spans[-1])
        self._observed = 0
        self._last_end: datetime | None = None
        self._episodes: dict[AlertKind, _Episode] = {}

    def observe(self, stats: WindowStats) -> list[Alert]:
        """Judge one closed window. Windows already seen are ignored; missing ones count as empty."""
        if (stats.window_end - stats.window_start).total_seconds() != self.settings.window:
            raise ValueError(f"window of {stats.window_start}..{stats.window_end} is not {self.settings.window}s")
        if self._last_end is not None:
            if stats.window_start < self._last_end:
                return []
            self._fill_gap(stats.window_start)
        self._push(stats)
        volume = self._find(self._volume, lambda windows: True)
        negative = self._find(self._negative, self._negative_enough)
        return [alert for alert in (self._raise("volume", volume), self._raise("negative", negative)) if alert]

    def next_window_start(self) -> datetime | None:
        """Where the next run's windows start: the end of the last window seen (None before any)."""
        return self._last_end

    def _fill_gap(self, start: datetime) -> None:
        missing, rest = divmod(int((start - self._last_end).total_seconds()), self.settings.window)
        if rest:
            raise ValueError(f"window {start} is not aligned with the previous one ending {self._last_end}")
        kept = min(missing, self.settings.baseline_windows + self.spans[-1])  # older ones would fall out anyway
        self._observed += missing - kept
        step = timedelta(seconds=self.settings.window)
        for back in range(kept, 0, -1):
            self._push(WindowStats(window_start=start - back * step, window_end=start - (back - 1) * step))

    def _push(self, stats: WindowStats) -> None:
        self._volume.push(stats.volume)
        self._negative.push(stats.negative)
        self._analysed.append(stats.analysed)
        trimmed = {"keywords": _trim(stats.keywords), "hashtags": _trim(stats.hashtags)}
        self._recent.append(stats.model_copy(update=trimmed))
        self._observed += 1
        self._last_end = stats.window_end

    def _find(self, series: _Series, eligible: Callable[[int], bool]) -> _Finding | None:
        """The most surprising scale at or above watch, or None (warming up, too few mentions, nothing hot)."""
        if self._observed < self.settings.warmup_windows:
            return None
        findings = [self._judge(series, span) for span in self.spans if eligible(span)]
        hot = [finding for finding in findings if finding and finding.score >= self.thresholds.watch]
        return max(hot, key=lambda finding: finding.score, default=None)

    def _judge(self, series: _Series, span: int) -> _Finding | None:
        observed, expected = series.observed(span), series.expected(span)
        if observed is None or expected is None or observed < self.settings.min_volume:
            return None
        if _normal_z(observed, expected) < self.thresholds.watch:  # most windows stop here, cheaply
            return None
        score = tail_z(observed, expected)
        if score >= self.thresholds.watch:  # the dispersion can only lower the score: only computed when it matters
            score = tail_z(observed, expected, series.dispersion(span, expected))
        return _Finding(span, observed, expected, score)

    def _negative_enough(self, span: int) -> bool:
        analysed = sum(islice(reversed(self._analysed), span))
        negative = self._negative.observed(span) or 0
        return analysed >= self.settings.min_volume and negative >= self.settings.negative_share * analysed

    def _level(self, score: float) -> int:
        return sum(score >= getattr(self.thresholds, level) for level in LEVELS)

    def _raise(self, kind: AlertKind, finding: _Finding | None) -> Alert | None:
        """One alert per level an episode reaches; an episode ends after `cooldown` seconds without a hot window."""
        if finding is None:
            return None
        end = self._recent[-1].window_end
        episode = self._episodes.get(kind)
        quiet = (end - episode.last_hot).total_seconds() - self.settings.window if episode else math.inf
        reached = episode.level if episode and quiet < self.settings.cooldown else 0
        level = self._level(finding.score)
        self._episodes[kind] = _Episode(max(level, reached), end)
        return self._alert(kind, level, finding) if level > reached else None

    def _alert(self, kind: AlertKind, level: int, finding: _Finding) -> Alert:
        windows = list(self._recent)[-finding.windows :]
        analysed = sum(w.analysed for w in windows)
        share = sum(w.negative for w in windows) / analysed if analysed else None
        samples = sorted((s for w in windows for s in w.samples), key=_sample_order)[:SAMPLES]
        what = "negative mentions" if kind == "negative" else "mentions"
        minutes = finding.windows * self.settings.window / 60
        return Alert(
            kind=kind,
            level=LEVELS[level - 1],
            window_start=windows[0].window_start,
            window_end=windows[-1].window_end,
            volume=finding.observed,
            baseline=round(finding.expected, 3),
            score=round(finding.score, 2),
            negative_share=round(share, 3) if share is not None else None,
            top_keywords=_top(w.keywords for w in windows),
            top_hashtags=_top(w.hashtags for w in windows),
            samples=[s.model_dump(mode="json") for s in samples],
            reason=(
                f"{finding.observed} {what} in {minutes:g} min where {finding.expected:.2f} were expected "
                f"(z {finding.score:.1f} ≥ {LEVELS[level - 1]} {getattr(self.thresholds, LEVELS[level - 1]):g})"
            ),
        )

    def state(self) -> dict[str, Any]:
        """Everything needed to continue where this detector stopped, as plain JSON."""
        return {
            "version": STATE_VERSION,
            "window": self.settings.window,
            "spans": list(self.spans),
            "observed": self._observed,
            "last_end": self._last_end.isoformat() if self._last_end else None,
            "volume": self._volume.dump(),
            "negative": self._negative.dump(),
            "analysed": list(self._analysed),
            "recent": [w.model_dump(mode="json") for w in self._recent],
            "episodes": {k: {"level": e.level, "last_hot": e.last_hot.isoformat()} for k, e in self._episodes.items()},
        }

    @classmethod
    def from_state(cls, settings: Detection, state: dict[str, Any]) -> Detector:
        """A detector continuing `state`; a state of other windows is refused (its baseline would mean nothing)."""
        detector = cls(settings)
        made = (state.get("version"), state.get("window"), state.get("spans"))
        if made != (STATE_VERSION, settings.window, list(detector.spans)):
            raise ValueError(f"a detector state of a {made[1]}s window (version {made[0]}) cannot continue with "
                             f"{settings.window}s windows (version {STATE_VERSION})")
        detector._observed = state["observed"]
        detector._last_end = datetime.fromisoformat(state["last_end"]) if state["last_end"] else None
        detector._volume = _Series.load(settings.baseline_windows, detector.spans, state["volume"])
        detector._negative = _Series.load(settings.baseline_windows, detector.spans, state["negative"])
        detector._analysed.extend(state["analysed"])
        detector._recent.extend(WindowStats.model_validate(w) for w in state["recent"])
        detector._episodes = {
            kind: _Episode(e["level"], datetime.fromisoformat(e["last_hot"])) for kind, e in state["episodes"].items()
        }
        return detector


def _trim(counts: dict[str, int]) -> dict[str, int]:
    return dict(Counter(counts).most_common(KEPT_TERMS)) if len(counts) > KEPT_TERMS else counts


def _top(counters: Iterable[dict[str, int]]) -> list[tuple[str, int]]:
    total: Counter[str] = Counter()
    for counts in counters:
        total.update(counts)
    return total.most_common(TOP_TERMS)


def detect(mentions: Iterable[EnrichedMention], settings: Detection) -> list[Alert]:
    """All alerts of a whole stream, windows of `settings.window` from its first mention to its last."""
    windows = WindowAccumulator(settings.window)
    windows.add(mentions)
    return detect_windows(windows.windows(), settings)


def detect_windows(windows: Iterable[WindowStats], settings: Detection) -> list[Alert]:
    """All alerts of consecutive windows (from `WindowAccumulator.windows`), in order."""
    detector = Detector(settings)
    return [alert for stats in windows for alert in detector.observe(stats)]
