"""The assessment from enriched mentions: tallies, entity merging, audiences, factors and the priority verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crisiscomms.assessment import scoring
from crisiscomms.mention import EnrichedMention
from crisiscomms.playbook.models import Playbook
from crisiscomms.report import charts, reporting

T0 = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)


def playbook(**extra: Any) -> Playbook:
    data: dict[str, Any] = {
        "id": "essai", "version": "1.0.0", "title": "Essai", "phases": {},
        "audiences": {
            "journalistes": {"title": "Journalistes", "kind": "media", "match": {"author_contains": ["info"]}},
            "autorites": {"title": "Autorités", "kind": "government", "match": {"author_contains": ["gouv"]}},
            "clients": {"title": "Clients", "kind": "public", "default": True},
        },
        "monitoring": {"languages": ["fr", "en"], "detection": {"window": "5m"}},
        "assessment": {"safety": {"fr": ["malade", "hôpital"]},
                       "aliases": {"Lac-Mégantic": ["#LacMegantic", "Lac Megantic"]}},
    }
    data.update(extra)
    return Playbook.model_validate(data)


def mention(i: int, text: str, minutes: float = 0, sentiment: float | None = 0.0, segment: str = "clients",
            entities: list[dict[str, Any]] | None = None, **fields: Any) -> EnrichedMention:
    return EnrichedMention(id=str(i), created_at=T0 + timedelta(minutes=minutes), text=text, lang="fr",
                           analysed=sentiment is not None, sentiment=sentiment, relevance=0.5, segment=segment,
                           entities=entities or [], **fields)


def entity(text: str, label: str, within: str) -> dict[str, Any]:
    start = within.index(text)
    return {"text": text, "label": label, "start": start, "end": start + len(text)}


def assess(pb: Playbook, mentions: list[EnrichedMention], usual: float | None = None) -> Any:
    return scoring.assess(scoring.Tally.for_playbook(pb).add_all(mentions), pb, usual)


def test_spellings_and_playbook_aliases_merge_into_one_entity() -> None:
    texts = ["Explosion à Lac-Mégantic ce soir", "LAC MÉGANTIC sous le choc", "Pensées pour #LacMegantic",
             "Lac Megantic : le centre-ville évacué"]
    found = [[entity("Lac-Mégantic", "LOC", texts[0])], [entity("LAC MÉGANTIC", "LOC", texts[1])], [],
             [entity("Lac Megantic", "LOC", texts[3])]]
    record = assess(playbook(), [mention(i, t, entities=e) for i, (t, e) in enumerate(zip(texts, found, strict=True))])
    assert record.entities[0]["text"] == "Lac-Mégantic"  # the playbook's spelling
    assert (record.entities[0]["count"], record.entities[0]["label"]) == (4, "LOC")
    assert len(record.entities[0]["examples"]) == scoring.EXAMPLES


def test_without_an_alias_case_and_accents_still_merge() -> None:
    texts = ["Danone rappelle des yaourts", "danone encore", "DANONE !"]
    record = assess(playbook(), [mention(i, t, entities=[entity(t.split()[0], "ORG", t)]) for i, t in enumerate(texts)])
    assert [(e["count"], e["label"]) for e in record.entities] == [(3, "ORG")]


def test_an_entity_named_twice_in_one_mention_counts_once() -> None:
    text = "Danone, encore Danone"
    found = [{"text": "Danone", "label": "ORG", "start": 0, "end": 6}, {"text": "Danone", "label": "ORG", "start": 15, "end": 21}]
    assert assess(playbook(), [mention(1, text, entities=found)]).entities[0]["count"] == 1


def test_retweets_are_counted_as_shares_of_the_original() -> None:
    original = "Rappel de yaourts Duval : ne consommez pas les lots 2231 https://t.co/abc"
    mentions = [mention(1, original, reach=1000), mention(2, "RT @franceinfo: " + original.replace("abc", "xyz"), reach=50),
                mention(3, "RT @x: Rappel de yaourts DUVAL : ne consommez pas les lots 2231"), mention(4, "Autre chose")]
    top = assess(playbook(), mentions).top_mentions
    assert (top[0]["id"], top[0]["shares"], top[0]["reach"]) == ("1", 3, 1050)
    assert top[1]["shares"] == 1


def test_audience_shares_sentiment_and_who_needs_a_message() -> None:
    mentions = ([mention(i, "client", sentiment=-0.5) for i in range(18)]
                + [mention(100, "presse", segment="journalistes", sentiment=0.2)]
                + [mention(101, "presse", segment="journalistes", sentiment=-0.2)])
    record = assess(playbook(), mentions)
    assert record.audiences["clients"] | {} == {"title": "Clients", "kind": "public", "count": 18, "share": 0.9,
                                               "negative_share": 1.0, "sentiment": -0.5, "hit": True}
    assert (record.audiences["journalistes"]["share"], record.audiences["journalistes"]["negative_share"]) == (0.1, 0.5)
    assert record.audiences["autorites"]["count"] == 0 and not record.audiences["autorites"]["hit"]
    assert record.audiences_hit == ["journalistes", "clients"]
    assert record.factors["media_share"] == 0.1 and record.factors["government_share"] == 0.0


def test_hashtags_handles_channels_and_languages_are_counted() -> None:
    mentions = [mention(1, "#RappelConso @LaiterieDuval #rappelconso", channel="twitter"),
                mention(2, "#RappelConso !", channel="facebook"), mention(3, "rien", source="presse")]
    record = assess(playbook(), mentions)
    assert record.hashtags[0] == {"text": "#RappelConso", "count": 2, "share": 0.6667}
    assert {r["text"] for r in record.hashtags} == {"#RappelConso", "#rappelconso"}
    assert record.handles == [{"text": "@LaiterieDuval", "count": 1, "share": 0.3333}]
    assert {r["channel"]: r["count"] for r in record.channels} == {"twitter": 1, "facebook": 1, "presse": 1}
    assert record.languages == {"fr": 3}


def test_a_calm_period_is_p4_and_says_why() -> None:
    mentions = [mention(i, "Très bon yaourt", minutes=5 * i, sentiment=0.6) for i in range(24)]
    record = assess(playbook(), mentions)
    assert record.priority == "p4"
    assert record.reasons[0] == "p4: severity and urgency are both low (< 0.3)"
    assert "  sum of the mentions' reach (followers or views when the source gives them): unknown, left out" in record.reasons


def spike(sick: int = 30) -> list[EnrichedMention]:
    calm = [mention(i, "yaourt du matin", minutes=5 * i, sentiment=0.3) for i in range(24)]  # 2 h, 1 per window
    burst = [mention(1000 + i, "mon fils est malade après le yaourt" if i < sick else "yaourt bizarre, honteux",
                     minutes=120 + i / 6, sentiment=-0.6, segment="journalistes" if i % 5 == 0 else "clients")
             for i in range(60)]
    return calm + burst


def test_a_grave_and_urgent_spike_is_p1_with_its_reasons() -> None:
    record = assess(playbook(), spike())
    assert record.priority == "p1" and record.severity >= 0.6 and record.urgency >= 0.6
    assert record.factors["volume_ratio"] == 30.0  # 30 mentions in a 5-minute window vs 1 usually
    assert any("safety word" in r and "+" in r for r in record.reasons)
    assert record.reasons[0] == "p1: severity and urgency are both high (≥ 0.6)"


def test_the_monitoring_baseline_replaces_the_guess_of_the_usual_volume() -> None:
    assert assess(playbook(), spike(), usual=15.0).factors["volume_ratio"] == 2.0


def test_the_weights_of_the_playbook_decide() -> None:
    grave_only = {"scoring": {"severity": {"negative_share": {"weight": 1, "full": 0.5}},
                              "urgency": {"growth": {"weight": 1, "full": 1000}}}}
    record = assess(playbook(assessment=grave_only), spike())
    assert record.severity == 1.0 and record.urgency < 0.3
    assert record.priority == "p3"


@pytest.mark.parametrize(("severity", "urgency", "expected"), [
    (0.9, 0.6, "p1"), (0.6, 0.3, "p2"), (0.3, 0.9, "p2"), (0.59, 0.59, "p3"), (0.3, 0.0, "p3"), (0.29, 0.29, "p4"),
])
def test_priority_crosses_severity_and_urgency(severity: float, urgency: float, expected: str) -> None:
    assert scoring.priority(severity, urgency, high=0.6, medium=0.3)[0] == expected


def test_nothing_to_assess_is_p4_not_an_error() -> None:
    record = assess(playbook(), [])
    assert (record.priority, record.mentions, record.timeline, record.period_start) == ("p4", 0, [], None)
    assert "no mention in the period: nothing to assess" in record.reasons


def test_the_timeline_has_every_window_and_merges_beyond_the_limit() -> None:
    record = assess(playbook(), [mention(1, "a", minutes=0), mention(2, "b", minutes=14, sentiment=-0.9)])
    assert [(p["volume"], p["negative_share"]) for p in record.timeline] == [(1, 0.0), (0, None), (1, 1.0)]
    long = assess(playbook(), [mention(i, "x", minutes=5 * i) for i in range(500)]).timeline
    assert len(long) <= scoring.MAX_POINTS and sum(p["volume"] for p in long) == 500


def test_the_markdown_puts_the_verdict_first_and_escapes_cells() -> None:
    record = assess(playbook(), [mention(1, "a | b", entities=[entity("a", "PER", "a | b")])]).model_dump()
    markdown = reporting.assessment_markdown("Essai", record)
    assert markdown.splitlines()[2].startswith("**🟢 P4**")
    assert "a \\| b" in markdown and "| Clients (`clients`) | 1 | 100% |" in markdown


def test_charts_are_well_formed_svg_with_escaped_labels() -> None:
    svg = charts.timeline("Crise <Duval> & co", ["06:00", "06:05"], [3, 10], [0.1, None])
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}rect")) == 3
    bars = charts.bars("Publics", [("Clients & <grand public>", 0.9, "90 %")])
    assert "Clients &amp; &lt;grand public&gt;" in bars and ET.fromstring(bars) is not None
    assert charts.data_url(svg).startswith("data:image/svg+xml;base64,")
