"""Matching mentions against the playbook's watchlists, and how relevant a mention is.

Rules (the playbook author's terms are compared with the text after both are folded: case-folded, accents
removed, typographic apostrophes made straight):

- keywords and brands match whole words or whole phrases, never inside a word: `rappel` does not match
  `rappelle` nor `rappelconso`. Words are runs of letters/digits, so French elision and English possessives
  separate words: `usine` matches "l'usine", `Orange` matches "d'Orange", `Duval` matches "Duval's".
  A phrase matches its words in order, separated only by spaces, hyphens or apostrophes ("Laiterie-Duval"),
  or by a dot after a one-letter word ("E. coli" ↔ "E.coli"): never across a sentence ("goût. Bizarre").
- keywords also match their plural: a final -s or -x (and English -es after s/x/z/ch/sh) is ignored on both
  sides, for words of more than three letters (`rappel` ↔ "rappels", `gâteau` ↔ "gâteaux", `crash` ↔
  "crashes"). Brands never do: `Orange` must not match "oranges".
- keywords and brands also match a #hashtag or @handle that is exactly them (`#Duval`, `@Duval`): naming the
  brand that way is naming it.
- hashtags and handles match whole: `#rappelconso` matches "#RappelConso", not "#rappelconsommateur".
- URLs and e-mail addresses are ignored (`rappel.conso.gouv.fr` is not the keyword `rappel`).
- terms under `any` apply to every language; those under a language code apply to that language and to
  `und` (a text whose language is unknown may be in any of them); other languages get `any` only.

Matches are the canonical terms as written in the playbook, in the order they first appear in the text.

Two more findings are evidence for `relevance()`, never matches (a mention with only these does not match):
- `context` words (victims, evacuated, death toll) follow the keyword rules; they belong to every crisis.
- `scattered`: keywords of several words whose words all occur in the text, apart or in another order
  ("refinería de Amuay" for `Amuay refinería`, "Bangladesh factory collapse" for `Bangladesh collapse`), as
  Twitter's `track` and most listening tools match a phrase.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress
from operator import or_

from crisiscomms.playbook.monitoring import Watchlist

ANY = "any"
UNDETERMINED = "und"

# An e-mail address starts a token (after a space or an opening bracket/quote): anchoring it keeps the scan
# linear on a 50 000-character text without spaces (unanchored, `\S+@` backtracks quadratically: seconds).
_URL_OR_EMAIL = re.compile(r"\b(?:https?:|www\.)\S*|(?<![^\s(<\[\"'])[^\s@]+@\w+(?:\.\w+)+")
# A tag starts a token: "#x" and "@x" after a letter ("a@b", "c#") are not tags.
TAG = re.compile(r"(?<![\w@#])([#@])(\w+)")
_WORD = re.compile(r"\w+")
# What may separate the words of a phrase: spaces, hyphens, apostrophes (and the # or @ of a tag); after an
# initial, a dot too ("E. coli", "E.coli").
_PHRASE_GAP = re.compile(r"[\s\-'#@]+")
_INITIAL_GAP = re.compile(r"\.[\s\-]*")
_APOSTROPHES = ("’", "‘", "ʼ", "`")  # all made "'"


def fold(text: str) -> str:
    """Case- and accent-insensitive form: "Écoli" → "ecoli", "L’Usine" → "l'usine"."""
    for apostrophe in _APOSTROPHES:  # a C-level scan each: str.translate would look up every character
        if apostrophe in text:
            text = text.replace(apostrophe, "'")
    if text.isascii():  # most posts: nothing to decompose (and NFKD leaves ASCII unchanged)
        return text.casefold()
    return unicodedata.normalize("NFKD", text).translate(_combining()).casefold()


@functools.cache
def _combining() -> dict[int, None]:
    """Every combining mark (what NFKD splits off accents), deleted by str.translate in one C-level pass."""
    return {code: None for code in range(sys.maxunicode + 1) if unicodedata.combining(chr(code))}


def _singular(word: str) -> str:
    """Plural -s/-x (and -es after sibilants) removed from words of more than three letters."""
    if len(word) <= 3:
        return word
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    return word[:-1] if word[-1] in "sx" else word


def _words(term: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(term)))


@dataclass(frozen=True)
class Match:
    """Canonical playbook terms found in one text."""

    keywords: list[str] = field(default_factory=list)
    hashtags: list[str] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    # Evidence for relevance only, never a match: context words, and keywords of several words found apart or in
    # another order ("refinería de Amuay" for `Amuay refinería`, as Twitter's `track` matches).
    context: list[str] = field(default_factory=list)
    scattered: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.keywords or self.hashtags or self.handles or self.brands)


@dataclass
class _Terms:
    """One language's compiled terms: folded form → canonical form, looked up token by token."""

    keywords: dict[tuple[str, ...], str] = field(default_factory=dict)  # singular words
    brands: dict[tuple[str, ...], str] = field(default_factory=dict)
    hashtags: dict[str, str] = field(default_factory=dict)
    handles: dict[str, str] = field(default_factory=dict)
    context: dict[tuple[str, ...], str] = field(default_factory=dict)  # singular words, like keywords
    apart: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict)  # keywords of 2+ words by first word

    def add(self, watchlist: Watchlist) -> None:
        # setdefault: the first spelling wins (`any` is added first), so the canonical form is stable.
        for term in watchlist.keywords:
            if words := tuple(_singular(word) for word in _words(term)):
                canonical = self.keywords.setdefault(words, term)
                if len(words) > 1:
                    self.apart.setdefault(words[0], {})[words] = canonical
        for term in watchlist.brands:
            if words := _words(term):
                self.brands.setdefault(words, term)
        for term in watchlist.context:
            if words := tuple(_singular(word) for word in _words(term)):
                self.context.setdefault(words, term)
        for term in watchlist.hashtags:
            if tag := fold(term.strip().lstrip("#")):
                self.hashtags.setdefault(tag, term)
        for term in watchlist.handles:
            if handle := fold(term.strip().lstrip("@")):
                self.handles.setdefault(handle, term)

    @property
    def longest(self) -> int:
        return max((len(words) for words in (*self.keywords, *self.brands, *self.context)), default=0)

    @property
    def starts(self) -> frozenset[str]:
        """First words of every phrase term: a phrase can only start at one of them (most words are not)."""
        return frozenset(words[0] for words in (*self.keywords, *self.brands, *self.context) if words)

    @property
    def beginnings(self) -> frozenset[tuple[str, ...]]:
        """The first 2, 3 … words of every phrase term: a phrase that is none of them cannot grow into a term."""
        terms = (*self.keywords, *self.brands, *self.context)
        return frozenset(words[:end] for words in terms for end in range(2, len(words) + 1))


