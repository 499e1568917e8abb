"""Spike detection on mention volume: fixed windows, a robust rolling baseline, one alert per level reached.

How a window is judged
----------------------
Each closed window is judged at three scales (`SCALES`): the window alone (a sharp burst shows at once), the
trailing quarter of an hour and the trailing hour ending with it (evidence of a sustained rise that no single
window shows: one to three mentions a minute after hours of silence). With 1-minute windows the spans are 1, 15
and 60 windows; with 5-minute windows 1, 3 and 12. Every scale is compared with the baseline: the
`baseline_windows` latest windows judged normal before the longest span, so a rise never dilutes its own baseline:

- expected count: the median of the baseline's sums of the same length — a past spike barely moves a median,
  where it drags a mean or an EWMA for hours. Never below the window's share of the hourly median, nor — for
  sparse streams, whose median is 0 at any rate below 0.7 a window — below the rate implied by the share of
  non-empty windows; a silent baseline reads as about one mention per baseline: "rare", not "impossible", so
  one mention is never an infinite surprise.
- dispersion: (1.4826 · MAD)² / expected, at least 1 (and 1 for the share of the baseline not yet seen). A
  bursty stream widens its own noise band (quasi-Poisson); a steady one is judged by counting noise alone.

The score is the z whose normal upper tail equals the quasi-Poisson tail P(X ≥ observed). Why not the plain
robust z = (x − median) / (1.4826 · MAD): counts of a few mentions a minute are discrete and skewed, the MAD of
a sparse stream is 0 (any floor then decides everything), and replaying flat Poisson streams of the CrisisLex
volumes, a plain z ≥ 3 fired about a hundred times a month. The tail z means the same at 2 and at 2 000 mentions
a window — how unlikely the count is if nothing is happening: z 5 ≈ 3e-7, z 6 ≈ 1e-9 per judgement. Why not an
EWMA: it follows a spike within a few windows and, not being robust, yesterday's spike blunts today's alerts.

What the baseline keeps out, and what stands in for it
-----------------------------------------------------
A window hot at any scale (score at least `watch`) never joins the baseline: an ongoing crisis is not learned as
normal, and a plateau stays at its level for as long as it lasts. Without this, a crisis under way when monitoring
started became the baseline within hours. The exception is `relearn`: once a stream has been abnormal that long
(hot windows less than `cooldown` apart), its windows join again, so a lasting change — or a stream busier than
the playbook said — is learned instead of alerting forever (it reads as normal about `relearn` + the longest span
+ half the baseline after it began).

A stream with a daily rhythm (quiet nights, busy evenings) would alert every evening against a baseline of
the afternoon: the expectation is therefore never below what the same time of day held on the 7 days before (the
lower median of those days' hours, `baseline.Season`). One crisis among those days does not move it; a peak that
comes back every day does, from its third day (with a single day known, an hour that reached alert level is left
out: yesterday's crisis is not today's normal until it comes back).

While fewer than `baseline_windows` normal windows were seen (a cold start: no history, or monitoring switched on
in the middle of a crisis), the missing part of the baseline is the playbook's `usual_volume`: expected = h ·
learned + (1 − h) · usual, h the share of the baseline actually seen, and an alert says so in its reason. Nothing
else can tell a crisis under way from a busy stream on the first windows: the usual volume is the scale.

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
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from crisiscomms.mention import Alert, AlertKind, AlertLevel, EnrichedMention
from crisiscomms.monitoring.baseline import DAY, Series, normal_z, tail_z
from crisiscomms.monitoring.windows import SAMPLES, WindowAccumulator, WindowStats, sample_order
from crisiscomms.playbook.monitoring import Detection

TOP_TERMS = 5  # keywords and hashtags shown per alert
KEPT_TERMS = 20  # terms a window keeps in the detector's memory: plenty for a top 5 over a span
SCALES = (900, 3600)  # seconds judged together besides the window itself: a quarter and an hour
STATE_VERSION = 3
READABLE_STATES = (1, 2, 3)  # 1: all its windows read as normal; 1 and 2: no memory of the days before
LEVELS: tuple[AlertLevel, ...] = ("watch", "alert", "crisis")


@dataclass(frozen=True)
class _Finding:
    windows: int  # how many windows were judged together (a span)
    observed: int
    expected: float
    score: float
    history: float  # share of the baseline made of windows seen; the rest was the usual volume


@dataclass(frozen=True)
class _Episode:
    level: int  # 1 watch, 2 alert, 3 crisis: the highest raised so far
    last_hot: datetime  # end of the latest window at or above watch


@dataclass(frozen=True)
class _Run:
    """Hot windows of one series less than `cooldown` apart: how long its stream has been abnormal."""

    since: datetime  # end of its first hot window
    last: datetime  # end of its latest hot window


def _every_span(span: int) -> bool:
    return True


class Detector:
    """Streaming spike detector: feed closed windows in order to `observe`, keep `state()` between runs.

    Nothing is judged before `warmup_windows` windows; a span is judged once that many windows were seen. The
    baseline never includes the span being judged, nor any window judged at watch or above (unless its stream
    has been abnormal for `relearn`); the usual volume fills it while history is short.
    """

    def __init__(self, settings: Detection) -> None:
        self.settings = settings
        self.thresholds = settings.levels()
        self.spans = spans_of(settings)
        usual = settings.usual_per_window
        # at the usual volume, as many negative mentions as would alert on their share: a cold start needs more
        self._per_day = DAY // settings.window if DAY % settings.window == 0 else None
        self._series = {"volume": self._new_series(usual),
                        "negative": self._new_series(usual * settings.negative_share)}
        self._analysed: deque[int] = deque(maxlen=self.spans[-1])
        self._recent: deque[WindowStats] = deque(maxlen=self.spans[-1])
        self._observed = 0
        self._last_end: datetime | None = None
        self._episodes: dict[AlertKind, _Episode] = {}
        self._runs: dict[str, _Run] = {}

    def _new_series(self, prior: float) -> Series:
        return Series(self.settings.baseline_windows, self.spans, prior, self._per_day)

    def observe(self, stats: WindowStats) -> list[Alert]:
        """Judge one closed window. Windows already seen are ignored; missing ones count as empty."""
        if (stats.window_end - stats.window_start).total_seconds() != self.settings.window:
            raise ValueError(f"window of {stats.window_start}..{stats.window_end} is not {self.settings.window}s")
        if self._last_end is not None:
            if stats.window_start < self._last_end:
                return []
            self._fill_gap(stats.window_start)
        self._push(stats)
        volume = self._assess("volume", _every_span)
        negative = self._assess("negative", self._negative_enough)
        return [alert for alert in (self._raise("volume", volume), self._raise("negative", negative)) if alert]

    def next_window_start(self) -> datetime | None:
        """Where the next run's windows start: the end of the last window seen (None before any)."""
        return self._last_end

    def _fill_gap(self, start: datetime) -> None:
        missing, rest = divmod(int((start - self._last_end).total_seconds()), self.settings.window)
        if rest:
            raise ValueError(f"window {start} is not aligned with the previous one ending {self._last_end}")
        kept = min(missing, self._series["volume"].memory)  # older ones would fall out anyway
        self._observed += missing - kept
        step = timedelta(seconds=self.settings.window)
        for back in range(kept, 0, -1):  # empty windows: never abnormal, they join the baseline
            self._push(WindowStats(window_start=start - back * step, window_end=start - (back - 1) * step))

    def _push(self, stats: WindowStats) -> None:
        self._series["volume"].push(stats.volume)
        self._series["negative"].push(stats.negative)
        self._analysed.append(stats.analysed)
        trimmed = {"keywords": _trim(stats.keywords), "hashtags": _trim(stats.hashtags)}
        self._recent.append(stats.model_copy(update=trimmed))
        self._observed += 1
        self._last_end = stats.window_end

    def level(self, kind: AlertKind = "volume") -> AlertLevel | None:
        """The level the latest window reaches (None: normal, or warming up): the stream's present state, whether
        or not an alert was raised for it (an episode raises one alert per level)."""
        eligible = self._negative_enough if kind == "negative" else _every_span
        finding = max((f for f in self._hot(kind) if eligible(f.windows)), key=lambda f: f.score, default=None)
        return LEVELS[self._level(finding.score) - 1] if finding else None

    def _hot(self, kind: str) -> list[_Finding]:
        """The spans of the latest window at or above watch (none while warming up)."""
        if self._observed < self.settings.warmup_windows:
            return []
        series = self._series[kind]
        findings = (self._judge(series, span) for span in self.spans)
        return [finding for finding in findings if finding and finding.score >= self.thresholds.watch]

    def _assess(self, kind: str, eligible: Callable[[int], bool]) -> _Finding | None:
        """The most surprising eligible span at or above watch, or None (warming up, too few mentions, nothing
        hot). Any span at or above watch — eligible or not — keeps the window out of the baseline."""
        hot = self._hot(kind)
        if hot:
            self._keep_out(kind, self._series[kind])
        if any(finding.score >= self.thresholds.alert for finding in hot):
            self._series[kind].unusual()
        return max((finding for finding in hot if eligible(finding.windows)), key=lambda f: f.score, default=None)

    def _keep_out(self, kind: str, series: Series) -> None:
        """A hot window stays out of the baseline — unless its stream has been abnormal for `relearn`: a level
        that lasts that long is the new normal (a busier stream than `usual_volume` says, a lasting change)."""
        end = self._recent[-1].window_end
        run = self._runs.get(kind)
        if run is None or self._quiet(run.last, end) >= self.settings.cooldown:
            run = _Run(end, end)
        self._runs[kind] = run = _Run(run.since, end)
        series.admit((end - run.since).total_seconds() >= self.settings.relearn)

    def _quiet(self, last_hot: datetime, end: datetime) -> float:
        """Seconds without a hot window between the window ending `last_hot` and the one ending `end`."""
        return (end - last_hot).total_seconds() - self.settings.window

    def _judge(self, series: Series, span: int) -> _Finding | None:
        observed = series.observed(span)
        if observed is None or observed < self.settings.min_volume:
            return None
        expected = series.expected(span)
        if normal_z(observed, expected) < self.thresholds.watch:  # most windows stop here, cheaply
            return None
        score = tail_z(observed, expected)
        if score >= self.thresholds.watch:  # the dispersion can only lower the score: only computed when it matters
            score = tail_z(observed, expected, series.dispersion(span, expected))
        return _Finding(span, observed, expected, score, series.history())

    def _negative_enough(self, span: int) -> bool:
        analysed = sum(islice(reversed(self._analysed), span))
        negative = self._series["negative"].observed(span) or 0
        return analysed >= self.settings.min_volume and negative >= self.settings.negative_share * analysed

    def _level(self, score: float) -> int:
        return sum(score >= getattr(self.thresholds, level) for level in LEVELS)

    def _raise(self, kind: AlertKind, finding: _Finding | None) -> Alert | None:
        """One alert per level an episode reaches; an episode ends after `cooldown` seconds without a hot window."""
        if finding is None:
            return None
        end = self._recent[-1].window_end
        episode = self._episodes.get(kind)
        quiet = self._quiet(episode.last_hot, end) if episode else math.inf
        reached = episode.level if episode and quiet < self.settings.cooldown else 0
        level = self._level(finding.score)
        self._episodes[kind] = _Episode(max(level, reached), end)
        return self._alert(kind, level, finding) if level > reached else None

    def _alert(self, kind: AlertKind, level: int, finding: _Finding) -> Alert:
        windows = list(self._recent)[-finding.windows :]
        analysed = sum(w.analysed for w in windows)
        share = sum(w.negative for w in windows) / analysed if analysed else None
        samples = sorted((s for w in windows for s in w.samples), key=sample_order)[:SAMPLES]
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
            reason=self._reason(kind, level, finding),
        )

    def _reason(self, kind: AlertKind, level: int, finding: _Finding) -> str:
        what = "negative mentions" if kind == "negative" else "mentions"
        minutes = finding.windows * self.settings.window / 60
        name = LEVELS[level - 1]
        reason = (f"{finding.observed} {what} in {minutes:g} min where {finding.expected:.2f} were expected "
                  f"(z {finding.score:.1f} ≥ {name} {getattr(self.thresholds, name):g})")
        if finding.history < 1:  # say so: on a busier stream than usual_volume says, this is why it alerted
            reason += (f"; history covers {finding.history:.0%} of the baseline, the rest is the playbook's usual "
                       f"volume ({self.settings.usual_volume:g} mentions an hour)")
        return reason

    def state(self) -> dict[str, Any]:
        """Everything needed to continue where this detector stopped, as plain JSON."""
        return {
            "version": STATE_VERSION,
            "window": self.settings.window,
            "spans": list(self.spans),
            "observed": self._observed,
            "last_end": self._last_end.isoformat() if self._last_end else None,
            "volume": self._series["volume"].dump(),
            "negative": self._series["negative"].dump(),
            "analysed": list(self._analysed),
            "recent": [w.model_dump(mode="json") for w in self._recent],
            "episodes": {k: {"level": e.level, "last_hot": e.last_hot.isoformat()} for k, e in self._episodes.items()},
            "runs": {k: {"since": r.since.isoformat(), "last": r.last.isoformat()} for k, r in self._runs.items()},
        }

    @classmethod
    def from_state(cls, settings: Detection, state: dict[str, Any]) -> Detector:
        """A detector continuing `state`. A version 1 state (before abnormal windows were kept out of the
        baseline) is read as if all its windows were normal. A state of other windows, of an unknown version
        or malformed is refused with a ValueError saying which (its baseline would mean nothing)."""
        detector = cls(settings)
        version, window, spans = state.get("version"), state.get("window"), state.get("spans")
        if version not in READABLE_STATES:
            raise ValueError(f"a detector state of version {version!r} cannot be read (versions "
                             f"{', '.join(map(str, READABLE_STATES))} can)")
        if (window, spans) != (settings.window, list(detector.spans)):
            raise ValueError(f"a detector state of a {window}s window (version {version}) cannot continue with "
                             f"{settings.window}s windows")
        try:
            detector._restore(state)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"the detector state (version {version}) is malformed: {exc!r}") from exc
        return detector

    def _restore(self, state: dict[str, Any]) -> None:
        settings = self.settings
        self._observed = int(state["observed"])
        self._last_end = datetime.fromisoformat(state["last_end"]) if state["last_end"] else None
        for kind, series in self._series.items():
            data = state[kind]
            if state["version"] == 1:  # the counts of every window it saw, oldest first
                self._series[kind] = Series.from_counts(settings.baseline_windows, self.spans, series.prior, data["1"],
                                                        self._per_day)
            else:
                self._series[kind] = Series.load(settings.baseline_windows, self.spans, series.prior, data,
                                                 self._per_day)
        self._analysed.extend(int(count) for count in state["analysed"])
        self._recent.extend(WindowStats.model_validate(w) for w in state["recent"])
        self._episodes = {
            kind: _Episode(int(e["level"]), datetime.fromisoformat(e["last_hot"]))
            for kind, e in state["episodes"].items()
        }
        self._runs = {kind: _Run(datetime.fromisoformat(r["since"]), datetime.fromisoformat(r["last"]))
                      for kind, r in state.get("runs", {}).items()}


