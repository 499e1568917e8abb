"""Language identification: short social texts, markup, hostile input, offline, and the hand-labelled tweets."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crisiscomms.monitoring import language
from crisiscomms.monitoring.language import identify, strip_markup

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data"


pytestmark = pytest.mark.usefixtures("no_network")  # models come from installed packages only


def lang_of(text: str, known: list[str] | None = None) -> str:
    return identify([text], known)[0][0]


@pytest.mark.parametrize(("text", "expected"), [
    ("Descarrila un tren de pasajeros en Santiago de Compostela", "es"),
    ("Helicopter crashes into pub in Glasgow", "en"),
    ("Les yaourts Duval c'est pas terrible depuis qu'ils ont changé la recette", "fr"),
    ("Bangladesh: palazzo crollato, 4 arresti. Bilancio sale a 337 morti", "it"),
])
def test_short_texts_get_their_language(text: str, expected: str) -> None:
    assert lang_of(text) == expected


def test_urls_handles_hashtags_and_rt_markers_do_not_decide_the_language() -> None:
    text = "RT @BBCBreaking: #PrayForTexas #WestTX via @AP http://t.co/abc Descarrila un tren de pasajeros en Galicia"
    assert lang_of(text) == "es"
    assert strip_markup(text) == ": Descarrila un tren de pasajeros en Galicia"


def test_markup_stripping_removes_emoji_entities_and_tokens_with_digits() -> None:
    assert strip_markup("Tragedia 😢🙏🏽 &amp; luto 09:30am L2403 ❤️") == "Tragedia & luto :"


@pytest.mark.parametrize("text", ["", "   ", "🔥🔥😡😡 🙏", "#PrayForTexas #WestTX", "http://t.co/x @someone",
                                  "RT @a: 12:30 100%", "\u200d\ufe0f"])
def test_texts_without_letters_are_undetermined_with_zero_confidence(text: str) -> None:
    assert identify([text]) == [("und", 0.0)]


def test_right_to_left_scripts_are_identified() -> None:
    arabic, hebrew = identify(["انفجار في مصفاة النفط في فنزويلا", "פיצוץ במפעל דשנים בטקסס"])
    assert arabic[0] == "ar"
    assert hebrew[0] == "he"


def test_fifty_thousand_characters_are_identified_quickly() -> None:
    identify(["warm up"])
    start = time.perf_counter()
    [(code, confidence)] = identify(["Rappel de yaourts contaminés à la listeria. " * 1_200])
    assert time.perf_counter() - start < 1.0
    assert code == "fr"
    assert 0 < confidence <= 1


@pytest.mark.parametrize("text", ["\ud83d broken surrogate text", "\x00\x01 control", "a" * 50_000, "ok", "!!!"])
def test_hostile_input_never_raises(text: str) -> None:
    [(code, confidence)] = identify([text])
    assert code == "und" or (len(code) == 2 and code.isalpha())
    assert 0.0 <= confidence <= 1.0


def test_codes_are_iso_639_1_or_und_on_every_labelled_tweet() -> None:
    codes = {code for code, _ in identify([text for text, _ in labelled_tweets()])}
    assert all(code == "und" or (len(code) == 2 and code.isalpha()) for code in codes)


def test_expected_languages_break_near_ties_on_three_french_words() -> None:
    assert lang_of("Le magasin m'a") != "fr"
    assert lang_of("Le magasin m'a", known=["fr", "en"]) == "fr"


def test_expected_languages_never_overrule_a_clear_reading() -> None:
    assert lang_of("Descarrila un tren de pasajeros en Santiago de Compostela", known=["fr", "en"]) == "es"


def test_declared_language_per_text_breaks_ties_only_for_its_text() -> None:
    result = identify(["pas terrible", "pas terrible"], declared=["fr", None])
    assert [code for code, _ in result] == ["fr", "und"]


def test_invalid_expected_or_declared_codes_are_ignored() -> None:
    assert lang_of("Helicopter crashes into pub in Glasgow", known=["xx1", "", "french"]) == "en"
    assert identify(["Helicopter crashes into pub"], declared=["und"])[0][0] == "en"


def test_declared_must_be_parallel_to_texts() -> None:
    with pytest.raises(ValueError, match="declared"):
        identify(["a", "b"], declared=["fr"])


def test_model_is_loaded_once_per_process() -> None:
    identify(["first call"])
    misses = language._identifier.cache_info().misses
    identify(["second call", "third call"])
    assert language._identifier.cache_info().misses == misses


def labelled_tweets() -> list[tuple[str, str]]:
    rows = list(csv.DictReader(line for line in (DATA / "lang_labels.csv").open(encoding="utf-8")
                               if not line.startswith("#")))
    texts = {}
    for event in {row["event"] for row in rows}:
        for line in (ROOT / f"data/crisislex/{event}.jsonl").open(encoding="utf-8"):
            record = json.loads(line)
            texts[record["id"]] = record["text"]
    return [(texts[row["id"]], row["lang"]) for row in rows]


def test_hand_labelled_tweets_are_identified_at_least_as_well_as_benchmarked() -> None:
    tweets = labelled_tweets()
    assert len(tweets) == 400
    predicted = identify([text for text, _ in tweets], known=["fr", "en"])
    accuracy = sum(code == gold for (code, _), (_, gold) in zip(predicted, tweets, strict=True)) / len(tweets)
    assert accuracy >= 0.98  # bench/README.md: 0.990


def test_every_french_post_is_french() -> None:
    posts = [json.loads(line) for line in (DATA / "fr_posts.jsonl").open(encoding="utf-8")]
    assert len(posts) >= 100
    assert {code for code, _ in identify([post["text"] for post in posts])} == {"fr"}


def test_analysis_modules_do_not_import_prefect() -> None:
    code = ("import sys; import crisiscomms.monitoring.language, crisiscomms.monitoring.watchlist, crisiscomms.monitoring.sentiment; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    assert done.stdout.strip() == "[]"


def _strip_unconditionally(text: str) -> str:
    """strip_markup as it was before its shortcuts: every pattern run on every text."""
    import html

    text = html.unescape(text[: language.MAX_RAW_CHARS])
    text = language._URL.sub(" ", text)
    text = language._HANDLE.sub(" ", language._ATTRIBUTION.sub(" ", text))
    text = language._RT.sub(" ", language._HASHTAG.sub(" ", text))
    text = language._WITH_DIGITS.sub(" ", text).translate(language._SYMBOLS)
    return " ".join(text.split())[: language.MAX_CLEAN_CHARS]


def test_markup_shortcuts_change_nothing() -> None:
    """strip_markup skips the patterns a text cannot match (no ':', '/' or 'ww.' → no URL; no digit → no code)."""
    import random

    rng = random.Random(11)
    tweets = [json.loads(line)["text"] for path in sorted((ROOT / "data" / "crisislex").glob("*.jsonl"))
              for line in path.read_text(encoding="utf-8").splitlines()]
    pieces = ["WWW.x.fr", "Www.", "HTTPS:", "httpſ:", "a.com/b", "a.CO/b", "x.ly", "3h", "٣", "L2403", "RT", "MT",
              "@x", "via @y", "#t", "é", " ", ":", "/", ".", "&amp;", "😡", "\ufe0f", "mot"]
    fuzz = ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12))) for _ in range(5_000)]
    for text in [*rng.sample(tweets, 3_000), *fuzz]:
        assert strip_markup(text) == _strip_unconditionally(text), text
