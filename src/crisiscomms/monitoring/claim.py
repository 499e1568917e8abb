"""False claims: how one is spotted in a mention.

    claim (declared in `communication.claims`, or entered by hand)
      ─▶ Rule: any of its `match` phrases, or enough of its own significant words (folded like the watchlist)
      ─▶ each mention carries the claim, denies it (a `denials` phrase too), or neither

A claim's text is data: it is matched and quoted, never rendered as a template. The rule is stored with each
correction (correction.py), so that tracking a correction later reads mentions exactly as measuring did.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from crisiscomms.monitoring.watchlist import Prepared, compile_watchlist, prepare
from crisiscomms.playbook.communication import Claim
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Watchlist

MANUAL = "manual-"  # id prefix of a claim entered by hand
ALL_WORDS_UP_TO = 3  # a claim of up to this many significant words needs all of them in a mention…
WORDS_SHARE = 2 / 3  # …a longer one this share of them (a paraphrase rarely keeps every word)
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


def rule_for(playbook: Playbook, text: str, truth: str = "", match: Iterable[str] = ()) -> Rule:
    """The declared claim whose id is `text`, else a claim entered by hand."""
    declared = {c.id: c for c in playbook.communication.claims}
    return declared_rule(declared[text.strip()]) if text.strip() in declared else manual_rule(text, truth, match)


def rule_of_record(record: dict[str, Any], playbook: Playbook) -> Rule:
    """The rule a claim.spread result was measured with (a declared claim keeps its cooldown)."""
    declared = {c.id: c for c in playbook.communication.claims}
    if record["claim_id"] in declared:
        return declared_rule(declared[record["claim_id"]])
    terms = tuple(record["terms"])
    phrases, words = (terms, ()) if record["matched_by"] == "phrases" else ((), terms)
    return Rule(record["claim_id"], record["claim"], record["truth"], record["source"], phrases, words,
                tuple(record["denials_terms"]), record["threshold"])
