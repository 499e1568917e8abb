"""False claims: how one is spotted in mentions, how far and where it spreads, and the corrections made.

    claim (declared in `communication.claims`, or entered by hand)
      ─▶ Rule: any of its `match` phrases, or enough of its own significant words (folded like the watchlist)
      ─▶ each mention carries the claim, denies it (a `denials` phrase too), or neither
      ─▶ Spread: per audience, per window, examples ─▶ the audiences where it spreads get the correction
    released correction ─▶ recorded in the state DB ─▶ every monitoring run: mentions before / since, per audience

A claim's text is data: it is matched and quoted, never rendered as a template.
Prefect-free: tasks/claims.py and tasks/monitoring.py publish what is computed here.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from crisiscomms.assessment.scoring import MAX_POINTS, share_key
from crisiscomms.mention import EnrichedMention
from crisiscomms.monitoring.monitor import Enricher, process_batch, utc_now
from crisiscomms.monitoring.offline import batches
from crisiscomms.monitoring.store import Store, connect, now_text, state_dir, transaction
from crisiscomms.monitoring.watchlist import Prepared, compile_watchlist, prepare
from crisiscomms.playbook.communication import Claim
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Monitoring, Watchlist
from crisiscomms.playbook.steps import ClaimSpreadRecord

MANUAL = "manual-"  # id prefix of a claim entered by hand
ALL_WORDS_UP_TO = 3  # a claim of up to this many significant words needs all of them in a mention…
WORDS_SHARE = 2 / 3  # …a longer one this share of them (a paraphrase rarely keeps every word)
EXAMPLES = 5
RECENT = 3600  # "still spreading": the threshold reached in a window of the last hour
TRACK_FOR = 7 * 86400  # a correction is tracked this long after its release
# Words that say nothing of a claim (French and English, folded): "la", "est", "the", "is"…
_STOP = """
a au aux avec ce ces cet cette c d de des du elle elles en est et etre eu il ils je j l la le les leur leurs lui
ma mais me meme mes moi mon n ne nos notre nous on ou par pas plus pour qu que qui s sa sans se ses son sont sur
ta te tes toi ton tu un une vos votre vous y ont ete sera serait seraient tout toute tous toutes tres deja
aussi ici ca cela dans
an and are as at be been but by for from has have he her his i in is it its no not of on or our she so that
the their them there they this to was we were will with would you your all any
"""
STOPWORDS = frozenset(_STOP.split())

Verdict = Literal["claim", "denial"]


def _stem(word: str) -> str:
    """A word's singular (watchlist rule) without a final -e: contaminé, contaminée, contaminés are one."""
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def significant_words(text: str) -> tuple[str, ...]:
    """The claim's words that say something, stemmed, once each, in order."""
    words = (_stem(w) for w in prepare(text).singular if w not in STOPWORDS and len(w) > 1)
    return tuple(dict.fromkeys(w for w in words if w not in STOPWORDS))


def split_terms(values: Iterable[str]) -> list[str]:
    """Phrases from texts a person typed: commas, semicolons and new lines separate them."""
    out: list[str] = []
    for value in values:
        out += [t.strip() for t in value.replace(";", ",").replace("\n", ",").split(",") if t.strip()]
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Rule:
    """How mentions are tested against one claim; stored with each correction so tracking reads them alike."""

    id: str
    text: str
    truth: str = ""
    source: str = ""
    phrases: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    denials: tuple[str, ...] = ()
    threshold: int = 3
    cooldown: int = 7200

    @property
    def terms(self) -> list[str]:
        return list(self.phrases or self.words)

    @property
    def needed(self) -> int:
        n = len(self.words)
        return n if n <= ALL_WORDS_UP_TO else math.ceil(n * WORDS_SHARE)

    def describe(self) -> str:
        if self.phrases:
            return "a mention carries the claim when it contains any of: " + ", ".join(f"« {p} »" for p in self.phrases)
        return (f"a mention carries the claim when it contains at least {self.needed} of its {len(self.words)} "
                f"significant words: {', '.join(self.words)}")

    @functools.cached_property
    def _phrases(self) -> Any:
        return compile_watchlist({"any": Watchlist(keywords=list(self.phrases))})

    @functools.cached_property
    def _denials(self) -> Any:
        return compile_watchlist({"any": Watchlist(keywords=list(self.denials))})

    def verdict(self, text: str, lang: str = "und", prepared: Prepared | None = None) -> Verdict | None:
        prepared = prepared or prepare(text)
        if self.phrases:
            carries = bool(self._phrases.match(text, lang, prepared))
        else:
            present = {_stem(w) for w in prepared.singular}
            carries = bool(self.words) and sum(w in present for w in self.words) >= self.needed
        if not carries:
            return None
        return "denial" if self.denials and self._denials.match(text, lang, prepared) else "claim"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Rule:
        data = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def declared_rule(claim: Claim) -> Rule:
    words = () if claim.match else significant_words(claim.claim)
    return Rule(claim.id, claim.claim, claim.truth, claim.source, tuple(claim.match), words, tuple(claim.denials),
                claim.threshold, claim.cooldown)


