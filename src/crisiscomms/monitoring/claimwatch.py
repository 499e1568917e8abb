"""The claim pass of a monitoring run: declared claims that spread, and the corrections made, tracked.

    mentions this run stored ─▶ their windows ─▶ declared claims at or above their threshold ─▶ events
    recorded corrections ─▶ mentions carrying the claim before / since each, per audience, per window

Prefect-free: tasks/monitoring.py raises the events and publishes the tracking.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crisiscomms.mention import EnrichedMention
from crisiscomms.monitoring.claim import Rule, declared_rule
from crisiscomms.monitoring.correction import Correction, Corrections
from crisiscomms.monitoring.store import Store
from crisiscomms.monitoring.watchlist import prepare
from crisiscomms.monitoring.windows import window_index
from crisiscomms.playbook.models import Playbook

RECENT = 3600  # "still spreading": the threshold reached in a window of the last hour
TRACK_FOR = 7 * 86400  # a correction is tracked this long after its release
SAMPLES = 3


@dataclass
class _Windows:
    """Per claim and window: mentions carrying it, from which audiences, and a few texts."""

    counts: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    segments: dict[tuple[str, int], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    samples: dict[tuple[str, int], list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, rule: Rule, index: int, mention: EnrichedMention) -> None:
        self.counts[rule.id][index] += 1
        self.segments[(rule.id, index)][mention.segment] += 1
        if len(self.samples[(rule.id, index)]) < SAMPLES:
            self.samples[(rule.id, index)].append(mention.text[:280])


def spreading(playbook: Playbook, store: Store, corrections: Corrections, run_id: str,
              window: int) -> list[dict[str, Any]]:
    """Declared claims that reach their threshold in a window this monitoring run stored mentions for.

    The whole window is counted (earlier runs' mentions too); a claim raises again only `cooldown` after the
    window of its last event (mention time, so a replayed stream behaves like a live one).
    """
    rules = [declared_rule(c) for c in playbook.communication.claims]
    touched = {window_index(m.created_at, window) for m in store.iter_mentions_of_run(playbook.id, run_id)}
    if not rules or not touched:
        return []
    found = _Windows()
    for mention, index in _mentions_in(store, playbook.id, touched, window):
        prepared = prepare(mention.text)
        for rule in rules:
            if rule.verdict(mention.text, mention.lang, prepared) == "claim":
                found.add(rule, index, mention)
    events = [_event(playbook.id, rule, found, corrections, window) for rule in rules]
    return [event for event in events if event]


def _event(playbook: str, rule: Rule, found: _Windows, corrections: Corrections,
           window: int) -> dict[str, Any] | None:
    """The latest window at the claim's threshold, unless within `cooldown` of the last event (then noted)."""
    hot = [i for i, n in found.counts[rule.id].items() if n >= rule.threshold]
    if not hot:
        return None
    index = max(hot)
    start = datetime.fromtimestamp(index * window, UTC)
    last = corrections.last_event(playbook, rule.id)
    if last is not None and start < last + timedelta(seconds=rule.cooldown):
        return None
    corrections.note_event(playbook, rule.id, start)
    return {"claim_id": rule.id, "claim": rule.text, "window_start": start.isoformat(),
            "window_end": (start + timedelta(seconds=window)).isoformat(), "mentions": found.counts[rule.id][index],
            "threshold": rule.threshold, "audiences": dict(found.segments[(rule.id, index)].most_common()),
            "samples": found.samples[(rule.id, index)]}


def _mentions_in(store: Store, playbook: str, windows: set[int],
                 window: int) -> Iterator[tuple[EnrichedMention, int]]:
    start = datetime.fromtimestamp(min(windows) * window, UTC)
    end = datetime.fromtimestamp((max(windows) + 1) * window, UTC)
    for m in store.iter_mentions_between(playbook, start, end):
        index = window_index(m.created_at, window)
        if index in windows:
            yield m, index


@dataclass
class Tracked:
    """One correction, as monitoring sees it now."""

    correction: Correction
    before: int = 0
    since: int = 0
    denials_since: int = 0
    audiences: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    windows: Counter[int] = field(default_factory=Counter)
    still_spreading: bool = False

    def row(self) -> dict[str, Any]:
        c = self.correction
        per_audience = ", ".join(f"{name} {b}→{s}" for name, (b, s) in sorted(self.audiences.items()))
        return {"claim": c.rule.text, "claim_id": c.rule.id, "corrected_at": c.corrected_at.isoformat(
            timespec="seconds"), "corrected_audiences": ", ".join(c.audiences), "mentions_before": self.before,
            "mentions_since": self.since, "denials_since": self.denials_since,
            "per_audience_before_since": per_audience or "—", "still_spreading": self.still_spreading,
            "pack": c.hash[:16], "flow_run": c.flow_run}

    def add(self, mention: EnrichedMention, window: int) -> None:
        verdict = self.correction.rule.verdict(mention.text, mention.lang)
        after = _utc(mention.created_at) >= self.correction.corrected_at
        if verdict == "denial" and after:
            self.denials_since += 1
        if verdict != "claim":
            return
        self.since += after
        self.before += not after
        self.audiences[mention.segment][after] += 1
        self.windows[window_index(mention.created_at, window)] += 1


def track(corrections: list[Correction], store: Store, window: int, now: datetime) -> list[Tracked]:
    """Mentions carrying each corrected claim, in the period before the correction and since it."""
    out = []
    for c in corrections:
        seen = Tracked(c)
        end = min(now, c.corrected_at + timedelta(seconds=TRACK_FOR))
        for mention in store.iter_mentions_between(c.playbook, c.corrected_at - timedelta(seconds=c.period), end):
            seen.add(mention, window)
        recent = window_index(now - timedelta(seconds=RECENT), window)
        seen.still_spreading = any(n >= c.rule.threshold for i, n in seen.windows.items() if i >= recent)
        out.append(seen)
    return out


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
