"""One batch of mentions enriched: language, watchlist matches, sentiment, relevance, entities and audience.

Two steps. `analyse`: what depends on a text alone (language, sentiment, entities), computed once per distinct
(text, declared language) of a batch and kept across batches in a bounded cache (analysis_cache.py): a retweet or
a copied post is not analysed again. `finish`: what depends on the mention itself (watchlist match, relevance,
audience segment: its author, channel and source), done for every mention.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Mapping, Sequence

from crisiscomms.mention import EnrichedMention, Mention
from crisiscomms.monitoring import audience, language, nlp, sentiment, watchlist
from crisiscomms.monitoring.analysis_cache import CAPACITY, Analysis, AnalysisCache, Key
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Monitoring


def key_of(mention: Mention) -> Key:
    """What a mention's analysis depends on: its exact text and the language its source declared."""
    return mention.text, mention.lang


class Enricher:
    """Language, watchlist matches, sentiment, relevance, entities and audience of a batch of mentions.

    Models are loaded once, here: a missing spaCy model fails when the run starts, not in its middle.
    Entities are extracted for analysed languages that have a model (French and English by default).
    `cache_size`: distinct texts whose analysis is kept across batches (0: none; a batch's repeats are still
    analysed once). `texts_analysed` / `mentions_seen` say how much the repeats saved.
    """

    def __init__(self, playbook: Playbook, entities: bool | None = None,
                 models: Mapping[str, str] = nlp.DEFAULT_MODELS, cache_size: int = CAPACITY) -> None:
        self.monitoring = playbook.monitoring or Monitoring()
        self.matcher = watchlist.compile_watchlist(self.monitoring.watch)
        self.segmenter = audience.Segmenter(playbook.audiences)
        wanted = self.monitoring.entities if entities is None else entities
        chosen = {lang: model for lang, model in models.items() if lang in self.monitoring.languages}
        self.extractor = nlp.EntityExtractor(self.monitoring.watch, chosen) if wanted and chosen else None
        self.cache = AnalysisCache(cache_size)
        self.mentions_seen = 0
        self.texts_analysed = 0

    def enrich(self, mentions: Sequence[Mention]) -> list[EnrichedMention]:
        enriched = [self.finish(m, found) for m, found in zip(mentions, self.analyse(mentions), strict=True)]
        _freeze_models()  # after the first batch: language and sentiment models load on first use
        return enriched

    def analyse(self, mentions: Sequence[Mention]) -> list[Analysis]:
        """Each mention's analysis, in order: from the cache, else computed once per distinct key of the batch."""
        keys = [key_of(m) for m in mentions]
        found = [self.cache.get(key) for key in keys]
        missing = list(dict.fromkeys(key for key, known in zip(keys, found, strict=True) if known is None))
        fresh = dict(zip(missing, self.analyse_texts(missing), strict=True))
        for key, analysis in fresh.items():
            self.cache.put(key, analysis)
        self.mentions_seen += len(keys)
        self.texts_analysed += len(fresh)
        return [known or fresh[key] for key, known in zip(keys, found, strict=True)]

    def analyse_texts(self, keys: Sequence[Key]) -> list[Analysis]:
        """The analysis of each (text, declared language), every one computed, nothing reused or kept."""
        texts = [text for text, _ in keys]
        langs = [code for code, _ in language.identify(texts, self.monitoring.languages, [d for _, d in keys])]
        analysed = [lang in self.monitoring.languages for lang in langs]
        effective = [lang if ok else "und" for lang, ok in zip(langs, analysed, strict=True)]
        scores = sentiment.score(texts, effective)
        found = self.extractor.extract(texts, effective) if self.extractor else [[] for _ in texts]
        return [Analysis(lang, ok, score if ok else None, tuple(entities))
                for lang, ok, score, entities in zip(langs, analysed, scores, found, strict=True)]

    def finish(self, mention: Mention, found: Analysis) -> EnrichedMention:
        """The enriched mention: the text's analysis (entities copied) and what depends on this mention itself."""
        prepared = watchlist.prepare(mention.text)  # once, for the watchlist and the audience keywords
        match = self.matcher.match(mention.text, found.lang, prepared)
        segment = self.segmenter.segment(mention.text, mention.author, mention.channel, mention.source,
                                         [e["text"] for e in found.entities], found.lang, prepared)
        # Validated, not `model_construct`ed (which is no faster: pydantic runs it in Python); validation copies
        # the entities, so no two mentions share a cached list. The post's fields are taken as the Mention holds
        # them (plain values: what `model_dump` would copy out, ~1 µs dearer).
        fields = {name: value for name, value in mention.__dict__.items() if name != "lang"}
        return EnrichedMention.model_validate(fields | {
            "lang": found.lang, "analysed": found.analysed, "sentiment": found.sentiment,
            "keywords": [*match.keywords, *match.brands], "hashtags": match.hashtags, "handles": match.handles,
            "relevance": watchlist.relevance(match, mention.text), "entities": found.entities,
            "segment": segment.audience, "segment_reason": segment.reason,
        })


_frozen = threading.Event()


def _freeze_models() -> None:
    """Once per process, after the first batch loaded every model: exempt what is alive then from the cyclic GC.

    The models and lexicons are ~120 000 containers, some with 100 000 entries, that live as long as the
    process. Each full collection walked them all (~100 ms, measured in bench/nlp_throughput.py's process),
    and enrichment allocates enough to trigger one every second or third batch of 2 000 posts: ~50 µs a post.
    Frozen objects are still freed by reference counting; the collection first frees the cyclic garbage of now.
    """
    if not _frozen.is_set():
        _frozen.set()
        gc.collect()
        gc.freeze()