def manual_rule(text: str, truth: str = "", match: Iterable[str] = ()) -> Rule:
    """A claim entered by hand: its id is stable for the same text (a correction and its tracking meet)."""
    phrases = tuple(split_terms(match))
    ident = MANUAL + hashlib.sha256(text.strip().encode()).hexdigest()[:10]
    return Rule(ident, text.strip(), truth.strip(), "", phrases, () if phrases else significant_words(text))


def rule_of_record(record: dict[str, Any], playbook: Playbook) -> Rule:
    """The rule a claim.spread result was measured with (a declared claim keeps its cooldown)."""
    declared = {c.id: c for c in playbook.communication.claims}
    if record["claim_id"] in declared:
        return declared_rule(declared[record["claim_id"]])
    terms = tuple(record["terms"])
    phrases, words = (terms, ()) if record["matched_by"] == "phrases" else ((), terms)
    return Rule(record["claim_id"], record["claim"], record["truth"], record["source"], phrases, words,
                tuple(record["denials_terms"]), record["threshold"])


def mentions_of_file(playbook: Playbook, path: Path, enricher: Enricher | None = None) -> Iterator[EnrichedMention]:
    """A JSONL/CSV file of mentions through the monitoring gate and analysis (audience included), batch by batch."""
    enricher = enricher or Enricher(playbook)
    monitoring = playbook.monitoring or Monitoring()
    seen: set[str] = set()
    for batch in batches(path):
        outcome = process_batch(batch, "input", monitoring, enricher, utc_now(), seen_ids=seen)
        seen |= {m.id for m in outcome.mentions}
        yield from outcome.mentions


def rule_for(playbook: Playbook, text: str, truth: str = "", match: Iterable[str] = ()) -> Rule:
    """The declared claim whose id is `text`, else a claim entered by hand."""
    declared = {c.id: c for c in playbook.communication.claims}
    return declared_rule(declared[text.strip()]) if text.strip() in declared else manual_rule(text, truth, match)


# --- spread -----------------------------------------------------------------------------------------------


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


def window_index(moment: datetime, window: int) -> int:
    return int(_utc(moment).timestamp() // window)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- corrections and events, in the project's state DB ----------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claim_corrections (
    playbook TEXT NOT NULL, claim_id TEXT NOT NULL, hash TEXT NOT NULL, rule TEXT NOT NULL,
    corrected_at TEXT NOT NULL, audiences TEXT NOT NULL, flow_run TEXT, period INTEGER NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (playbook, claim_id, hash));
CREATE TABLE IF NOT EXISTS claim_events (
    playbook TEXT NOT NULL, claim_id TEXT NOT NULL, window_start TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (playbook, claim_id, window_start));
