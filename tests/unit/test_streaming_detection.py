"""Streaming windows (`WindowAccumulator`, fed batch by batch, mentions not kept) give exactly what a plain reference
(every mention at hand, bucketed, counted and sorted, as the windows are defined) gives: same windows, same term
order, same samples, same alerts."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from crisiscomms.mention import EnrichedMention
from crisiscomms.monitoring.detection import detect, detect_windows, walk
from crisiscomms.monitoring.windows import (
    NEGATIVE_CUT,
    SAMPLE_CHARS,
    SAMPLES,
    Sample,
    WindowAccumulator,
    WindowStats,
    window_index,
)
from crisiscomms.playbook.monitoring import Detection, Thresholds

T0 = datetime(2024, 3, 1, tzinfo=UTC)
WORDS = ["rappel", "lait", "usine", "boycott", "recall"]
TAGS = ["#fire", "#rappelconso", "#lait"]


def mention(i: int, at: datetime, sentiment: float | None, keywords: list[str], hashtags: list[str],
            ident: str | None = None) -> EnrichedMention:
    return EnrichedMention(id=ident or f"m{i}", created_at=at, text=f"text {i} " * (i % 60), lang="en",
                           analysed=sentiment is not None, sentiment=sentiment, relevance=0.5,
                           keywords=keywords, hashtags=hashtags)


def messy_stream(seed: int, count: int = 3_000) -> list[EnrichedMention]:
    """Out of order, naive and aware timestamps, repeated terms, tied sample keys, a negative surge."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        at = T0 + timedelta(seconds=rng.randrange(0, 3 * 86_400))
        if i % 7 == 0:
            at = at.replace(tzinfo=None)  # naive: read as UTC by both paths
        sentiment = rng.choice([None, 0.0, -0.5, -0.5, 0.3, -0.04, -0.06])
        keywords = rng.sample(WORDS, rng.randrange(0, 3)) * rng.choice([1, 2])  # a term twice in one mention
        hashtags = rng.sample(TAGS, rng.randrange(0, 2))
        # ties on the sample key (sentiment, time, id): the stable sort keeps arrival order, and so must we
        ident = f"dup{i % 5}" if i % 11 == 0 else None
        out.append(mention(i, at, sentiment, keywords, hashtags, ident))
    surge = T0 + timedelta(days=2, hours=5)
    out += [mention(count + j, surge + timedelta(seconds=3 * j), -0.6, ["boycott"], ["#fire"]) for j in range(400)]
    # same (sentiment, time, id), different texts: which three are kept depends on arrival order only
    out += [mention(count + 400 + j, surge, -0.9, [], [], ident="tie") for j in range(6)]
    rng.shuffle(out)
    return out


def reference(mentions: list[EnrichedMention], window: int, start: datetime | None = None,
              end: datetime | None = None) -> list[WindowStats]:
    """The windows by definition: consecutive from `start`'s (else the first mention's) to the one before `end`;
    terms counted once a mention; samples most negative first, then earliest, ties in arrival order."""
    buckets: dict[int, list[EnrichedMention]] = {}
    for m in mentions:
        buckets.setdefault(window_index(m.created_at, window), []).append(m)
    first = window_index(start, window) if start else min(buckets, default=None)
    last = window_index(end - timedelta(microseconds=1), window) if end else max(buckets, default=None)
    if first is None or last is None:
        return []
    return [_reference_window(i, window, buckets.get(i, [])) for i in range(first, last + 1)]


