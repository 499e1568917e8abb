"""How far a false claim spreads and where: the claim.spread step's measure, the audiences that get the correction.

    mentions (a file through the monitoring pass, or the monitoring store) ─▶ each tested by the claim's Rule
      ─▶ Spread: per audience, per window, examples ─▶ the audiences where it spreads get the correction

How a mention is tested is monitoring's (monitoring/claim.py); the corrections made and their tracking by
every monitoring run too (monitoring/correction.py, monitoring/claimwatch.py).
Prefect-free: tasks/claims.py publishes what is computed here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crisiscomms.assessment.scoring import MAX_POINTS, share_key
from crisiscomms.mention import EnrichedMention
from crisiscomms.monitoring.claim import Rule, Verdict
from crisiscomms.monitoring.windows import window_index
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import ClaimSpreadRecord

EXAMPLES = 5


@dataclass
class _Example:
    mention: EnrichedMention
    shares: int = 0


@dataclass
class Spread:
    """Mentions tested against one claim, one at a time (bounded memory)."""

    rule: Rule
    window: int
    read: int = 0
    mentions: int = 0
    denials: int = 0
    first: datetime | None = None
    last: datetime | None = None
    audiences: Counter[str] = field(default_factory=Counter)
    audience_denials: Counter[str] = field(default_factory=Counter)
    windows: Counter[int] = field(default_factory=Counter)
    window_denials: Counter[int] = field(default_factory=Counter)
    shared: dict[str, _Example] = field(default_factory=dict)

    def add_all(self, mentions: Iterable[EnrichedMention]) -> Spread:
        for mention in mentions:
            self.add(mention)
        return self

    def add(self, m: EnrichedMention) -> Verdict | None:
        self.read += 1
        verdict = self.rule.verdict(m.text, m.lang)
        if verdict is None:
            return None
        index = window_index(m.created_at, self.window)
        if verdict == "denial":
            self.denials += 1
            self.audience_denials[m.segment] += 1
            self.window_denials[index] += 1
            return verdict
        moment = _utc(m.created_at)
        self.mentions += 1
        self.first = moment if self.first is None or moment < self.first else self.first
        self.last = moment if self.last is None or moment > self.last else self.last
        self.audiences[m.segment] += 1
        self.windows[index] += 1
        key = share_key(m.text) or m.id
        self.shared.setdefault(key, _Example(m)).shares += 1
        return verdict

    def record(self, playbook: Playbook, min_count: int, min_share: float, origin: str,
               period: tuple[datetime | None, datetime | None] = (None, None)) -> ClaimSpreadRecord:
        rows = self._by_audience(playbook, min_count, min_share)
        peak = max(self.windows.values(), default=0)
        rule = self.rule
        return ClaimSpreadRecord(
            claim_id=rule.id, claim=rule.text, truth=rule.truth, source=rule.source, terms=rule.terms,
            matched_by="phrases" if rule.phrases else "words", rule=rule.describe(),
            denials_terms=list(rule.denials), threshold=rule.threshold, read=self.read,
            mentions=self.mentions, denials=self.denials, peak=peak, spreading=peak >= rule.threshold,
            first_seen=_iso(self.first), last_seen=_iso(self.last), period_start=_iso(period[0]),
            period_end=_iso(period[1]), origin=origin, by_audience=rows,
            audiences=[name for name, row in rows.items() if row["spreading"]], examples=self._examples(),
            timeline=self._timeline(), window=self.window)

    def _by_audience(self, playbook: Playbook, min_count: int, min_share: float) -> dict[str, dict[str, Any]]:
        seen = [*self.audiences, *self.audience_denials]
        names = [*playbook.audiences, *(s for s in dict.fromkeys(seen) if s not in playbook.audiences)]
        rows = {}
        for name in names:
            count = self.audiences.get(name, 0)
            share = count / self.mentions if self.mentions else 0.0
            audience = playbook.audiences.get(name)
            rows[name] = {"title": audience.title if audience else name, "kind": audience.kind if audience else "other",
                          "count": count, "share": round(share, 4), "denials": self.audience_denials.get(name, 0),
                          "spreading": count >= min_count and share >= min_share}
        return rows

    def _examples(self) -> list[dict[str, Any]]:
        ranked = sorted(self.shared.values(), key=lambda e: (-e.shares, e.mention.created_at, e.mention.id))
        return [{"id": e.mention.id, "text": e.mention.text[:280], "shares": e.shares, "audience": e.mention.segment,
                 "author": e.mention.author, "url": e.mention.url, "created_at": _utc(e.mention.created_at).isoformat()}
                for e in ranked[:EXAMPLES]]

    def _timeline(self) -> list[dict[str, Any]]:
        indexes = [*self.windows, *self.window_denials]
        if not indexes:
            return []
        first, last = min(indexes), max(indexes)
        step = max(1, -(-(last - first + 1) // MAX_POINTS))
        return [{"start": datetime.fromtimestamp(start * self.window, UTC).isoformat(), "seconds": self.window * step,
                 "mentions": sum(self.windows.get(i, 0) for i in range(start, min(start + step, last + 1))),
                 "denials": sum(self.window_denials.get(i, 0) for i in range(start, min(start + step, last + 1)))}
                for start in range(first, last + 1, step)]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
