"""Language identification of short social-media texts, offline.

Backend: py3langid (langid.py's model, shipped inside the wheel; nothing is downloaded). It was chosen on
the project's hand-labelled tweets and French posts: see bench/README.md, "Language identification".

Markup says nothing about the language a post is written in (`RT @elmundoes:` in a Spanish tweet,
`#PrayForTexas` in a Portuguese one), so URLs, @handles, #hashtags, RT/MT markers and emoji are removed
before identification. What is left is identified; a text with no letters left, or one the model is not
sure about, is `und`.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

UNDETERMINED = "und"

# Below this probability the answer is a guess, reported `und`. py3langid spreads probability over close
# languages on short texts, so right answers can be as low as 0.1-0.4. On the 520 labelled texts, going
# from 0 to 0.1 turns 4 wrong languages into `und` and loses 3 right ones (2 of them on `und` gold); above,
# only right answers are lost (0.2: 7, 0.3: 11). See bench/README.md.
MIN_CONFIDENCE = 0.1
# An expected or declared language is taken when the model gives it at least this share of its best
# probability: it breaks near-ties (three French words read as Walloon or Catalan), it never overrules a
# clear reading of the text. With fr/en expected, tweet accuracy is unchanged and 3-word French goes from
# 0.81 to 0.90 (bench/README.md).
PREFERRED_SHARE = 0.5
# Identification needs a sentence, not a book: the first characters decide, and cost stays bounded.
MAX_RAW_CHARS = 4_000
MAX_CLEAN_CHARS = 1_000
# py3langid's label for "no linguistic content".
_NO_LANGUAGE = "zxx"

# Possessive `\w++`: a word never ends in a dot, so giving letters back could not match and is not tried.
_URL = re.compile(r"\b(?:https?:|www\.)\S*|\b\w++\.(?:com|co|org|net|ly|gl|me)/\S*", re.IGNORECASE)
# "via @x" / "cc @x" are attribution markup, in English whatever the tweet's language.
_ATTRIBUTION = re.compile(r"\b(?:via|vía|cc|h/t)\s*:?\s*(?=@)", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#\w+")
# Retweet / modified-tweet markers, anywhere (quote-retweets put them mid-text); upper case only, as written.
_RT = re.compile(r"(?<!\w)(?:RT|MT)(?!\w)")
# Tokens with digits (09:30am, 3hrs, L2403, 500g) are times, codes and units, not words of a language.
# A match always spans a whole word (it starts where the word does), hence `\b`, and letters before the first
# digit are taken possessively: the same matches as `\w*\d\w*`, which retried every position of every word.
_WITH_DIGITS = re.compile(r"\b[^\W\d]*+\d\w*")


def strip_markup(text: str) -> str:
    """The words of a post: no URLs, @handles, #hashtags, RT markers, emoji, symbols or control characters."""
    text = html.unescape(text[:MAX_RAW_CHARS])  # tweets arrive with &amp; / &gt; escaped
    text = _URL.sub(" ", text)
    if "@" in text:  # the patterns that need one are skipped, not run for nothing
        text = _HANDLE.sub(" ", _ATTRIBUTION.sub(" ", text))
    text = _HASHTAG.sub(" ", text)
    if "RT" in text or "MT" in text:
        text = _RT.sub(" ", text)
    text = _WITH_DIGITS.sub(" ", text)
    text = text.translate(_SYMBOLS)
    return " ".join(text.split())[:MAX_CLEAN_CHARS]  # split() and re's \s agree on what a space is


class _SymbolTable(dict[int, str]):
    """`str.translate` table blanking symbols, filled lazily: one Unicode lookup per distinct character.

    Symbols (emoji are So), controls, format characters (ZWJ) and lone surrogates carry no language, and some
    backends choke on surrogates; letters of any script, marks, digits and punctuation are kept.
    """

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        kept = unicodedata.category(char)[0] not in "SC" and not 0xFE00 <= codepoint <= 0xFE0F  # emoji selectors
        replacement = char if kept else " "
        if len(self) < _SYMBOL_CACHE_SIZE:  # bounded: text cycling through all of Unicode cannot grow it
            self[codepoint] = replacement
        return replacement


_SYMBOL_CACHE_SIZE = 20_000
_SYMBOLS = _SymbolTable()


def has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def identify(
    texts: Sequence[str], known: Sequence[str] | None = None, declared: Sequence[str | None] | None = None
) -> list[tuple[str, float]]:
    """(ISO 639-1 code or `und`, confidence 0..1) for each text.

    `known`: the languages expected (a playbook's `monitoring.languages`). `declared`, parallel to `texts`: the
    language each source declared (None, "" or "und": none). Either wins near-ties, when the model gives it at
    least half its best probability, never a clear reading of the text.
    """
    if declared is not None and len(declared) != len(texts):
        raise ValueError(f"declared has {len(declared)} entries for {len(texts)} texts")
    expected = _codes(known or ())
    hints = declared if declared is not None else [None] * len(texts)
    words = [strip_markup(text if isinstance(text, str) else "") for text in texts]
    readable = [i for i, text in enumerate(words) if has_letters(text)]
    found: list[tuple[str, float]] = [(UNDETERMINED, 0.0)] * len(texts)
    model = _model()
    for i, scores in zip(readable, model.probabilities([words[i] for i in readable]), strict=True):
        found[i] = model.decide(scores, expected | _codes([hints[i]]))
    return found


