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
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise
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
_DIGIT = re.compile(r"\d")  # the same digits: a text without one is not searched word by word


def strip_markup(text: str) -> str:
    """The words of a post: no URLs, @handles, #hashtags, RT markers, emoji, symbols or control characters."""
    text = html.unescape(text[:MAX_RAW_CHARS])  # tweets arrive with &amp; / &gt; escaped
    if "/" in text or ":" in text or "ww." in text.lower():  # what every URL match holds: the rest is skipped
        text = _URL.sub(" ", text)
    if "@" in text:  # the patterns that need one are skipped, not run for nothing
        text = _HANDLE.sub(" ", _ATTRIBUTION.sub(" ", text))
    text = _HASHTAG.sub(" ", text)
    if "RT" in text or "MT" in text:
        text = _RT.sub(" ", text)
    if _DIGIT.search(text):
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
    preferred: dict[str | None, frozenset[str]] = {}  # per distinct hint: a batch has few
    for hint in {hints[i] for i in readable}:
        preferred[hint] = frozenset(expected | _codes([hint]))
    model = _model()
    scores = model.probabilities([words[i] for i in readable])
    for i, decision in zip(readable, model.decisions(scores, [preferred[hints[i]] for i in readable]), strict=True):
        found[i] = decision
    return found


