"""Sentiment of mentions, −1 (negative) … +1 (positive), offline: French and English only.

- English: VADER's compound score (vaderSentiment; lexicon shipped in the wheel).
- French: the textblob-fr lexicon (Pattern's fr-sentiment.xml, shipped in the wheel), scored word by word
  here rather than by textblob-fr's own scorer, whose negation is wrong for spoken French:
  * it reverses the word after "pas" by × −0.5, so "pas terrible" (= mediocre) scores +0.35, and it drops
    the negation at the first unknown word, so "pas du tout content" scores as "content";
  * here, idioms are read whole first ("pas terrible", "pas top", "pas normal", "plus jamais", "pas mal",
    "sans souci" …); otherwise a negation reaches the next opinion word across small words ("pas du tout",
    "jamais été", "pas très"), makes a positive word clearly negative (× −0.8: "pas bon", "jamais satisfait")
    and a negative word only faintly positive (× −0.3: "pas mauvais" is lukewarm praise);
  * a few dozen words common in crisis posts that the lexicon lacks or scores the other way ("scandale",
    "arnaque", "inadmissible" is +0.3 there, "grave" +0.4) and frequent emoji are added.
- Other languages: None (not analysed: never mis-analysed).

Only the lexicon is used: no TextBlob object is built, because TextBlob's sentence and word tokenizers need
NLTK's punkt data, which is not installed and must not be downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

Label = Literal["neg", "neu", "pos"]

# |score| below this is neutral: the band with the best macro-F1 on the dev half of tests/data/fr_posts.jsonl
# (bench/README.md). Narrow because opinion words are averaged: one mild word among neutral ones is a signal.
NEUTRAL_BAND = 0.05
MAX_CHARS = 10_000  # a post, not a book: bounded cost

# Read whole, before word-level negation; tokenized like the text, so "n'importe quoi" is n' + importe + quoi.
IDIOMS: dict[str, float] = {
    # the "not great" family: understatement, negative
    "pas terrible": -0.5, "pas top": -0.5, "pas génial": -0.5, "pas fameux": -0.5, "pas ouf": -0.5,
    "pas folichon": -0.5,
    # outrage
    "pas normal": -0.6, "pas acceptable": -0.7, "pas sérieux": -0.5, "plus jamais": -0.7, "jamais vu ça": -0.5,
    "jamais vu ca": -0.5, "n'importe quoi": -0.6, "ras le bol": -0.7, "langue de bois": -0.5,
    "silence radio": -0.4, "foutent de": -0.6, "foutre de": -0.6, "se moquer": -0.5, "se moque": -0.5,
    # litotes and reassurance: mildly positive
    "pas mal": 0.3, "pas mauvais": 0.3, "pas trop mal": 0.3, "pas si mal": 0.3,
    "pas de souci": 0.3, "pas de soucis": 0.3, "sans souci": 0.3, "sans soucis": 0.3, "aucun souci": 0.3,
    "pas de problème": 0.3, "sans problème": 0.3, "aucun problème": 0.3, "jamais eu de souci": 0.4,
    "jamais eu de soucis": 0.4, "jamais eu de problème": 0.4, "rien à redire": 0.5, "rien de grave": 0.2,
    "sans discuter": 0.3,
    # neutral, though they hold opinion or negation words
    "pas mal de": 0.0, "pas mal d'": 0.0, "pas de panique": 0.0, "rien à signaler": 0.0,
    "bon bah": 0.0, "bon ben": 0.0, "bon ,": 0.0,  # "bon" as a filler, not a judgement
}

NEGATIONS = frozenset({"ne", "n'", "pas", "jamais", "rien", "aucun", "aucune", "sans", "ni", "non", "guère"})
# Crossed by a negation on its way to the opinion word: "pas du tout content", "jamais été satisfait".
_NEGATION_BRIDGE = frozenset({
    "du", "tout", "de", "d'", "la", "le", "les", "l'", "un", "une", "des", "très", "vraiment", "si", "assez",
    "hyper", "été", "être", "est", "était", "sera", "suis", "es", "sont", "c'", "ça", "ca", "cela", "plus",
    "encore", "franchement", "bien", "toujours", "forcément", "spécialement",
})
# Where a negation stops.
_CLAUSE_END = frozenset({",", ".", "!", "?", ";", ":", "mais", "…", "(", ")"})
POSITIVE_NEGATED = -0.8  # "pas bon" is bad
NEGATIVE_NEGATED = -0.3  # "pas mauvais" is faint praise
# Strengthen the next opinion word, unless negated ("pas très bon" is not worse than "pas bon").
_INTENSIFIERS = {"très": 1.4, "vraiment": 1.3, "tellement": 1.3, "vachement": 1.3, "hyper": 1.4}

# Missing from, or scored the other way in, the textblob-fr lexicon; overrides it.
SUPPLEMENT: dict[str, float] = {
    "scandale": -0.7, "honte": -0.7, "arnaque": -0.7, "inadmissible": -0.8, "inacceptable": -0.8,
    "grave": -0.4, "nul": -0.6, "nulle": -0.6, "nuls": -0.6, "dégoûté": -0.7, "dégoûtée": -0.7,
    "dégouté": -0.7, "dégoutée": -0.7, "dégueulasse": -0.8, "boycott": -0.5, "boycotter": -0.5,
    "colère": -0.6, "peur": -0.5, "inquiet": -0.4, "inquiète": -0.4, "écœuré": -0.7, "écoeuré": -0.7,
    "honteuse": -0.5, "mensonge": -0.6, "menteurs": -0.7, "vomi": -0.5, "intoxication": -0.4,
    "confiance": 0.3, "excuses": 0.2, "top": 0.6, "nickel": 0.6, "bravo": 0.7, "merci": 0.5, "chapeau": 0.5,
    "transparence": 0.4, "réactifs": 0.5, "réactif": 0.5, "rassurée": 0.4, "rassuré": 0.4, "rassurant": 0.4,
    "😡": -0.8, "🤬": -0.9, "😠": -0.7, "🤡": -0.6, "😢": -0.5, "😭": -0.6, "😞": -0.5, "🤮": -0.8,
    "👎": -0.6, "😤": -0.6, "👍": 0.5, "👏": 0.6, "🙌": 0.6, "❤": 0.5, "😊": 0.6, "😀": 0.6, "😍": 0.7,
    "💪": 0.4, "🥰": 0.7,
}

# Function words the lexicon scores as if they were opinions ("tout" +0.22, "premier" +0.5, "dernier" −0.29):
# they quantify or order, they do not judge, and they would pull every mean.
FUNCTION_WORDS = frozenset({
    "tout", "toute", "tous", "toutes", "autre", "autres", "plus", "beaucoup", "certain", "certains", "si", "n'",
    "premier", "première", "premiers", "premières", "seul", "seule", "seuls", "seules", "dernier", "dernière",
    "derniers", "dernières",
})

_URL = re.compile(r"\b(?:https?:|www\.)\S*")
_HANDLE = re.compile(r"@\w+")
# Elided forms keep their apostrophe ("n'", "c'"), words, then any other single non-space character
# (punctuation, emoji).
_TOKEN = re.compile(r"\w+'|\w+(?:-\w+)*|[^\w\s]")
_APOSTROPHES = (("’", "'"), ("‘", "'"), ("ʼ", "'"), ("\ufe0f", ""))  # and the emoji presentation selector out


def score(texts: Sequence[str], langs: Sequence[str]) -> list[float | None]:
    """Polarity −1..1 per text: French and English analysed, any other language None."""
    if len(texts) != len(langs):
        raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
    return [_score_one(text, lang) for text, lang in zip(texts, langs, strict=True)]


def _score_one(text: str, lang: str | None) -> float | None:
    text = text[:MAX_CHARS] if isinstance(text, str) else ""
    code = (lang or "").lower()
    if code == "fr":
        return french(text)
    if code == "en":
        return english(text)
    return None


def label(polarity: float | None, band: float = NEUTRAL_BAND) -> Label | None:
    """neg / neu / pos for a polarity (None stays None)."""
    if polarity is None:
        return None
    return "neg" if polarity <= -band else "pos" if polarity >= band else "neu"


def english(text: str) -> float:
    return round(float(_vader().polarity_scores(text)["compound"]), 4)


def french(text: str) -> float:
    """Mean polarity of the opinions found (idioms, lexicon words, emoji), negation applied; 0 if none."""
    opinions = _opinions(tokenize_fr(text))
    return round(sum(opinions) / len(opinions), 4) if opinions else 0.0


def _opinions(tokens: list[str]) -> list[float]:
    """The polarity of each opinion in reading order: idioms whole, then words through the negation scope.

    The scope is what the words read so far do to the next opinion word: negate it, or strengthen it.
    """
    starts, polarities = _idioms()[2], _POLARITIES.table()
    found: list[float] = []
    negated, boost = False, 1.0
    i, count = 0, len(tokens)
    while i < count:
        token = tokens[i]
        if token in starts:  # most words start no idiom
            idiom, length = _idiom_at(tokens, i)
            if idiom is not None:
                if idiom:
                    found.append(idiom)
                negated, boost = False, 1.0
                i += length
                continue
        i += 1
        if token in NEGATIONS:
            negated = True
        elif polarity := polarities.get(token, 0.0):
            if negated:
                polarity *= POSITIVE_NEGATED if polarity > 0 else NEGATIVE_NEGATED
            else:
                polarity = max(-1.0, min(1.0, polarity * boost))
            found.append(polarity)
            negated, boost = False, 1.0
        elif token in _INTENSIFIERS:
            boost = _INTENSIFIERS[token]
        elif token in _CLAUSE_END or token not in _NEGATION_BRIDGE:
            negated, boost = False, 1.0
    return found


def tokenize_fr(text: str) -> list[str]:
    """Lower-case tokens, URLs and @handles out, hashtag words kept, elisions split off ("c'" "est")."""
    for char, replacement in _APOSTROPHES:  # a few C-level scans: str.translate looks up every character
        if char in text:
            text = text.replace(char, replacement)
    if ":" in text or "www." in text:  # what every URL match holds
        text = _URL.sub(" ", text)
    if "@" in text:
        text = _HANDLE.sub(" ", text)
    return _TOKEN.findall(text.replace("#", " ").lower())


@lru_cache(maxsize=1)
def _idioms() -> tuple[dict[tuple[str, ...], float], int, frozenset[str]]:
    """IDIOMS as token tuples, the longest one's length, and the words they start with."""
    compiled = {tuple(tokenize_fr(idiom)): polarity for idiom, polarity in IDIOMS.items()}
    return compiled, max(map(len, compiled)), frozenset(words[0] for words in compiled)


