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
import re
import unicodedata
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

_URL = re.compile(r"\b(?:https?:|www\.)\S*|\b\w+\.(?:com|co|org|net|ly|gl|me)/\S*", re.IGNORECASE)
# "via @x" / "cc @x" are attribution markup, in English whatever the tweet's language.
_ATTRIBUTION = re.compile(r"\b(?:via|vía|cc|h/t)\s*:?\s*(?=@)", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#\w+")
# Retweet / modified-tweet markers, anywhere (quote-retweets put them mid-text); upper case only, as written.
_RT = re.compile(r"(?<!\w)(?:RT|MT)(?!\w)")
# Tokens with digits (09:30am, 3hrs, L2403, 500g) are times, codes and units, not words of a language.
_WITH_DIGITS = re.compile(r"\w*\d\w*")
_SPACES = re.compile(r"\s+")


def strip_markup(text: str) -> str:
    """The words of a post: no URLs, @handles, #hashtags, RT markers, emoji, symbols or control characters."""
    text = html.unescape(text[:MAX_RAW_CHARS])  # tweets arrive with &amp; / &gt; escaped
    text = _URL.sub(" ", text)
    text = _ATTRIBUTION.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _HASHTAG.sub(" ", text)
    text = _RT.sub(" ", text)
    text = _WITH_DIGITS.sub(" ", text)
    text = text.translate(_SYMBOLS)
    return _SPACES.sub(" ", text).strip()[:MAX_CLEAN_CHARS]


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
    return [_identify_one(text, expected | _codes([hint])) for text, hint in zip(texts, hints, strict=True)]


def _identify_one(text: str, preferred: set[str]) -> tuple[str, float]:
    words = strip_markup(text if isinstance(text, str) else "")
    if not has_letters(words):
        return UNDETERMINED, 0.0
    ranking = _identifier().rank(words)
    best, confidence = ranking[0]
    if confidence < 2 / len(ranking):  # flat: the model found nothing it knows in the text
        return UNDETERMINED, float(confidence)
    probability = dict(ranking)
    favourite = max(sorted(preferred), key=lambda code: probability.get(code, 0.0), default=None)
    if favourite and probability.get(favourite, 0.0) >= PREFERRED_SHARE * confidence:
        return favourite, float(probability[favourite])
    if best != _NO_LANGUAGE and confidence >= MIN_CONFIDENCE:
        return best, float(confidence)
    return UNDETERMINED, float(confidence)


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
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages([code for code in identifier.labels if len(code) == 2] + [_NO_LANGUAGE])
    return identifier