class _Model:
    """py3langid's probabilities for many texts at once, equal to the bit to `LanguageIdentifier.rank`'s.

    py3langid walks its byte automaton in a Python loop, one text at a time, then scores each text with a
    handful of small numpy calls: on short posts, Python overhead is most of its cost. Here the walk advances a
    block of texts together, one numpy step per byte position (texts sorted by length, so that a block's texts
    end together); features are counted for the whole block at once; only the product of each text's counts
    with its weight rows stays one BLAS call per text, made exactly as py3langid's `_sparse_score` makes it
    (same operands, same order: features in order of first visit), so its float32 sums round the same way;
    the softmax and alias folding of its `_decide` then run on all the block's rows together, element by
    element or row by row as it does them (tests/unit/test_language_batch.py checks the identity, so an
    upgrade of py3langid or numpy that changes any of them fails there).
    """

    BLOCK = 256  # texts walked together (256 measured faster than 128, 512 or 2048 on posts and tweets)
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
        self.features = int(identifier.nb_ptc.shape[0])

    def probabilities(self, texts: Sequence[str]) -> Any:
        """float32 array, one row per text, over the identifier's classes (aliases folded into their first
        column): row for row what py3langid's `_decide` gives."""
        import numpy as np
        from py3langid.langid import visit_counts

        identifier = self.identifier
        encoded = [identifier._encode(text) for text in texts]
        scores = np.zeros((len(encoded), len(self.classes)), dtype=np.float32)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]), reverse=True)
        short = [i for i in order if len(encoded[i]) <= self.LONG]
        for i in order[: len(order) - len(short)]:
            visits = visit_counts(identifier.tk_nextmove, identifier._rowbase, identifier.tk_output, encoded[i])
            if visits:
                scores[i] = identifier._sparse_score(visits, identifier.nb_ptc)
        for start in range(0, len(short), self.BLOCK):
            block = short[start : start + self.BLOCK]
            scores[block] = self._scores([encoded[i] for i in block])
        return self._normalised(scores, [len(data) for data in encoded])

    def _scores(self, block: list[bytes]) -> Any:
        """py3langid's raw scores (`_sparse_score`, 0.0 without features) of texts sorted by decreasing length."""
        import numpy as np

        identifier = self.identifier
        owner, feature, count = self._counts(self._walk(block))
        weights = np.log1p(count.astype(np.float32))
        rows = identifier.nb_ptc[feature]
        bounds = np.searchsorted(owner, np.arange(len(block) + 1)).tolist()
        scores = np.zeros((len(block), len(self.classes)), dtype=np.float32)
        for text, (start, end) in enumerate(pairwise(bounds)):
            if end > start:  # one call per text, as `_sparse_score`'s: BLAS rounds a sum by how it splits it
                scores[text] = weights[start:end] @ rows[start:end]
        counted = np.diff(bounds) > 0
        scores[counted] += identifier.nb_pc
        return scores

    def _walk(self, block: list[bytes]) -> Any:
        """The feature each byte of each text reaches (-1: none), position-major: what `visit_counts` visits."""
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
        return features

    def _counts(self, features: Any) -> tuple[Any, Any, Any]:
        """(text, feature, count) triples: by text, and within a text in order of first visit, as `visit_counts`'
        Counter holds them (the dot product sums in that order)."""
        import numpy as np

        by_text = features.T  # text-major: nonzero lists each text's visits in reading order
        text, position = np.nonzero(by_text >= 0)
        keys = text.astype(np.int64) * self.features + by_text[text, position]
        # Equal keys side by side, each run in reading order (a stable sort): a run's head is a first visit.
        grouped = np.argsort(keys, kind="stable")
        ordered = keys[grouped]
        head = np.empty(len(keys), dtype=bool)
        head[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=head[1:])
        run = np.cumsum(head) - 1
        sizes = np.diff(np.flatnonzero(np.append(head, True)))
        first = np.zeros(len(keys), dtype=bool)
        first[grouped[head]] = True
        run_of_visit = np.empty(len(keys), dtype=np.int64)
        run_of_visit[grouped] = run
        return text[first], keys[first] - text[first] * self.features, sizes[run_of_visit[first]]

    def _normalised(self, scores: Any, sizes: list[int]) -> Any:
        """py3langid's `_decide` with norm_probs, on every row at once: each step is element- or row-wise."""
        import numpy as np

        # `scores *= 1.0 / math.sqrt(size)`: the Python float is cast to float32, then multiplies.
        scores *= np.array([1.0 / math.sqrt(size or 1) for size in sizes], dtype=np.float32)[:, None]
        np.exp(scores - scores.max(axis=1, keepdims=True), out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for first, alias in self.identifier._alias_pairs:
            scores[:, first] += scores[:, alias]
            scores[:, alias] = 0.0
        return scores

    def decisions(self, scores: Any, preferred: Sequence[frozenset[str]]) -> list[tuple[str, float]]:
        """The rules of the module docstring, applied to each row of probabilities (no ranking sorted per text).

        `preferred[k]`: the languages that break near-ties for row k (expected, and declared for that text).
        """
        import numpy as np

        rows = np.arange(len(scores))
        top = scores.argmax(axis=1)  # the first of equal bests, as rank's stable sort; aliases hold 0.0
        confidence = scores[rows, top].tolist()
        favourites = self._favourites(scores, preferred)
        return [self._decided(self.classes[column], best, *favourite)
                for column, best, favourite in zip(top.tolist(), confidence, favourites, strict=True)]

    def _favourites(self, scores: Any, preferred: Sequence[frozenset[str]]) -> list[tuple[str | None, float]]:
        """For each row, its most probable preferred language and that probability ((None, 0.0): none known).

        The first in alphabetical order of equally probable ones, as `max(sorted(preferred), key=…)` picks it.
        """
        import numpy as np

        found: list[tuple[str | None, float]] = [(None, 0.0)] * len(scores)
        groups: dict[frozenset[str], list[int]] = {}
        for row, codes in enumerate(preferred):
            groups.setdefault(codes, []).append(row)
        for codes, members in groups.items():
            known = [code for code in sorted(codes) if code in self.first]
            if not known:
                continue
            probabilities = scores[np.ix_(members, [self.first[code] for code in known])]
            pick = probabilities.argmax(axis=1)
            chosen = probabilities[np.arange(len(members)), pick].tolist()
            for row, column, probability in zip(members, pick.tolist(), chosen, strict=True):
                found[row] = (known[column], probability)
        return found

    def _decided(self, best: str, confidence: float, favourite: str | None, probability: float) -> tuple[str, float]:
        if confidence < 2 / self.labels:  # flat: the model found nothing it knows in the text
            return UNDETERMINED, confidence
        if favourite and probability >= PREFERRED_SHARE * confidence:
            return favourite, probability
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