def _reference_window(index: int, window: int, mentions: list[EnrichedMention]) -> WindowStats:
    begin = datetime.fromtimestamp(index * window, UTC)
    sentiments = [m.sentiment for m in mentions if m.sentiment is not None]
    samples = [Sample(id=m.id, text=m.text[:SAMPLE_CHARS], sentiment=m.sentiment,
                      created_at=m.created_at if m.created_at.tzinfo else m.created_at.replace(tzinfo=UTC))
               for m in mentions]
    samples.sort(key=lambda x: (x.sentiment if x.sentiment is not None else 0.0, x.created_at, x.id))
    return WindowStats(window_start=begin, window_end=begin + timedelta(seconds=window), volume=len(mentions),
                       negative=sum(x < NEGATIVE_CUT for x in sentiments), analysed=len(sentiments),
                       keywords=dict(Counter(t for m in mentions for t in dict.fromkeys(m.keywords))),
                       hashtags=dict(Counter(t for m in mentions for t in dict.fromkeys(m.hashtags))),
                       samples=samples[:SAMPLES])


def fed_in_batches(mentions: list[EnrichedMention], window: int, size: int) -> WindowAccumulator:
    accumulator = WindowAccumulator(window)
    for start in range(0, len(mentions), size):
        accumulator.add(mentions[start:start + size])
    return accumulator


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("window", [60, 300])
def test_streamed_windows_equal_the_reference_field_for_field_and_in_term_order(seed: int, window: int) -> None:
    mentions = messy_stream(seed)
    streamed = list(fed_in_batches(mentions, window, size=997).windows())
    batch = reference(mentions, window)
    assert len(streamed) == len(batch) > 800  # three days of windows, empty ones included
    assert streamed == batch
    for ours, theirs in zip(streamed, batch, strict=True):  # == on dicts ignores order; the top terms do not
        assert list(ours.keywords) == list(theirs.keywords)
        assert list(ours.hashtags) == list(theirs.hashtags)
        assert [s.text for s in ours.samples] == [s.text for s in theirs.samples]


def test_streamed_windows_honour_start_and_end() -> None:
    mentions = messy_stream(3, count=500)
    accumulator = fed_in_batches(mentions, 900, size=50)
    start, end = T0 + timedelta(hours=7, minutes=4), T0 + timedelta(days=1, hours=2)
    assert list(accumulator.windows(start, end)) == reference(mentions, 900, start, end)
    assert list(accumulator.windows(end=T0 - timedelta(days=1))) == reference(mentions, 900, end=T0 - timedelta(days=1))
    assert list(WindowAccumulator(60).windows()) == reference([], 60) == []


@pytest.mark.parametrize("seed", [0, 1])
def test_streamed_detection_raises_exactly_the_alerts_of_the_reference_windows(seed: int) -> None:
    mentions = messy_stream(seed)
    settings = Detection(window="1m", baseline="1h", warmup="1h", thresholds=Thresholds(watch=4, alert=6, crisis=9))
    batch = detect_windows(reference(mentions, settings.window), settings)
    assert detect(mentions, settings) == batch
    streamed = detect_windows(fed_in_batches(mentions, settings.window, size=1_000).windows(), settings)
    assert batch, "the stream must raise alerts for the comparison to mean something"
    assert {a.kind for a in batch} == {"volume", "negative"}
    assert streamed == batch


def test_a_long_silence_is_walked_in_a_few_windows_and_judged_as_if_every_window_of_it_was() -> None:
    settings = Detection(window="1m", baseline="1h", warmup="1h", thresholds=Thresholds(watch=4, alert=6, crisis=9))
    before = messy_stream(0, count=600)
    after = [m.model_copy(update={"id": f"late-{m.id}", "created_at": m.created_at + timedelta(days=60)})
             for m in messy_stream(1, count=600)]
    accumulator = WindowAccumulator(settings.window)
    accumulator.add(before + after)
    walked = list(walk(accumulator, settings))
    dense = list(accumulator.windows())
    assert len(dense) > 60 * 1440 > 5 * len(walked)  # two months of 1-minute windows, most never built
    assert detect_windows(walked, settings) == detect_windows(dense, settings) != []


def test_the_accumulator_refuses_a_window_of_no_length() -> None:
    with pytest.raises(ValueError, match="positive"):
        WindowAccumulator(0)
