"""Watchlist matching: whole words, accents, elision, plurals, whole tags, language scope; relevance."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from crisiscomms.monitoring.watchlist import (
    RELEVANCE,
    Match,
    RelevanceFeatures,
    compile_watchlist,
    fold,
    relevance,
    relevance_features,
)
from crisiscomms.playbook.monitoring import Watchlist

ROOT = Path(__file__).resolve().parents[2]

WATCH = {
    "any": Watchlist(brands=["Laiterie Duval", "Orange"], handles=["@LaiterieDuval"]),
    "fr": Watchlist(keywords=["rappel", "contamination", "goût bizarre", "usine", "E. coli", "ecoli", "gâteau"],
                    hashtags=["#rappelconso", "LaiterieDuval"]),
    "en": Watchlist(keywords=["recall", "food poisoning", "crash"], hashtags=["#foodsafety"]),
}
MATCHER = compile_watchlist(WATCH)


def fr(text: str) -> Match:
    return MATCHER.match(text, "fr")


def test_folding_removes_case_and_accents() -> None:
    assert fold("Écoli À L’USINE") == "ecoli a l'usine"


def test_keywords_match_without_case_or_accents() -> None:
    assert fr("ÉCOLI retrouvée").keywords == ["ecoli"]
    assert fr("un gout BIZARRE").keywords == ["goût bizarre"]
    assert fr("CONTAMINATION").keywords == ["contamination"]


def test_keywords_match_whole_words_only() -> None:
    assert fr("il me rappelle quelque chose").keywords == []
    assert fr("usinage de précision").keywords == []
    assert fr("rappel").keywords == ["rappel"]


def test_keywords_match_their_plural() -> None:
    assert fr("Trois rappels en un mois").keywords == ["rappel"]
    assert fr("des gâteaux").keywords == ["gâteau"]
    assert MATCHER.match("two crashes", "en").keywords == ["crash"]


def test_elided_and_possessive_forms_match() -> None:
    assert fr("Incendie à l'usine").keywords == ["usine"]
    assert fr("L’usine ferme").keywords == ["usine"]
    assert fr("La boutique d'Orange").brands == ["Orange"]
    assert MATCHER.match("Laiterie Duval's recall", "en").brands == ["Laiterie Duval"]


def test_brands_do_not_match_plurals() -> None:
    assert fr("des oranges pressées").brands == []


def test_phrases_allow_spaces_hyphens_and_initials_but_not_sentence_breaks() -> None:
    assert fr("chez  Laiterie-Duval").brands == ["Laiterie Duval"]
    assert fr("E.coli détectée").keywords == ["E. coli"]
    assert fr("Quel goût. Bizarre, non ?").keywords == []


def test_hashtags_match_whole_and_case_insensitively() -> None:
    assert fr("#RappelConso yaourts").hashtags == ["#rappelconso"]
    assert fr("#rappelconsommateur").hashtags == []
    assert fr("#LAITERIEDUVAL").hashtags == ["LaiterieDuval"]  # declared without '#': canonical kept as written


def test_handles_match_whole_and_never_inside_an_email_address() -> None:
    assert fr("@laiterieduval vous répondez ?").handles == ["@LaiterieDuval"]
    assert fr("@LaiterieDuvalFans").handles == []
    assert fr("écrire à contact@laiterieduval.fr").handles == []


def test_urls_are_not_words() -> None:
    assert fr("https://rappel.conso.gouv.fr/fiche/1234 www.usine.fr").keywords == []


def test_a_brand_named_as_a_hashtag_or_handle_is_the_brand() -> None:
    matcher = compile_watchlist({"any": Watchlist(brands=["Duval"])})
    assert matcher.match("#Duval le PDG parle", "fr").brands == ["Duval"]
    assert matcher.match("#boycottDuval", "fr").brands == []


def test_terms_of_any_apply_to_every_language() -> None:
    assert MATCHER.match("Laiterie Duval en Galicia", "es").brands == ["Laiterie Duval"]


def test_language_terms_apply_to_their_language_and_to_und_only() -> None:
    assert MATCHER.match("rappel recall", "fr").keywords == ["rappel"]
    assert MATCHER.match("rappel recall", "en").keywords == ["recall"]
    assert MATCHER.match("rappel recall", "und").keywords == ["rappel", "recall"]
    assert MATCHER.match("rappel recall", "es").keywords == []


def test_matches_are_canonical_in_order_of_appearance_without_duplicates() -> None:
    match = fr("Rappel ! CONTAMINATION, rappels, #RAPPELCONSO #rappelconso")
    assert match.keywords == ["rappel", "contamination"]
    assert match.hashtags == ["#rappelconso"]


def test_first_spelling_of_a_term_is_canonical() -> None:
    matcher = compile_watchlist({"any": Watchlist(keywords=["Rappel"]), "fr": Watchlist(keywords=["rappel"])})
    assert matcher.match("rappel", "fr").keywords == ["Rappel"]


def test_empty_watchlist_and_empty_text_match_nothing() -> None:
    assert not compile_watchlist({}).match("rappel", "fr")
    assert not fr("")


def test_demo_mentions_match_the_playbook_terms() -> None:
    first = json.loads((ROOT / "data/demo/mentions.jsonl").open(encoding="utf-8").readline())
    match = fr(first["text"])
    assert match.keywords == ["goût bizarre"]
    assert match.handles == ["@LaiterieDuval"]
    assert match.hashtags == ["#rappelconso"]


def test_context_words_are_found_but_are_not_a_match() -> None:
    matcher = compile_watchlist({"any": Watchlist(brands=["Duval"]), "fr": Watchlist(context=["blessés", "victime"])})
    alone = matcher.match("Deux blessés, une victime", "fr")
    assert alone.context == ["blessés", "victime"]
    assert not alone
    assert matcher.match("Duval : des victimes", "fr").context == ["victime"]


def test_keywords_found_apart_or_reordered_are_scattered_not_matched() -> None:
    matcher = compile_watchlist({"any": Watchlist(keywords=["Amuay refinería", "usine Duval", "rappel"])})
    apart = matcher.match("Explosión en la refinería de Amuay", "es")
    assert apart.keywords == []
    assert apart.scattered == ["Amuay refinería"]
    assert not apart
    exact = matcher.match("Amuay refineria en llamas", "es")
    assert (exact.keywords, exact.scattered) == (["Amuay refinería"], [])
    assert matcher.match("l'usine", "fr").scattered == []  # every word is needed
    assert matcher.match("Duval ferme ses usines", "fr").scattered == ["usine Duval"]  # plurals as for keywords


def test_no_match_is_not_relevant() -> None:
    assert relevance(Match(), "anything") == 0.0


def test_context_words_alone_are_not_relevant() -> None:
    assert relevance(Match(context=["victims", "evacuated"]), "victims evacuated") == 0.0


def test_documented_examples_hold() -> None:
    text = "a short text"  # the docstring's examples are for a 3-word text, rounded to 2 decimals
    assert relevance(Match(keywords=["k"]), text) == relevance(Match(brands=["B"]), text) == pytest.approx(0.34, abs=0.005)
    assert relevance(Match(handles=["@b"]), text) == relevance(Match(brands=["B"]), text)
    assert relevance(Match(hashtags=["#h"]), text) == pytest.approx(0.16, abs=0.005)
    assert relevance(Match(keywords=["k"], context=["c"]), text) == pytest.approx(0.50, abs=0.005)
    assert relevance(Match(brands=["B"], keywords=["k"]), text) == pytest.approx(0.75, abs=0.005)


def test_brands_and_handles_weigh_more_than_hashtags() -> None:
    text = "short text"
    brand, handle = relevance(Match(brands=["B"]), text), relevance(Match(handles=["@b"]), text)
    hashtag = relevance(Match(hashtags=["#h"]), text)
    assert brand == handle > hashtag > 0


def test_a_keyword_names_the_subject_and_a_crisis() -> None:
    text = "short text"
    keyword, hashtag = relevance(Match(keywords=["k"]), text), relevance(Match(hashtags=["#h"]), text)
    assert keyword > hashtag  # same subject evidence, but a keyword also announces a crisis


def test_crisis_words_beside_the_subject_raise_relevance() -> None:
    text = "short text"
    brand = relevance(Match(brands=["B"]), text)
    with_context = relevance(Match(brands=["B"], context=["victims"]), text)
    with_more = relevance(Match(brands=["B"], context=["victims", "evacuated"]), text)
    with_keyword = relevance(Match(brands=["B"], keywords=["recall"], context=["victims", "evacuated"]), text)
    assert brand < with_context < with_more < with_keyword


def test_a_scattered_keyword_counts_as_the_keyword() -> None:
    text = "explosión en la refinería de Amuay"
    assert relevance(Match(scattered=["Amuay refinería"]), text) == relevance(Match(keywords=["x"]), text) > 0


def test_relevance_grows_with_evidence_and_saturates_at_most_one() -> None:
    one = relevance(Match(brands=["B"]), "x")
    two = relevance(Match(brands=["B"], handles=["@b"]), "x")
    many = relevance(Match(brands=["B", "C"], handles=["@b"], hashtags=["#h"], keywords=list("klmno"),
                           context=list("pqrst")), "x")
    assert one < two < many <= 1.0
    assert many > 0.95


def test_a_keyword_in_a_long_article_is_weaker_evidence_than_in_a_tweet() -> None:
    tweet = relevance(Match(keywords=["rappel"]), "rappel des yaourts")
    article = relevance(Match(keywords=["rappel"]), "rappel " + "mot " * 500)
    assert 0 < article < tweet


def test_relevance_stays_within_bounds_on_hostile_text() -> None:
    for text in ["", "#" * 100, "#a " * 10_000, "\ud83d", "http://x.y " * 100, "mot " * 100_000]:
        assert 0.0 <= relevance(Match(brands=["B"], hashtags=["#a"], context=["c"]), text) <= 1.0
    assert relevance(Match(keywords=[f"k{i}" for i in range(2_000)]), "k") == 1.0  # no overflow


def test_a_text_that_only_tags_the_subject_is_less_relevant_than_a_sentence_about_it() -> None:
    match = Match(hashtags=["#falcon"])
    tags = relevance(match, "#me #beach #sky #cute #falcon @friend http://t.co/x")
    sentence = relevance(match, "Fire at the refinery tonight, the whole town is out in the street #falcon")
    assert 0 < tags < sentence


def test_a_few_words_are_weaker_evidence_than_a_sentence() -> None:
    match = Match(keywords=["rappel"])
    assert 0 < relevance(match, "rappel") < relevance(match, "rappel des yaourts nature de la laiterie ce matin")


def test_tags_handles_and_links_are_not_plain_words() -> None:
    bare = relevance_features(Match(hashtags=["#h"]), "#h")
    marked_up = relevance_features(Match(hashtags=["#h"]), "#h #a #b @c @d https://t.co/x www.example.org e@mail.fr")
    assert bare.words == marked_up.words == 0.0


def test_length_beyond_a_long_tweet_adds_nothing() -> None:
    match = Match(hashtags=["#h"])  # no keyword: no dilution either
    assert relevance(match, "mot " * 30 + "#h") == relevance(match, "mot " * 3_000 + "#h")


def test_evidence_never_lowers_relevance() -> None:
    weights = [RELEVANCE.keyword, RELEVANCE.hashtag, RELEVANCE.context, RELEVANCE.words]
    assert all(weight >= 0 for weight in weights)
    for more in (Match(keywords=["k"]), Match(hashtags=["#h"]), Match(brands=["B"]), Match(handles=["@b"])):
        base = Match(keywords=["x"])
        grown = Match(*(getattr(base, f) + getattr(more, f) for f in ("keywords", "hashtags", "handles", "brands")))
        assert relevance(grown, "some text about x") > relevance(base, "some text about x")


def test_without_a_watched_term_the_model_scores_zero_whatever_else_the_text_holds() -> None:
    nothing = RelevanceFeatures(subject=False, keywords=0.0, hashtags=0.0, context=3.0, words=3.0)
    assert RELEVANCE.score(nothing) == 0.0
    assert relevance_features(Match(scattered=["a b"]), "b a").subject  # a scattered keyword is a watched term


def test_matching_is_fast() -> None:
    texts = ["RT @LaiterieDuval: Rappel de yaourts #RappelConso à l'usine d'Orange https://t.co/x"] * 5_000
    start = time.perf_counter()
    matches = [MATCHER.match(text, "fr") for text in texts]
    assert time.perf_counter() - start < 2.0  # bench: ~15 000 mentions/s
    assert matches[0].brands == ["Orange"]


@pytest.mark.parametrize("text", ["\ud83d", "a" * 50_000, "#" * 100, "@@@", "'" * 10, "انفجار #rappel"])
def test_hostile_text_never_raises(text: str) -> None:
    assert isinstance(MATCHER.match(text, "und"), Match)


def test_email_addresses_in_brackets_or_quotes_are_not_words() -> None:
    matcher = compile_watchlist({"any": Watchlist(keywords=["contact", "presse"])})
    assert matcher.match("Écrire à (contact@duval.fr) ou \"presse@duval.fr\"", "fr").keywords == []
    assert matcher.match("contact presse : voir plus bas", "fr").keywords == ["contact", "presse"]