def _trim(counts: dict[str, int]) -> dict[str, int]:
    return dict(Counter(counts).most_common(KEPT_TERMS)) if len(counts) > KEPT_TERMS else counts


def _top(counters: Iterable[dict[str, int]]) -> list[tuple[str, int]]:
    total: Counter[str] = Counter()
    for counts in counters:
        total.update(counts)
    return total.most_common(TOP_TERMS)


def spans_of(settings: Detection) -> tuple[int, ...]:
    """The spans judged, in windows, ascending: the window itself, a quarter of an hour, an hour."""
    return tuple(sorted({1, *(max(1, seconds // settings.window) for seconds in SCALES)}))


def walk(windows: WindowAccumulator, settings: Detection, start: datetime | None = None,
         end: datetime | None = None) -> Iterator[WindowStats]:
    """The windows a `Detector` must judge, silences skipped (`WindowAccumulator.windows` with a trail)."""
    return windows.windows(start, end, trail=spans_of(settings)[-1])


def detect(mentions: Iterable[EnrichedMention], settings: Detection) -> list[Alert]:
    """All alerts of a whole stream, windows of `settings.window` from its first mention to its last."""
    windows = WindowAccumulator(settings.window)
    windows.add(mentions)
    return detect_windows(walk(windows, settings), settings)


def detect_windows(windows: Iterable[WindowStats], settings: Detection) -> list[Alert]:
    """All alerts of consecutive windows (from `WindowAccumulator.windows`), in order."""
    detector = Detector(settings)
    return [alert for stats in windows for alert in detector.observe(stats)]