class _Model:
    """py3langid's probabilities for many texts at once, equal to the bit to `LanguageIdentifier.rank`'s.

    py3langid walks its byte automaton in a Python loop, one text at a time: two thirds of its cost on tweets.
    Here the walk advances a block of texts together, one numpy step per byte position, texts sorted by length
    so that a block's texts end together; counting and scoring then run per text through py3langid's own
    `_sparse_score` and the same float32 steps as its `_decide` (tests/unit/test_language_batch.py checks the
    identity, so an upgrade of py3langid that changes them fails there).
    """

    BLOCK = 512  # texts walked together
    LONG = 1_024  # bytes: longer texts (rare) are walked alone, by py3langid's loop

    def __init__(self, identifier: Any) -> None:
        import numpy as np

        self.identifier = identifier
        self.nextmove = np.frombuffer(identifier.tk_nextmove, dtype=f"u{identifier.tk_nextmove.itemsize}")
        self.rowbase = np.asarray(identifier._rowbase, dtype=np.int64)
        self.output = np.asarray(identifier.tk_output, dtype=np.int32)
        self.first = {code: column for column, code in reversed(list(enumerate(identifier.nb_classes)))}
        self.labels = len(self.first)
        self.classes = identifier.nb_classes

    def probabilities(self, texts: Sequence[str]) -> list[Any]:
        """One float32 array per text, over the identifier's classes (aliases folded into their first column)."""
        from py3langid.langid import visit_counts

        encoded = [self.identifier._encode(text) for text in texts]
        visits: list[Counter[int] | None] = [None] * len(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]), reverse=True)
        short = [i for i in order if len(encoded[i]) <= self.LONG]
        for i in order[: len(order) - len(short)]:
            visits[i] = visit_counts(self.identifier.tk_nextmove, self.identifier._rowbase,
                                     self.identifier.tk_output, encoded[i])
        for start in range(0, len(short), self.BLOCK):
            block = short[start : start + self.BLOCK]
            for i, counted in zip(block, self._walk([encoded[i] for i in block]), strict=True):
                visits[i] = counted
        return [self._normalised(counted, len(data)) for counted, data in zip(visits, encoded, strict=True)]

    def _walk(self, block: list[bytes]) -> list[Counter[int] | None]:
        """Feature counts of texts sorted by decreasing length, all walked together; what `visit_counts` gives."""
        import numpy as np

        lengths = np.array([len(data) for data in block])
        width = int(lengths[0]) if len(block) else 0
        letters = np.zeros((width, len(block)), dtype=np.int64)  # position-major: a step reads a contiguous row
        for column, data in enumerate(block):
            letters[: len(data), column] = np.frombuffer(data, dtype=np.uint8)
        active = np.searchsorted(-lengths, -np.arange(width), side="left")  # texts longer than each position
        states = np.zeros(len(block), dtype=np.int64)
        features = np.full((width, len(block)), -1, dtype=np.int32)
        for position, count in enumerate(active.tolist()):
            moved = self.nextmove[self.rowbase[states[:count]] + letters[position, :count]]
            states[:count] = moved
            features[position, :count] = self.output[moved]
        return [self._counted(features[: len(data), column]) for column, data in enumerate(block)]

    @staticmethod
    def _counted(features: Any) -> Counter[int] | None:
        seen = features[features >= 0].tolist()
        return Counter(seen) if seen else None  # in order of first visit, as visit_counts: the dot sums that way

    def _normalised(self, visits: Counter[int] | None, size: int) -> Any:
        """py3langid's `_decide` with norm_probs, step for step, from the feature counts."""
        import numpy as np

        identifier = self.identifier
        if visits:
            scores = identifier._sparse_score(visits, identifier.nb_ptc)
        else:
            scores = np.full(len(self.classes), 0.0, dtype=np.float32)
        scores *= 1.0 / math.sqrt(size or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for first, alias in identifier._alias_pairs:
            scores[first] += scores[alias]
            scores[alias] = 0.0
        return scores

    def decide(self, scores: Any, preferred: set[str]) -> tuple[str, float]:
        """The rules of the module docstring, applied to the probabilities (no full ranking sorted per text)."""
        top = int(scores.argmax())  # the first of equal bests, as rank's stable sort; aliases hold 0.0
        best, confidence = self.classes[top], float(scores[top])
        if confidence < 2 / self.labels:  # flat: the model found nothing it knows in the text
            return UNDETERMINED, confidence
        probability = {code: float(scores[self.first[code]]) for code in preferred if code in self.first}
        favourite = max(sorted(preferred), key=lambda code: probability.get(code, 0.0), default=None)
        if favourite and probability.get(favourite, 0.0) >= PREFERRED_SHARE * confidence:
            return favourite, probability[favourite]
        if best != _NO_LANGUAGE and confidence >= MIN_CONFIDENCE:
            return best, confidence
        return UNDETERMINED, confidence


def _codes(codes: Sequence[str | None]) -> set[str]:
    return {code for code in map(_valid, codes) if code}


def _valid(code: str | None) -> str | None:
    code = (code or "").strip().lower()
    return code if len(code) == 2 and code.isalpha() else None


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """The model, loaded once per process on first use (about half a second), not at import.

    Restricted to its 114 ISO 639-1 languages (plus `zxx`): its other labels (Extremaduran `ext`, Nigerian
    Pidgin `pcm`, Cantonese `yue` …) cannot be reported as ISO 639-1 and, on short texts, steal Spanish and
    English tweets (bench/README.md). Probabilities are renormalised over that subset.
    """
    import numpy as np
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages([code for code in identifier.labels if len(code) == 2] + [_NO_LANGUAGE])
    # Its weights come float16 and column-major: a text's rows are gathered across the whole array, then cast.
    # Row-major float32 (47 MB instead of 23) gives the same products (float16 → float32 is exact), 10× faster.
    identifier.nb_ptc = np.ascontiguousarray(identifier.nb_ptc, dtype=np.float32)
    return identifier


@lru_cache(maxsize=1)
def _model() -> _Model:
    return _Model(_identifier())