class Matcher:
    """Watchlists compiled for fast matching: one dictionary lookup per word n-gram and per tag."""

    def __init__(self, by_language: Mapping[str, _Terms], fallback: _Terms) -> None:
        self._by_language = dict(by_language)
        self._fallback = fallback
        # Computed once here, not at each match: the terms do not change after compilation.
        self._shape = {id(t): (t.longest, t.starts, t.beginnings) for t in (*self._by_language.values(), fallback)}

    def match(self, text: str, lang: str, prepared: Prepared | None = None) -> Match:
        """The terms found in `text`; pass `prepare(text)` when several matchers read the same text."""
        terms = self._by_language.get((lang or UNDETERMINED).lower(), self._fallback)
        prepared = prepared or prepare(text)
        folded, singular = prepared.folded, prepared.singular
        keywords, brands, context = self._phrase_terms(terms, prepared)
        hashtags: dict[str, None] = {}
        handles: dict[str, None] = {}
        tagged = bool(terms.hashtags or terms.handles) and ("#" in folded or "@" in folded)  # else nothing to find
        for sign, name in TAG.findall(folded) if tagged else ():
            table, found = (terms.hashtags, hashtags) if sign == "#" else (terms.handles, handles)
            if (term := table.get(name)) is not None:
                found[term] = None
        apart = terms.apart
        # No first word of a keyword of 2+ words in the text (most texts): nothing can be scattered.
        present = dict.fromkeys(singular) if apart and not apart.keys().isdisjoint(singular) else {}
        scattered = {term: None for word in present if word in apart for words, term in apart[word].items()
                     if term not in keywords and all(w in present for w in words)}
        return Match(list(keywords), list(hashtags), list(handles), list(brands), list(context), list(scattered))

    def keywords(self, text: str, lang: str, prepared: Prepared | None = None) -> list[str]:
        """`match(text, lang, prepared).keywords`, without looking for the other kinds of terms."""
        terms = self._by_language.get((lang or UNDETERMINED).lower(), self._fallback)
        return list(self._phrase_terms(terms, prepared or prepare(text))[0])

    def _phrase_terms(self, terms: _Terms, prepared: Prepared) -> tuple[dict[str, None], ...]:
        """The keywords, brands and context words of `prepared`, each an ordered set (order of first appearance)."""
        words, singular = prepared.words, prepared.singular
        keywords: dict[str, None] = {}
        brands: dict[str, None] = {}
        context: dict[str, None] = {}
        longest, starts, beginnings = self._shape[id(terms)]
        # No word starting a term (most texts, for most term lists): the word-by-word walk is skipped whole.
        anywhere = not (starts.isdisjoint(words) and starts.isdisjoint(singular))
        for start, end in _phrases(prepared, longest, starts, beginnings) if anywhere else ():
            if (brand := terms.brands.get(tuple(words[start:end]))) is not None:
                brands[brand] = None
            if (keyword := terms.keywords.get(tuple(singular[start:end]))) is not None:
                keywords[keyword] = None
            if (word := terms.context.get(tuple(singular[start:end]))) is not None:
                context[word] = None
        return keywords, brands, context


