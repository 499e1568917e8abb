"""What enrichment learns from a text alone, kept so that the next mention with the same text is not analysed again.

Crisis streams repeat themselves: retweets and copied posts carry the exact text of another mention. Language,
sentiment and entities depend only on the text and on the language its source declared, so they are computed once
per (text, declared language) and copied to every mention that has it. What depends on the mention itself (its
author, channel and source: the audience segment; its id) is never cached.

The key is the exact text. A looser key would merge texts whose analysis differs, so a mention could get another
text's result: of the 2 200 distinct retweets ("RT @x: body") of the CrisisLexT26 tweets, 80 get another analysis
when only their body is analysed (entities 70, sentiment 7, language 3; offsets shifted back). It would also buy
next to nothing there: the 5 350 tweets have 4 815 distinct texts and 4 807 distinct bodies once "RT @x:" is
stripped (retweets of one tweet are already identical texts).

Bounded: at most `capacity` entries and about `max_bytes` of memory, least recently used evicted first; texts
longer than `max_text` are never kept (long articles rarely repeat exactly and would push out many posts).
Measured with tracemalloc: ~880 bytes an entry on CrisisLex tweets with two entities, so ~18 MB when full of
tweets; the byte estimate (`_weight`) is above that on tweets, so memory stays near `max_bytes` at most.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass

from crisiscomms.mention import Entity

# Distinct texts remembered. A busy crisis brings a few thousand distinct posts an hour; their retweets come within
# hours: 20 000 covers that for ~0.9 KB each (text, entities, bookkeeping) on tweets.
CAPACITY = 20_000
MAX_BYTES = 64 * 2**20  # reached only by long texts rich in entities: 20 000 tweets weigh ~18 MB
MAX_TEXT = 2_000  # characters: tweets and posts are kept, pasted articles are analysed each time

Key = tuple[str, str | None]  # (text, language declared by the source)


@dataclass(frozen=True, slots=True)
class Analysis:
    """Language, sentiment and entities of one text; `entities` are offsets in that exact text."""

    lang: str  # ISO 639-1 code, or `und`
    analysed: bool  # the playbook analyses `lang`
    sentiment: float | None  # None when not analysed
    entities: tuple[Entity, ...]


class AnalysisCache:
    """A bounded, least-recently-used map from (text, declared language) to its `Analysis`."""

    def __init__(self, capacity: int = CAPACITY, max_text: int = MAX_TEXT, max_bytes: int = MAX_BYTES) -> None:
        if min(capacity, max_text, max_bytes) < 0:
            raise ValueError(f"capacity, max_text and max_bytes must be ≥ 0 (got {capacity}, {max_text}, {max_bytes})")
        self.capacity, self.max_text, self.max_bytes = capacity, max_text, max_bytes
        self.bytes = 0  # estimated, of the entries kept
        self._entries: OrderedDict[Key, Analysis] = OrderedDict()
        self._lock = threading.Lock()  # an Enricher may serve several threads: a lookup must not meet an eviction

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Analysis | None:
        """The analysis kept for `key`, now the most recently used; None if none is kept."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Key, analysis: Analysis) -> None:
        """Keep `analysis` unless its text is too long to be worth it; the least recently used go past capacity."""
        if len(key[0]) > self.max_text or not self.capacity:
            return
        with self._lock:
            if key in self._entries:
                self.bytes -= _weight(key, self._entries[key])
            self._entries[key] = analysis
            self._entries.move_to_end(key)
            self.bytes += _weight(key, analysis)
            while len(self._entries) > self.capacity or self.bytes > self.max_bytes:
                self.bytes -= _weight(*self._entries.popitem(last=False))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0


def _weight(key: Key, analysis: Analysis) -> int:
    """Bytes an entry holds, over-estimated: its text, ~450 per entity (a dict and its strings), ~250 of the rest."""
    return sys.getsizeof(key[0]) + 450 * len(analysis.entities) + 250
