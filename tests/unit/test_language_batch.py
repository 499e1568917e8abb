"""The batched language identification equals py3langid's own, to the bit.

`crisiscomms.monitoring.language` walks py3langid's automaton over many texts at once and re-does its `_decide` steps; an
upgrade of py3langid that changes either must fail here, not silently shift languages. The reference below is
how `identify` decided before, one text at a time through `LanguageIdentifier.rank`.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crisiscomms.monitoring import language
from crisiscomms.monitoring.language import (
    MIN_CONFIDENCE,
    PREFERRED_SHARE,
    UNDETERMINED,
    has_letters,
    identify,
    strip_markup,
)

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def pristine() -> Any:
    """py3langid as it comes (float16 weights, column-major), restricted as `language._identifier` restricts it."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages([code for code in identifier.labels if len(code) == 2] + ["zxx"])
    assert identifier.nb_ptc.dtype == np.float16
    return identifier


def reference(text: str, preferred: set[str]) -> tuple[str, float]:
    words = strip_markup(text)
    if not has_letters(words):
        return UNDETERMINED, 0.0
    ranking = pristine().rank(words)
    best, confidence = ranking[0]
    if confidence < 2 / len(ranking):
        return UNDETERMINED, float(confidence)
    probability = dict(ranking)
    favourite = max(sorted(preferred), key=lambda code: probability.get(code, 0.0), default=None)
    if favourite and probability.get(favourite, 0.0) >= PREFERRED_SHARE * confidence:
        return favourite, float(probability[favourite])
    if best != "zxx" and confidence >= MIN_CONFIDENCE:
        return best, float(confidence)
    return UNDETERMINED, float(confidence)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rng = random.Random(2015)
    tweets = [json.loads(line)["text"] for path in sorted((ROOT / "data" / "crisislex").glob("*.jsonl"))
              for line in path.read_text(encoding="utf-8").splitlines()]
    posts = [json.loads(line)["text"] for line in (ROOT / "tests/data/fr_posts.jsonl").open(encoding="utf-8")]
    odd = ["", "🤮", "#RappelConso https://t.co/x", "ok", "LOL", "PAS TERRIBLE", "Ünïcödé", "\ud800 lone",
           "Српски језик је јужнословенски", "Oʻzbek tili turkiy tillar", "Ўзбек тили туркий тиллар", "日本語",
           "mot " * 900, "é" * 700, "x" * 54_000]  # Serbian and Uzbek: py3langid's aliased columns
    scrambled = ["".join(rng.choice("abcdéèàç ΣσИж漢,.!'1") for _ in range(rng.randrange(1, 300)))
                 for _ in range(300)]
    return rng.sample(tweets, 1_500) + posts + odd + scrambled


def test_probabilities_equal_py3langid_decide_to_the_bit(texts: list[str]) -> None:
    identifier = pristine()
    words = [strip_markup(text) for text in texts]
    batched = language._model().probabilities(words)
    for text, ours in zip(words, batched, strict=True):
        theirs = identifier._decide(text)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), text


def test_identify_decides_as_rank_did_with_and_without_hints(texts: list[str]) -> None:
    rng = random.Random(7)
    declared = [rng.choice([None, "", "und", "fr", "en", "es", "sr", "xx"]) for _ in texts]
    assert identify(texts) == [reference(text, set()) for text in texts]
    assert identify(texts, ["fr", "en"], declared) == [
        reference(text, {"fr", "en"} | ({hint} if hint in {"fr", "en", "es", "sr"} else set()))
        for text, hint in zip(texts, declared, strict=True)
    ]


def test_a_text_gets_the_same_answer_alone_or_in_any_batch(texts: list[str]) -> None:
    alone = [identify([text], ["fr", "en"])[0] for text in texts[:400]]
    shuffled = list(range(400))
    random.Random(1).shuffle(shuffled)
    together = identify([texts[i] for i in shuffled], ["fr", "en"])
    assert [together[shuffled.index(i)] for i in range(400)] == alone