@dataclass(frozen=True)
class Prepared:
    """A text made ready for matching once, for every matcher that reads it (watchlist, audience rules)."""

    folded: str
    words: list[str]
    singular: list[str]

    @functools.cached_property
    def gaps(self) -> list[str]:
        """What precedes each word, then what follows the last (`words` splits `folded` there): one C-level
        split, made only for texts where a phrase term may start."""
        return _WORD.split(self.folded)

    def joined(self, k: int) -> bool:
        """Whether words k and k + 1 may belong to one phrase (asked only where a term may start)."""
        gap = self.gaps[k + 1]
        if gap == " ":  # by far the most common gap
            return True
        return bool(_PHRASE_GAP.fullmatch(gap) or (len(self.words[k]) == 1 and _INITIAL_GAP.fullmatch(gap)))


def prepare(text: str) -> Prepared:
    folded = fold(text)
    if ":" in folded or "www." in folded or "@" in folded:  # what every URL or e-mail match holds
        folded = _URL_OR_EMAIL.sub(" ", folded)
    words = _WORD.findall(folded)
    # Only a word ending in s or x has a plural ending to drop: the others skip the call.
    return Prepared(folded, words, [_singular(word) if word[-1] in "sx" else word for word in words])


def _phrases(prepared: Prepared, longest: int, starts: frozenset[str],
             beginnings: frozenset[tuple[str, ...]]) -> Iterable[tuple[int, int]]:
    """Word index ranges [start, end) of up to `longest` words that only spaces, hyphens or apostrophes part,
    starting at a word that starts some term (as written, or singular), and longer than one word only while
    they begin some term (as written, or singular: the others cannot match, nor can what they begin)."""
    count, words, singular = len(prepared.words), prepared.words, prepared.singular
    starting = starts.__contains__  # the words that may start a term, found by C-level map, not a Python loop
    for start in compress(range(count), map(or_, map(starting, words), map(starting, singular))):
        yield start, start + 1
        for end in range(start + 2, min(start + longest, count) + 1):
            grown = tuple(words[start:end]) in beginnings or tuple(singular[start:end]) in beginnings
            if not grown or not prepared.joined(end - 2):
                break
            yield start, end


def compile_watchlist(watch: Mapping[str, Watchlist]) -> Matcher:
    """A matcher for `Monitoring.watch` (language code or `any` → terms)."""
    fallback = _Terms()
    if ANY in watch:
        fallback.add(watch[ANY])
    languages = [lang for lang in watch if lang != ANY]
    by_language: dict[str, _Terms] = {}
    for lang in [*languages, UNDETERMINED]:
        terms = _Terms()
        terms.add(watch.get(ANY, Watchlist()))
        for source in languages if lang == UNDETERMINED else [lang]:
            terms.add(watch[source])
        by_language[lang] = terms
    return Matcher(by_language, fallback)


# --- relevance --------------------------------------------------------------------------------------------

# A keyword in a long article is weaker evidence than in a tweet: beyond this many words, its weight shrinks in
# proportion.
KEYWORD_WORDS = 50
# Words beyond this many add nothing: a tweet's length says whether it speaks or only tags, an article's says
# nothing more (30 words is about the longest tweet).
PLAIN_WORDS_CAP = 30


