"""The assessment: what the crisis is about, who it touches, where it spreads, how grave and urgent it is.

    enriched mentions ─▶ Tally (one pass, bounded memory) ─▶ factors ─▶ severity, urgency ─▶ priority p1–p4
                                                                                            + the reasons

Severity and urgency are weighted means of capped factors (`assessment.scoring` in the playbook): each factor
counts `min(1, value / full) × weight`; a factor the data cannot measure (no reach given by any source) is left
out of the mean rather than counted as zero, and the reasons say so. The priority crosses the two axes:

    p1  severity and urgency both ≥ high
    p2  one ≥ high, the other ≥ medium
    p3  one ≥ medium
    p4  otherwise

Prefect-free: tasks/assessment.py reads the mentions and publishes the artifacts.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crisiscomms.mention import EnrichedMention
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import BatchOutcome
from crisiscomms.monitoring.monitor import read_file
from crisiscomms.monitoring.store import Store
from crisiscomms.monitoring.watchlist import TAG, compile_watchlist, fold
from crisiscomms.monitoring.windows import NEGATIVE_CUT
from crisiscomms.playbook.assessment import FACTOR_HELP, AssessmentSettings, Weight
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Watchlist
from crisiscomms.playbook.steps import AssessmentRecord, Priority

EXAMPLES = 3  # example texts kept per entity
MAX_POINTS = 96  # timeline points at most: windows are merged beyond this
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_RETWEET = re.compile(r"^\W{0,3}RT\s+@\w+:?\s*", re.IGNORECASE)
_NOT_WORD = re.compile(r"[\W_]+")


def entity_key(text: str) -> str:
    """The merge key of an entity: "Lac-Mégantic", "lac megantic" and "LAC MÉGANTIC" are one."""
    return _NOT_WORD.sub(" ", fold(text)).strip()


def share_key(text: str) -> str:
    """Retweets and copies of one post share this key (RT prefix, links and case set aside)."""
    return _NOT_WORD.sub(" ", fold(_URL.sub(" ", _RETWEET.sub("", text)))).strip()


@dataclass
class _Shared:
    text: str
    first: EnrichedMention
    shares: int = 0
    reach: int = 0


@dataclass
class Tally:
    """Everything the assessment needs from the mentions, accumulated one mention at a time."""

    settings: AssessmentSettings
    window: int
    kinds: dict[str, str]  # audience → kind
    safety: Any  # watchlist Matcher of the safety words
    aliases: dict[str, str] = field(default_factory=dict)  # merge key of a spelling → key of its entity
    names: dict[str, str] = field(default_factory=dict)  # merge key → the playbook's spelling
    mentions: int = 0
    analysed: int = 0
    negative: int = 0
    safety_hits: int = 0
    reach: int = 0
    reach_known: int = 0
    first: datetime | None = None
    last: datetime | None = None
    languages: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    hashtags: Counter[str] = field(default_factory=Counter)
    handles: Counter[str] = field(default_factory=Counter)
    entity_counts: Counter[str] = field(default_factory=Counter)
    entity_spellings: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    entity_labels: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    entity_examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    segments: Counter[str] = field(default_factory=Counter)
    segment_negative: Counter[str] = field(default_factory=Counter)
    segment_analysed: Counter[str] = field(default_factory=Counter)
    segment_sentiment: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    windows: Counter[int] = field(default_factory=Counter)
    window_negative: Counter[int] = field(default_factory=Counter)
    window_analysed: Counter[int] = field(default_factory=Counter)
    shared: dict[str, _Shared] = field(default_factory=dict)

    @classmethod
    def for_playbook(cls, playbook: Playbook, window: int | None = None) -> Tally:
        monitoring = playbook.monitoring
        settings = playbook.assessment
        safety = compile_watchlist({lang: Watchlist(keywords=words) for lang, words in settings.safety.items()})
        return cls(settings=settings, window=window or (monitoring.detection.window if monitoring else 300),
                   kinds={name: a.kind for name, a in playbook.audiences.items()}, safety=safety,
                   aliases=_aliases(settings), names={entity_key(c): c for c in settings.aliases})

    def add_all(self, mentions: Iterable[EnrichedMention]) -> Tally:
        for mention in mentions:
            self.add(mention)
        return self

    def add(self, m: EnrichedMention) -> None:
        self.mentions += 1
        moment = m.created_at if m.created_at.tzinfo else m.created_at.replace(tzinfo=UTC)
        self.first = moment if self.first is None or moment < self.first else self.first
        self.last = moment if self.last is None or moment > self.last else self.last
        index = int(moment.timestamp() // self.window)
        self.windows[index] += 1
        self.languages[m.lang] += 1
        self.channels[m.channel or m.source or "unknown"] += 1
        self.segments[m.segment] += 1
        if m.reach is not None:
            self.reach += m.reach
            self.reach_known += 1
        if m.sentiment is not None:
            negative = m.sentiment < NEGATIVE_CUT
            self.analysed += 1
            self.negative += negative
            self.window_analysed[index] += 1
            self.window_negative[index] += negative
            self.segment_analysed[m.segment] += 1
            self.segment_negative[m.segment] += negative
            self.segment_sentiment[m.segment] += m.sentiment
        if self.safety.match(m.text, m.lang).keywords:
            self.safety_hits += 1
        tags = dict.fromkeys(TAG.findall(m.text))  # (sign, name), once each, in order
        self._tags(tags)
        self._entities(m, tags)
        self._share(m)

    def _tags(self, tags: dict[tuple[str, str], None]) -> None:
        for sign, name in tags:
            (self.hashtags if sign == "#" else self.handles)[f"{sign}{name}"] += 1

    def _entities(self, m: EnrichedMention, tags: dict[tuple[str, str], None]) -> None:
        aliases = self.aliases
        found = {(aliases.get(entity_key(e["text"]), entity_key(e["text"])), e["text"], e["label"])
                 for e in m.entities}
        # A hashtag the playbook names as an alias counts as the entity: #LacMegantic is Lac-Mégantic.
        for sign, name in tags:
            canonical = aliases.get(entity_key(f"{sign}{name}")) if sign == "#" else None
            if canonical:
                found.add((canonical, self.names[canonical], ""))  # its label comes from the texts that name it
        for key, text, label in found:
            if not key:
                continue
            self.entity_counts[key] += 1
            self.entity_spellings[key][self.names.get(key, text)] += 1
            if label:
                self.entity_labels[key][label] += 1
            if len(self.entity_examples[key]) < EXAMPLES:
                self.entity_examples[key].append(m.text[:280])

    def _share(self, m: EnrichedMention) -> None:
        key = share_key(m.text) or m.id
        entry = self.shared.get(key)
        if entry is None:
            entry = self.shared[key] = _Shared(_RETWEET.sub("", m.text)[:280], m)
        entry.shares += 1
        entry.reach += m.reach or 0


def _aliases(settings: AssessmentSettings) -> dict[str, str]:
    """Merge key of every spelling (the canonical one too) → merge key of the canonical entity."""
    table: dict[str, str] = {}
    for canonical, spellings in settings.aliases.items():
        for spelling in (canonical, *spellings):
            table[entity_key(spelling)] = entity_key(canonical)
    return table


# --- where the mentions come from -------------------------------------------------------------------------


@dataclass
class Gathered:
    """The tally of the assessed mentions, and how many records were read and set aside to get it."""

    tally: Tally
    read: int
    quarantined: int
    origin: str


def tally_file(playbook: Playbook, path: Path, enricher: Enricher | None = None,
               progress: Callable[[int], None] | None = None) -> Gathered:
    """A JSONL file of mentions through the monitoring pass (gate and analysis), tallied batch by batch."""
    tally = Tally.for_playbook(playbook)
    read = 0

    def add(outcome: BatchOutcome) -> None:
        nonlocal read
        tally.add_all(outcome.mentions)
        read += outcome.read
        if progress:
            progress(read)

    totals = read_file(playbook, path, add, enricher)
    return Gathered(tally, totals.read, totals.quarantined, f"file {path}")


def tally_store(playbook: Playbook, store: Store, start: datetime, end: datetime) -> Gathered:
    """The mentions monitoring stored for [start, end), already analysed."""
    tally = Tally.for_playbook(playbook).add_all(store.iter_mentions_between(playbook.id, start, end))
    return Gathered(tally, tally.mentions, 0, f"monitoring store, {start.isoformat()} → {end.isoformat()}")


# --- factors, scores, priority ----------------------------------------------------------------------------


def factors(tally: Tally, usual_volume: float | None) -> dict[str, float | None]:
    """Raw values of every factor; None when the data cannot tell."""
    mentions = max(tally.mentions, 1)
    kinds = tally.kinds
    return {
        "volume_ratio": _volume_ratio(tally, usual_volume),
        "growth": _growth(tally),
        "negative_share": tally.negative / tally.analysed if tally.analysed else None,
        "media_share": sum(n for s, n in tally.segments.items() if kinds.get(s) == "media") / mentions,
        "government_share": sum(n for s, n in tally.segments.items() if kinds.get(s) == "government") / mentions,
        "safety_share": tally.safety_hits / mentions,
        "reach": float(tally.reach) if tally.reach_known else None,
    }


def _series(tally: Tally) -> list[int]:
    if not tally.windows:
        return []
    first, last = min(tally.windows), max(tally.windows)
    return [tally.windows.get(i, 0) for i in range(first, last + 1)]


def _volume_ratio(tally: Tally, usual_volume: float | None) -> float | None:
    series = _series(tally)
    if not series:
        return None
    if usual_volume is None:
        # Without a monitoring baseline, the calmer half of the period stands for "usual".
        calm = sorted(series)[: max(1, len(series) // 2)]
        usual_volume = statistics.median(calm)
    return max(series) / max(usual_volume, 1.0)


def _growth(tally: Tally) -> float | None:
    series = _series(tally)
    if len(series) < 2:
        return None
    quarter = max(1, len(series) // 4)
    latest, before = sum(series[-quarter:]), sum(series[-2 * quarter : -quarter])
    return latest / max(before, 1)


@dataclass(frozen=True)
class Axis:
    score: float
    parts: list[tuple[str, float, float, Weight]]  # factor, value, contribution (0..1 of the axis), weight
    unknown: list[str]


def score_axis(weights: dict[str, Weight], values: dict[str, float | None]) -> Axis:
    known = {name: w for name, w in weights.items() if values.get(name) is not None}
    total = sum(w.weight for w in known.values())
    parts = []
    for name, w in known.items():
        value = float(values[name])  # type: ignore[arg-type]
        parts.append((name, value, (min(1.0, value / w.full) * w.weight / total) if total else 0.0, w))
    parts.sort(key=lambda p: -p[2])
    return Axis(round(sum(p[2] for p in parts), 4), parts, sorted(set(weights) - set(known)))


def priority(severity: float, urgency: float, high: float, medium: float) -> tuple[Priority, str]:
    top, low = max(severity, urgency), min(severity, urgency)
    if low >= high:
        return "p1", f"severity and urgency are both high (≥ {high})"
    if top >= high and low >= medium:
        return "p2", f"one of severity and urgency is high (≥ {high}), the other medium (≥ {medium})"
    if top >= medium:
        return "p3", f"severity or urgency is medium (≥ {medium})"
    return "p4", f"severity and urgency are both low (< {medium})"


def _describe(name: str, value: float) -> str:
    if name.endswith("_share"):
        return f"{value:.0%}"
    if name in {"volume_ratio", "growth"}:
        return f"×{value:.1f}"
    return f"{value:,.0f}"


def _axis_reasons(label: str, axis: Axis) -> list[str]:
    lines = [f"{label} {axis.score:.2f}"]
    for name, value, contribution, weight in axis.parts:
        if contribution > 0:
            lines.append(f"  {FACTOR_HELP[name]}: {_describe(name, value)} (full at {_describe(name, weight.full)}"
                         f", weight {weight.weight:g}) → +{contribution:.2f}")
    lines += [f"  {FACTOR_HELP[name]}: unknown, left out" for name in axis.unknown]
    return lines


# --- the record -------------------------------------------------------------------------------------------


def assess(tally: Tally, playbook: Playbook, usual_volume: float | None = None) -> AssessmentRecord:
    settings = playbook.assessment
    values = factors(tally, usual_volume)
    severity = score_axis(dict(settings.scoring.severity), values)
    urgency = score_axis(dict(settings.scoring.urgency), values)
    level, rule = priority(severity.score, urgency.score, settings.scoring.high, settings.scoring.medium)
    reasons = [f"{level}: {rule}", *_axis_reasons("severity", severity), *_axis_reasons("urgency", urgency)]
    if not tally.mentions:
        reasons.insert(1, "no mention in the period: nothing to assess")
    audiences = _audiences(tally, playbook)
    return AssessmentRecord(
        priority=level, severity=severity.score, urgency=urgency.score, reasons=reasons,
        period_start=tally.first.isoformat() if tally.first else None,
        period_end=tally.last.isoformat() if tally.last else None,
        mentions=tally.mentions, analysed=tally.analysed,
        negative_share=round(tally.negative / tally.analysed, 4) if tally.analysed else None,
        factors={k: (round(v, 4) if v is not None else None) for k, v in values.items()},
        audiences=audiences, audiences_hit=[name for name, row in audiences.items() if row["hit"]],
        channels=_counted(tally.channels, tally.mentions, settings.top, "channel"),
        entities=_top_entities(tally), hashtags=_counted(tally.hashtags, tally.mentions, settings.top, "text"),
        handles=_counted(tally.handles, tally.mentions, settings.top, "text"),
        top_mentions=_top_mentions(tally), timeline=_timeline(tally), languages=dict(tally.languages.most_common()),
    )


def _audiences(tally: Tally, playbook: Playbook) -> dict[str, dict[str, Any]]:
    names = [*playbook.audiences, *(s for s in tally.segments if s not in playbook.audiences)]
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        count, analysed = tally.segments.get(name, 0), tally.segment_analysed.get(name, 0)
        share = count / tally.mentions if tally.mentions else 0.0
        audience = playbook.audiences.get(name)
        rows[name] = {
            "title": audience.title if audience else name, "kind": audience.kind if audience else "other",
            "count": count, "share": round(share, 4),
            "negative_share": round(tally.segment_negative[name] / analysed, 4) if analysed else None,
            "sentiment": round(tally.segment_sentiment[name] / analysed, 4) if analysed else None,
            "hit": count > 0 and share >= playbook.assessment.hit_share,
        }
    return rows


def _counted(counter: Counter[str], total: int, top: int, key: str) -> list[dict[str, Any]]:
    return [{key: name, "count": n, "share": round(n / total, 4) if total else 0.0}
            for name, n in counter.most_common(top)]


def _top_entities(tally: Tally) -> list[dict[str, Any]]:
    return [{"text": tally.entity_spellings[key].most_common(1)[0][0],
             "label": next(iter(tally.entity_labels[key].most_common(1)), ("MISC", 0))[0],
             "count": n, "examples": tally.entity_examples[key]}
            for key, n in tally.entity_counts.most_common(tally.settings.top)]


def _top_mentions(tally: Tally) -> list[dict[str, Any]]:
    ranked = sorted(tally.shared.values(), key=lambda s: (-s.shares, -s.reach, s.first.created_at, s.first.id))
    return [{"id": s.first.id, "text": s.text, "shares": s.shares, "reach": s.reach or None,
             "author": s.first.author, "url": s.first.url, "segment": s.first.segment,
             "created_at": s.first.created_at.isoformat()} for s in ranked[: tally.settings.top]]


def _timeline(tally: Tally) -> list[dict[str, Any]]:
    if not tally.windows:
        return []
    first, last = min(tally.windows), max(tally.windows)
    step = max(1, -(-(last - first + 1) // MAX_POINTS))  # windows merged per point
    points = []
    for start in range(first, last + 1, step):
        span = range(start, min(start + step, last + 1))
        volume = sum(tally.windows.get(i, 0) for i in span)
        analysed = sum(tally.window_analysed.get(i, 0) for i in span)
        negative = sum(tally.window_negative.get(i, 0) for i in span)
        points.append({"start": datetime.fromtimestamp(start * tally.window, UTC).isoformat(),
                       "seconds": tally.window * step, "volume": volume,
                       "negative_share": round(negative / analysed, 4) if analysed else None})
    return points
