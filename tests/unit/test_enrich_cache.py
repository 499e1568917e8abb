"""A text is analysed once: mentions with the same text share its language, sentiment and entities, and keep
their own id, author, channel and audience; the cache is bounded; a cached analysis equals the uncached one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crisiscomms.mention import EnrichedMention, Mention
from crisiscomms.monitoring.analysis_cache import Analysis, AnalysisCache
from crisiscomms.monitoring.enrich import Enricher, key_of
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
CRISISLEX = ROOT / "data" / "crisislex"
WHEN = datetime(2024, 3, 12, 8, tzinfo=UTC)
RECALL = "Laiterie Duval rappelle ses yaourts nature bio à Lyon : goût bizarre, plusieurs malades signalés."


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return Project(ROOT).load("rappel-produit").playbook


@pytest.fixture(scope="module")
def enricher(playbook: Playbook) -> Enricher:
    return Enricher(playbook)


def mention(ident: str, text: str, **fields: str) -> Mention:
    return Mention.model_validate({"id": ident, "created_at": WHEN, "text": text, **fields})


def analysis_of(enriched: EnrichedMention) -> tuple[object, ...]:
    return enriched.lang, enriched.analysed, enriched.sentiment, enriched.entities


def real_order_tweets(per_event: int) -> list[Mention]:
    """The first tweets of each CrisisLexT26 event, retweets and copies kept, in the order they were posted."""
    records = []
    for path in sorted(CRISISLEX.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines()[:per_event]:
            record = json.loads(line)
            record.pop("gold")  # crowd labels are never product input
            records.append(record)
    records.sort(key=lambda record: record["created_at"])
    return [Mention.model_validate(record) for record in records]


def test_two_mentions_with_the_same_text_share_its_analysis_and_keep_their_own_id_author_and_segment(
        enricher: Enricher) -> None:
    journalist = mention("a", RECALL, author="@afpfr", channel="twitter")
    employee = mention("b", RECALL, author="@marie_l", channel="intranet")
    first, second = enricher.enrich([journalist, employee])
    assert analysis_of(first) == analysis_of(second)
    assert any(e["text"] == "Laiterie Duval" and e["label"] == "ORG" for e in first.entities)
    assert (first.id, first.author, first.channel, first.segment) == ("a", "@afpfr", "twitter", "journalistes")
    assert (second.id, second.author, second.channel, second.segment) == ("b", "@marie_l", "intranet", "salaries")


def test_mentions_sharing_a_text_get_lists_of_their_own(enricher: Enricher) -> None:
    first, second = enricher.enrich([mention("c", RECALL), mention("d", RECALL)])
    first.entities[0]["text"] = "changed by a consumer of the first mention"
    assert second.entities[0]["text"] == "Laiterie Duval"
    assert enricher.enrich([mention("e", RECALL)])[0].entities[0]["text"] == "Laiterie Duval"


def test_a_retweet_gets_entities_at_their_offsets_in_its_own_text(playbook: Playbook) -> None:
    enricher = Enricher(playbook)
    prefix = "RT @LaiterieDuval: "
    original, retweet, again = enricher.enrich(
        [mention("o", RECALL), mention("r", prefix + RECALL, author="@x"), mention("r2", prefix + RECALL)])
    for enriched in (original, retweet, again):
        assert enriched.entities and all(enriched.text[e["start"]:e["end"]] == e["text"] for e in enriched.entities)
    brand = next(e for e in retweet.entities if e["text"] == "Laiterie Duval")
    assert brand["start"] == len(prefix) + RECALL.index("Laiterie Duval")
    assert retweet.entities == again.entities
    assert (retweet.segment, again.segment) == (original.segment, original.segment)  # the speaker: @LaiterieDuval


def test_repeats_across_batches_are_not_analysed_again(playbook: Playbook) -> None:
    enricher = Enricher(playbook)
    texts = [RECALL, "Yaourts Duval retirés des rayons", "Bonne nouvelle, tout va bien", RECALL]
    first = enricher.enrich([mention(f"1-{i}", text) for i, text in enumerate(texts)])
    assert (enricher.mentions_seen, enricher.texts_analysed) == (4, 3)
    second = enricher.enrich([mention(f"2-{i}", text, author="@other") for i, text in enumerate(texts)])
    assert (enricher.mentions_seen, enricher.texts_analysed) == (8, 3)
    assert [analysis_of(m) for m in second] == [analysis_of(m) for m in first]
    assert [m.id for m in second] == ["2-0", "2-1", "2-2", "2-3"]


def test_the_language_a_source_declares_is_honoured_for_each_mention(enricher: Enricher) -> None:
    text = "RT @ABCWorldNews: VIDEO: West Texas Salutes Their Fallen Heroes. @SteveOsunsami reports: http://t.co/E6P0sWyuNE"
    undeclared, german, again = enricher.enrich([mention("u", text), mention("g", text, lang="de"), mention("u2", text)])
    assert (undeclared.lang, undeclared.analysed) == ("en", True) and undeclared.sentiment is not None
    assert (german.lang, german.analysed, german.sentiment, german.entities) == ("de", False, None, [])
    assert analysis_of(again) == analysis_of(undeclared)


def test_the_cache_keeps_at_most_its_capacity_and_drops_the_least_recently_used() -> None:
    cache = AnalysisCache(capacity=2)
    found = Analysis("en", True, 0.5, ())
    cache.put(("a", None), found)
    cache.put(("b", None), found)
    assert cache.get(("a", None)) is found  # "a" is now more recent than "b"
    cache.put(("c", None), found)
    assert len(cache) == 2
    assert cache.get(("b", None)) is None
    assert cache.get(("a", None)) is found and cache.get(("c", None)) is found


def test_texts_longer_than_the_limit_are_analysed_each_time_not_kept() -> None:
    cache = AnalysisCache(capacity=10, max_text=5)
    cache.put(("short", None), Analysis("en", True, 0.0, ()))
    cache.put(("longer", None), Analysis("en", True, 0.0, ()))
    assert cache.get(("short", None)) is not None and cache.get(("longer", None)) is None


def test_an_enricher_keeps_no_more_analyses_than_its_cache_size(playbook: Playbook) -> None:
    enricher = Enricher(playbook, entities=False, cache_size=50)
    enricher.enrich([mention(str(i), f"Rappel numéro {i} des yaourts") for i in range(300)])
    assert len(enricher.cache) == 50
    assert enricher.texts_analysed == 300


def test_a_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match=r"capacity, max_text and max_bytes must be ≥ 0 \(got -1, 2000, 67108864\)"):
        AnalysisCache(-1)


def test_a_cached_analysis_equals_the_uncached_one_for_every_real_tweet_of_a_sample(playbook: Playbook) -> None:
    tweets = real_order_tweets(per_event=160)
    assert len(tweets) - len({key_of(m) for m in tweets}) >= 50  # the sample repeats itself, as real streams do
    cached = Enricher(playbook, cache_size=250)  # small: some texts are evicted and analysed again
    enriched = [m for start in range(0, len(tweets), 200) for m in cached.enrich(tweets[start:start + 200])]
    uncached = Enricher(playbook, cache_size=0)
    each = uncached.analyse_texts([key_of(m) for m in tweets])  # every tweet analysed, repeats included
    expected = [uncached.finish(m, found) for m, found in zip(tweets, each, strict=True)]
    assert cached.texts_analysed < len(tweets)
    assert [m.model_dump() for m in enriched] == [m.model_dump() for m in expected]
    assert sum(bool(m.entities) for m in enriched) > 100 and {m.lang for m in enriched} >= {"en", "es"}


def test_the_cache_keeps_about_its_byte_budget_dropping_the_least_recently_used() -> None:
    cache = AnalysisCache(capacity=1_000, max_bytes=5_000)
    entity = {"text": "Duval", "label": "ORG", "start": 0, "end": 5}
    for i in range(100):
        cache.put((f"Duval {i} " + "x" * 200, None), Analysis("en", True, 0.0, (entity,)))  # type: ignore[arg-type]
    assert 0 < len(cache) < 100 and cache.bytes <= 5_000
    assert cache.get(("Duval 99 " + "x" * 200, None)) is not None and cache.get(("Duval 0 " + "x" * 200, None)) is None
    cache.clear()
    assert (len(cache), cache.bytes) == (0, 0)
