"""Audience segmentation: evidence kinds and their ranking, playbook order, the speaker, folding, defaults."""

from __future__ import annotations

from typing import Any

import pytest

from crisiscomms.monitoring.audience import UNASSIGNED, Segment, Segmenter, speaker
from crisiscomms.playbook.models import Audience


def segmenter(**audiences: dict[str, Any]) -> Segmenter:
    return Segmenter({name: Audience.model_validate({"title": name, **spec}) for name, spec in audiences.items()})


# One audience per kind of evidence, written weakest first: ranking, not playbook order, must decide.
RANKED = segmenter(
    partage={"match": {"links": True}},
    citoyens={"match": {"keywords": ["selon nos informations"]}},
    associations={"match": {"entities": ["Croix-Rouge"]}},
    salaries={"match": {"channels": ["intranet"]}},
    autorites={"match": {"author_contains": ["gouv"]}},
    journalistes={"match": {"authors": ["@afpfr"]}},
    clients={"kind": "public", "default": True},
)
EVERYTHING = "Selon nos informations, la Croix-Rouge est sur place https://t.co/x"


def segment(text: str = EVERYTHING, **kwargs: Any) -> Segment:
    return RANKED.segment(text, **kwargs)


def test_each_kind_of_evidence_claims_a_mention() -> None:
    assert segment("rien", author="@afpfr").audience == "journalistes"
    assert segment("rien", author="prefet_gouv").audience == "autorites"
    assert segment("rien", channel="intranet").audience == "salaries"
    assert segment("rien", source="intranet").audience == "salaries"
    assert segment("rien", entities=["Croix-Rouge"]).audience == "associations"
    assert segment("Selon nos informations, rien").audience == "citoyens"
    assert segment("rien https://t.co/x").audience == "partage"
    assert segment("rien www.exemple.fr").audience == "partage"


def test_stronger_evidence_wins_whatever_the_playbook_order() -> None:
    everything = {"entities": ["Croix-Rouge"], "channel": "intranet"}
    assert segment(author="@afpfr", **everything).audience == "journalistes"
    assert segment(author="prefet_gouv", **everything).audience == "autorites"
    assert segment(author="someone", **everything).audience == "salaries"
    assert segment(author="someone", entities=["Croix-Rouge"]).audience == "associations"
    assert segment(author="someone").audience == "citoyens"
    assert segment("Un lien https://t.co/x", author="someone").audience == "partage"


def test_within_a_kind_the_audience_written_first_wins() -> None:
    both = segmenter(
        autorites={"match": {"keywords": ["préfecture"], "author_contains": ["info"]}},
        journalistes={"match": {"keywords": ["selon nos informations"], "author_contains": ["news"]}},
    )
    # the journalists' phrase comes first in the text, the authorities come first in the playbook
    assert both.segment("Selon nos informations, la préfecture confirme").audience == "autorites"
    assert both.segment("rien", author="infonews").audience == "autorites"
    linked = segmenter(a={"match": {"links": True}}, b={"match": {"links": True}})
    assert linked.segment("https://t.co/x").audience == "a"


def test_the_retweeted_author_is_the_speaker() -> None:
    assert speaker("@bob", "RT @afpfr: Incendie à l'usine") == ("afpfr", "retweeted author")
    assert speaker("@bob", "Incendie à l'usine") == ("bob", "author")
    assert speaker(None, "Incendie") == (None, "")
    found = segment("RT @afpfr: Incendie à l'usine", author="@bob")
    assert found == Segment("journalistes", "retweeted author @afpfr is listed")
    assert segment("« RT @prefet_gouv rien", author="@afpfr").audience == "autorites"


def test_terms_compare_case_and_accent_blind() -> None:
    blind = segmenter(
        journalistes={"match": {"authors": ["@AFPfr"], "author_contains": ["ÉDITION"]}},
        salaries={"match": {"channels": ["Intranet"]}},
        associations={"match": {"entities": ["Croix-Rouge"]}},
        autorites={"match": {"keywords": ["sécurité civile"]}},
    )
    assert blind.segment("rien", author="afpFR").audience == "journalistes"
    assert blind.segment("rien", author="LeMonde_Edition").audience == "journalistes"
    assert blind.segment("rien", channel="INTRANET").audience == "salaries"
    assert blind.segment("rien", entities=["croix-rouge"]).audience == "associations"
    assert blind.segment("La SECURITE CIVILE est là").audience == "autorites"


def test_keywords_follow_the_whole_word_rules() -> None:
    ruled = segmenter(journalistes={"match": {"keywords": ["info"]}})
    assert ruled.segment("une information").audience == UNASSIGNED
    assert ruled.segment("des infos").audience == "journalistes"  # plural, as watchlist keywords


def test_what_nothing_claims_goes_to_the_default_audience() -> None:
    assert segment("rien du tout") == Segment("clients", "no rule matched: default audience")


def test_without_a_default_audience_a_mention_is_unassigned() -> None:
    ruled = segmenter(journalistes={"match": {"authors": ["@afpfr"]}}, clients={"title": "Clients"})
    assert ruled.default == UNASSIGNED
    assert ruled.segment("rien", author="@bob").audience == UNASSIGNED


def test_links_count_only_where_an_audience_asks_for_them() -> None:
    assert segmenter(clients={"default": True}).segment("https://t.co/x").audience == "clients"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"author": "@afpfr"}, "author @afpfr is listed"),
        ({"author": "prefet_gouv"}, "author @prefet_gouv contains 'gouv'"),
        ({"channel": "intranet"}, "channel 'intranet' is listed"),
        ({"entities": ["Croix-Rouge"]}, "names the entity 'Croix-Rouge'"),
        ({"text": "Selon nos informations, rien"}, "says 'selon nos informations'"),
        ({"text": "rien https://t.co/x"}, "shares a link"),
    ],
)
def test_reasons_say_which_evidence_decided(kwargs: dict[str, Any], reason: str) -> None:
    assert RANKED.segment(**{"text": "rien", **kwargs}).reason == reason
