"""One batch of mentions enriched: language, watchlist matches, sentiment, relevance, entities and audience."""

from __future__ import annotations

import gc
import threading
from collections.abc import Mapping, Sequence

from crisiscomms.mention import EnrichedMention, Entity, Mention
from crisiscomms.monitoring import audience, language, nlp, sentiment, watchlist
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Monitoring


class Enricher:
    """Language, watchlist matches, sentiment, relevance, entities and audience of a batch of mentions.

    Models are loaded once, here: a missing spaCy model fails when the run starts, not in its middle.
    Entities are extracted for analysed languages that have a model (French and English by default).
    """

    def __init__(self, playbook: Playbook, entities: bool | None = None,
                 models: Mapping[str, str] = nlp.DEFAULT_MODELS) -> None:
        self.monitoring = playbook.monitoring or Monitoring()
        self.matcher = watchlist.compile_watchlist(self.monitoring.watch)
        self.segmenter = audience.Segmenter(playbook.audiences)
        wanted = self.monitoring.entities if entities is None else entities
        chosen = {lang: model for lang, model in models.items() if lang in self.monitoring.languages}
        self.extractor = nlp.EntityExtractor(self.monitoring.watch, chosen) if wanted and chosen else None

    def enrich(self, mentions: Sequence[Mention]) -> list[EnrichedMention]:
        texts = [m.text for m in mentions]
        langs = [code for code, _ in language.identify(texts, self.monitoring.languages, [m.lang for m in mentions])]
        analysed = [lang in self.monitoring.languages for lang in langs]
        effective = [lang if ok else "und" for lang, ok in zip(langs, analysed, strict=True)]
        scores = sentiment.score(texts, effective)
        found = self.extractor.extract(texts, effective) if self.extractor else [[] for _ in texts]
        enriched = [self._one(*row) for row in zip(mentions, langs, analysed, scores, found, strict=True)]
        _freeze_models()  # after the first batch: language and sentiment models load on first use
        return enriched

    def _one(self, mention: Mention, lang: str, analysed: bool, score: float | None,
             entities: list[Entity]) -> EnrichedMention:
        prepared = watchlist.prepare(mention.text)  # once, for the watchlist and the audience keywords
        match = self.matcher.match(mention.text, lang, prepared)
        segment = self.segmenter.segment(mention.text, mention.author, mention.channel, mention.source,
                                         [e["text"] for e in entities], lang, prepared)
        # Validated, not `model_construct`ed (which is no faster: pydantic runs it in Python). The post's fields
        # are taken as the Mention holds them (plain values: what `model_dump` would copy out, ~1 µs dearer).
        fields = {name: value for name, value in mention.__dict__.items() if name != "lang"}
        return EnrichedMention.model_validate(fields | {
            "lang": lang, "analysed": analysed, "sentiment": score if analysed else None,
            "keywords": [*match.keywords, *match.brands], "hashtags": match.hashtags, "handles": match.handles,
            "relevance": watchlist.relevance(match, mention.text), "entities": entities,
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