@dataclass(frozen=True)
class RelevanceModel:
    """Weights of `relevance()`: a logistic model, gated on a watched term (see `relevance`)."""

    intercept: float
    keyword: float  # per keyword, scattered keyword, brand or handle
    hashtag: float  # per watched hashtag
    context: float  # × ln(1 + context words)
    words: float  # × ln(1 + plain words, at most PLAIN_WORDS_CAP)

    def score(self, features: RelevanceFeatures) -> float:
        """σ(z), 0 when no watched term was found (`features.subject` is False)."""
        if not features.subject:
            return 0.0
        z = (self.intercept + self.keyword * features.keywords + self.hashtag * features.hashtags
             + self.context * features.context + self.words * features.words)
        # Bounded: e^710 overflows, and beyond ±40 σ is 0 or 1 to far more than the 4 decimals kept.
        return round(1 / (1 + math.exp(-min(40.0, max(-40.0, z)))), 4)


@dataclass(frozen=True)
class RelevanceFeatures:
    """What `relevance()` weighs, taken from a match and its text (the benchmark fits the weights on these)."""

    subject: bool  # a watched term was found: brand, handle, keyword (even scattered) or hashtag
    keywords: float  # keywords + scattered keywords (× min(1, 50 / words of the text)) + brands + handles
    hashtags: float
    context: float  # ln(1 + context words)
    words: float  # ln(1 + words outside #tags, @handles and links, at most PLAIN_WORDS_CAP)


# Fitted by `bench/crisislex_quality.py --fit` on the crowd labels of the five CrisisLexT26 events in
# data/crisislex (logistic regression, each event and each class weighing the same, L2 0.01 on the weights, a
# weight fitted negative dropped to 0): the literal it prints. Leave-one-event-out, the same fit scores the held-out
# event as bench/README.md reports ("Audience and relevance"). Brands and handles weigh as keywords: the events
# have none, and naming the subject counts as much as its crisis keyword.
RELEVANCE = RelevanceModel(intercept=-2.922, keyword=1.794, hashtag=0.835, context=0.965, words=0.321)


def relevance_features(match: Match, text: str) -> RelevanceFeatures:
    """The evidence `relevance()` weighs in `match` (found in `text`) and in `text` itself."""
    keywords = len(match.keywords) + len(match.scattered)
    # Without keywords the dilution multiplies 0: the words need not be counted.
    dilution = min(1.0, KEYWORD_WORDS / max(1, len(_WORD.findall(text)))) if keywords else 1.0
    return RelevanceFeatures(
        subject=bool(match or match.scattered),
        keywords=keywords * dilution + len(match.brands) + len(match.handles),
        hashtags=float(len(match.hashtags)),
        context=math.log1p(len(match.context)),
        words=math.log1p(min(_plain_words(text), PLAIN_WORDS_CAP)),
    )


def _plain_words(text: str) -> int:
    """Words outside #tags, @handles, links and e-mail addresses, counted up to PLAIN_WORDS_CAP + 1."""
    head = text[:PLAIN_WORDS_CAP * 40].lower()  # the cap is reached long before: a hostile text is not read whole
    if ":" in head or "www." in head or "@" in head:
        head = _URL_OR_EMAIL.sub(" ", head)
    if "#" in head or "@" in head:
        head = TAG.sub(" ", head)
    return len(_WORD.findall(head))


def relevance(match: Match, text: str) -> float:
    """0..1: how likely the mention is about a crisis of the watched subject.

        relevance = 0 when no brand, handle, keyword (even scattered) or hashtag was found, else σ(z) with
        z = −2.922 + 1.794 × (keywords + scattered keywords) × min(1, 50 / words of the text)
                   + 1.794 × (brands + handles) + 0.835 × hashtags
                   + 0.965 × ln(1 + context words) + 0.321 × ln(1 + plain words, at most 30)

    σ(z) = 1 / (1 + e⁻ᶻ). Plain words are those outside #tags, @handles and links: a text that only tags the
    subject ("#me #beach #falcon") or is a few words long is weaker evidence than a sentence about it. Context
    words alone give 0: they say "a crisis", not whose. The weights are `RELEVANCE`, fitted on the crowd labels of
    five real crises; fitted on four and scored on the fifth, they separate related from unrelated tweets with a
    mean ROC AUC of 0.78 (bench/README.md, "Audience and relevance", per event and per language). Examples, in a
    3-word text: one keyword, brand or handle 0.34, one hashtag 0.16, keyword + context word 0.50, brand +
    keyword 0.75, nothing 0.
    """
    return RELEVANCE.score(relevance_features(match, text))
