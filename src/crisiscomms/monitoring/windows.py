"""Mentions → fixed windows aligned to the epoch: counts, terms and a few samples per window, empty windows
included (zeros are baseline too). What the detector judges, and what the monitoring report charts."""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from crisiscomms.mention import EnrichedMention

NEGATIVE_CUT = -0.05  # sentiment below this counts as negative (VADER's convention for its compound score)
SAMPLE_CHARS = 280
SAMPLES = 3  # sample mentions kept per window and shown per alert


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


def window_floor(moment: datetime, window_seconds: int) -> datetime:
    """The start of the window of `window_seconds`, counted from the epoch, that holds `moment` (aware, UTC)."""
    return datetime.fromtimestamp(window_index(moment, window_seconds) * window_seconds, UTC)


def _sample(mention: EnrichedMention) -> Sample:
    created = _utc(mention.created_at)
    return Sample(id=mention.id, text=mention.text[:SAMPLE_CHARS], created_at=created, sentiment=mention.sentiment)


def sample_order(sample: Sample) -> tuple[float, datetime, str]:
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

    def merge(self, later: WindowAccumulator) -> None:
        """Add what `later` accumulated from the mentions that came after this one's (a later part of a file):
        the same windows as if one accumulator had been fed both, in that order."""
        for index, tally in later._tallies.items():
            if index in self._tallies:
                self._tallies[index].merge(tally)
            else:
                self._tallies[index] = tally

    def windows(self, start: datetime | None = None, end: datetime | None = None,
                trail: int | None = None) -> Iterator[WindowStats]:
        """The windows from the one holding `start` (else the first mention's) to the one holding the instant
        before `end` (else the last mention's), one at a time. Mentions outside that range are left out: the
        neighbouring run counts them.

        With `trail`, empty windows are skipped except the `trail` after each window holding mentions, and the
        last: for a `Detector` whose longest span is `trail` windows, which counts the skipped ones as empty
        itself (no more than it remembers), exactly as if it had judged them — so a long silence costs nothing."""
        seconds = self.window_seconds
        first = window_index(start, seconds) if start is not None else min(self._tallies, default=None)
        last = (window_index(end - timedelta(microseconds=1), seconds) if end is not None
                else max(self._tallies, default=None))
        if first is None or last is None:
            return
        indexes = range(first, last + 1) if trail is None else self._near_mentions(first, last, trail)
        for index in indexes:
            tally = self._tallies.get(index)
            yield (tally or _Tally()).stats(index, seconds)

    def _near_mentions(self, first: int, last: int, trail: int) -> Iterator[int]:
        """The windows of [first, last] holding mentions, the `trail` after each, and `last`."""
        after = first - 1  # the latest index yielded
        for index in sorted(index for index in self._tallies if first <= index <= last):
            yield index
            after = index
            for follow in range(index + 1, min(index + trail, last) + 1):
                if follow in self._tallies:
                    break
                yield follow
                after = follow
        if after < last:
            yield last


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

    def merge(self, later: _Tally) -> None:
        """`later`'s mentions, as if added after these: counters summed (terms in order of first appearance), the
        samples merged in `sample_order`, an earlier arrival ahead on a tie."""
        self.volume += later.volume
        self.negative += later.negative
        self.analysed += later.analysed
        self.keywords.update(later.keywords)
        self.hashtags.update(later.hashtags)
        self.samples = list(heapq.merge(self.samples, later.samples, key=lambda kept: kept[0]))[:SAMPLES]

    def _offer(self, mention: EnrichedMention) -> None:
        """Keep the SAMPLES first in `sample_order`; on a tie the earlier arrival stays ahead."""
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