"""


@dataclass(frozen=True)
class Correction:
    playbook: str
    rule: Rule
    hash: str
    corrected_at: datetime
    audiences: list[str]
    flow_run: str
    period: int


class Corrections:
    """Released corrections and the claim events already emitted, beside the monitoring store."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def record(self, correction: Correction) -> bool:
        """Keep a released correction; False when this pack's correction of this claim was already kept."""
        c = correction
        with transaction(self._db) as db:
            done = db.execute("INSERT OR IGNORE INTO claim_corrections VALUES (?,?,?,?,?,?,?,?,?)",
                              (c.playbook, c.rule.id, c.hash, c.rule.to_json(), c.corrected_at.isoformat(),
                               json.dumps(c.audiences), c.flow_run, c.period, now_text()))
        return done.rowcount == 1

    def all(self, playbook: str) -> list[Correction]:
        rows = self._db.execute("SELECT rule, hash, corrected_at, audiences, flow_run, period FROM claim_corrections "
                                "WHERE playbook=? ORDER BY corrected_at", (playbook,))
        return [Correction(playbook, Rule.from_json(rule), digest, datetime.fromisoformat(at), json.loads(audiences),
                           run or "", period) for rule, digest, at, audiences, run, period in rows]

    def last_event(self, playbook: str, claim_id: str) -> datetime | None:
        row = self._db.execute("SELECT MAX(window_start) FROM claim_events WHERE playbook=? AND claim_id=?",
                               (playbook, claim_id)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def note_event(self, playbook: str, claim_id: str, window_start: datetime) -> None:
        with transaction(self._db) as db:
            db.execute("INSERT OR IGNORE INTO claim_events VALUES (?,?,?,?)",
                       (playbook, claim_id, window_start.isoformat(), now_text()))


def open_corrections(root: Path) -> Corrections:
    return Corrections(state_dir(root) / "monitoring.db")


# --- monitoring: spreading claims, and the corrections tracked -------------------------------------------


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
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    segments: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    samples: dict[tuple[str, int], list[str]] = defaultdict(list)
    for m, index in _mentions_in(store, playbook.id, touched, window):
        prepared = prepare(m.text)
        for rule in rules:
            if rule.verdict(m.text, m.lang, prepared) == "claim":
                counts[rule.id][index] += 1
                segments[(rule.id, index)][m.segment] += 1
                if len(samples[(rule.id, index)]) < 3:
                    samples[(rule.id, index)].append(m.text[:280])
    events = []
    for rule in rules:
        hot = [i for i, n in counts[rule.id].items() if n >= rule.threshold]
        if not hot:
            continue
        index = max(hot)
        start = datetime.fromtimestamp(index * window, UTC)
        last = corrections.last_event(playbook.id, rule.id)
        if last is not None and start < last + timedelta(seconds=rule.cooldown):
            continue
        corrections.note_event(playbook.id, rule.id, start)
        events.append({"claim_id": rule.id, "claim": rule.text, "window_start": start.isoformat(),
                       "window_end": (start + timedelta(seconds=window)).isoformat(),
                       "mentions": counts[rule.id][index], "threshold": rule.threshold,
                       "audiences": dict(segments[(rule.id, index)].most_common()),
                       "samples": samples[(rule.id, index)]})
    return events


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


def track(corrections: list[Correction], store: Store, window: int, now: datetime) -> list[Tracked]:
    """Mentions carrying each corrected claim, in the period before the correction and since it."""
    out = []
    for c in corrections:
        seen = Tracked(c)
        end = min(now, c.corrected_at + timedelta(seconds=TRACK_FOR))
        for m in store.iter_mentions_between(c.playbook, c.corrected_at - timedelta(seconds=c.period), end):
            verdict = c.rule.verdict(m.text, m.lang)
            after = _utc(m.created_at) >= c.corrected_at
            if verdict == "denial" and after:
                seen.denials_since += 1
            if verdict != "claim":
                continue
            seen.since += after
            seen.before += not after
            seen.audiences[m.segment][after] += 1
            seen.windows[window_index(m.created_at, window)] += 1
        recent = window_index(now - timedelta(seconds=RECENT), window)
        seen.still_spreading = any(n >= c.rule.threshold for i, n in seen.windows.items() if i >= recent)
        out.append(seen)
    return out


def chart_series(tracked: list[Tracked], window: int) -> tuple[list[str], list[int], list[tuple[float, str]]]:
    """Labels, mentions per point and the corrections' positions, for one claim's corrections."""
    indexes = [i for t in tracked for i in t.windows] + [window_index(t.correction.corrected_at, window)
                                                         for t in tracked]
    first, last = min(indexes), max(indexes)
    step = max(1, -(-(last - first + 1) // MAX_POINTS))
    starts = list(range(first, last + 1, step))
    total: Counter[int] = Counter()
    for t in tracked:
        total.update(t.windows)
    values = [sum(total.get(i, 0) for i in range(s, s + step)) for s in starts]
    labels = [datetime.fromtimestamp(s * window, UTC).strftime("%Y-%m-%d %H:%M") for s in starts]
    marks = [((t.correction.corrected_at.timestamp() / window - first) / step,
              t.correction.corrected_at.strftime("%H:%M")) for t in tracked]
    return labels, values, marks