def _idiom_at(tokens: list[str], i: int) -> tuple[float | None, int]:
    """(polarity, length) of the longest idiom starting at tokens[i], or (None, 0)."""
    idioms, longest, starts = _idioms()
    if tokens[i] not in starts:  # most words start no idiom: no slices to build and look up
        return None, 0
    for length in range(min(longest, len(tokens) - i), 1, -1):
        polarity = idioms.get(tuple(tokens[i : i + length]))
        if polarity is not None:
            return polarity, length
    return None, 0


class _PolarityTable:
    """`_polarity` of every word that has one, computed once: a dict lookup per token instead of a call.

    Built again when SUPPLEMENT or FUNCTION_WORDS is replaced (bench/language_id.py's ablation swaps them) or the
    lexicon is reloaded.
    """

    def __init__(self) -> None:
        self._sources: tuple[object, object, object] | None = None
        self._table: dict[str, float] = {}

    def table(self) -> dict[str, float]:
        sources = (SUPPLEMENT, FUNCTION_WORDS, _lexicon())
        if self._sources is None or any(now is not then for now, then in zip(sources, self._sources, strict=True)):
            self._table = {word: polarity for word in {*sources[2], *SUPPLEMENT} if (polarity := _polarity(word))}
            self._sources = sources
        return self._table


_POLARITIES = _PolarityTable()


def _polarity(token: str) -> float:
    """Polarity of one word or emoji: the supplement, else the lexicon (all senses averaged), else 0.

    Function words, and words the lexicon gives |polarity| < 0.05 ("bien" 0.0, "très" 0.01), are not
    opinions: counting them would only pull the mean towards 0.
    """
    if token in SUPPLEMENT:
        return SUPPLEMENT[token]
    if token in FUNCTION_WORDS:
        return 0.0
    entry = _lexicon().get(token)
    polarity = float(entry[None][0]) if entry else 0.0
    return polarity if abs(polarity) >= 0.05 else 0.0


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, Any]:
    """textblob-fr's word → {part of speech: (polarity, subjectivity, intensity)}, loaded once (~0.2 s)."""
    from textblob_fr.fr import sentiment

    sentiment.load()
    return dict(sentiment)


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()
