"""Enrichment of large batches on several processes: a pool of workers, each with its own `Enricher`.

    batch ─▶ distinct texts not yet analysed ─▶ chunks ─▶ worker 1 (Enricher: models loaded once) ─▶ analyses
         │                                          └──▶ worker 2 (Enricher) ─────────────────────┘       │
         └─▶ each mention finished here (watchlist, relevance, audience), with its text's analysis ◀───────┘

- Repeats are removed before anything is sent: the parent keeps the cache of analyses (analysis_cache.py) and
  sends each distinct (text, declared language) it lacks to one worker, once; a retweet never costs a worker
  anything. What depends on the mention itself (its author, channel, source) is done in the parent, for every
  mention (~30 µs each): the mentions themselves never travel, only distinct texts and their analyses. Mentions
  whose analysis is already known are finished while the workers analyse the others.
- Workers are started with `spawn`, not `fork`: spaCy, numpy and the BLAS keep threads and locks that a forked
  child would inherit half-held; spawn behaves the same on Linux, macOS and Windows.
- Each worker builds its `Enricher` once, in the pool's initializer: models load once per worker (~3 s each),
  not once per chunk, and in the background: the caller reads and gates its first batch meanwhile. A worker
  whose set-up fails (a missing model) raises that error from the first `enrich`, before anything is enriched.
- Chunks are submitted in order and their results joined in that order: the output is the same list
  `Enricher.enrich` returns (tests/unit/test_parallel.py).
- A worker that dies (killed, out of memory, crashed) stops the run with `WorkerError`, naming the mentions whose
  texts it held: no mention is ever skipped silently. An exception raised by the analysis itself reaches the
  caller unchanged, as in one process.

Pays on batches of thousands of mentions with a free core per process: the parent's share (finishing every
mention, pickling each distinct text out and its analysis back) is ~50 µs a mention, against ~0.5-1.1 ms of
analysis with entities in a worker (bench/nlp_throughput.py, pool part).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import pairwise
from types import TracebackType
from typing import TypeVar

from crisiscomms.errors import CrisisError
from crisiscomms.mention import EnrichedMention, Mention
from crisiscomms.monitoring import nlp
from crisiscomms.monitoring.analysis_cache import CAPACITY, Analysis, AnalysisCache, Key
from crisiscomms.monitoring.enrich import Enricher, key_of
from crisiscomms.playbook.models import Playbook

T = TypeVar("T")

# Distinct texts per chunk sent to a worker: large enough for spaCy's batches of 256 per language and to amortise a
# round trip, small enough that two workers share a 5 000-mention batch evenly.
CHUNK = 625


class WorkerError(CrisisError):
    """An enrichment worker process died; the mentions it held were not enriched."""


# The worker's own Enricher, built once by `_start` in each worker process, or why it could not be.
_enricher: Enricher | None = None
_failure: Exception | None = None


def _start(playbook: Playbook, models: Mapping[str, str]) -> None:
    global _enricher, _failure
    try:
        _enricher = Enricher(playbook, models=models, cache_size=0)  # the parent keeps the cache
    except Exception as exc:  # kept, and raised by every call: the caller sees this error, not "a worker died"
        _failure = exc


def _worker() -> Enricher:
    if _enricher is None:
        raise _failure or RuntimeError("worker used before its initializer ran")
    return _enricher


def _ready() -> bool:
    return bool(_worker())


def _analyse(keys: list[Key]) -> list[Analysis]:
    return _worker().analyse_texts(keys)


class PoolEnricher:
    """`Enricher.enrich` spread over `processes` worker processes; close it (or use `with`) to stop them."""

    def __init__(self, playbook: Playbook, processes: int, chunk: int = CHUNK,
                 models: Mapping[str, str] = nlp.DEFAULT_MODELS, cache_size: int = CAPACITY) -> None:
        if processes < 2:
            raise ValueError("a pool needs at least 2 processes; use Enricher in one process")
        self.processes = processes
        self.chunk = chunk
        self.cache = AnalysisCache(cache_size)
        self.mentions_seen = 0
        self.texts_analysed = 0
        self._finisher = Enricher(playbook, entities=False, cache_size=0)  # watchlist and audience only: no model
        self._pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start, initargs=(playbook, dict(models)))
        # one call per worker, now: the workers start (and load their models) while the caller goes on
        self._starting = [self._pool.submit(_ready) for _ in range(processes)]

    def wait_ready(self) -> None:
        """Return once the workers are up; raise what stopped one (a missing model, say)."""
        starting, self._starting = self._starting, []
        _gather(starting, [[] for _ in starting])

    def enrich(self, mentions: Sequence[Mention]) -> list[EnrichedMention]:
        """What `Enricher(playbook).enrich(mentions)` returns, in the same order."""
        self.wait_ready()
        keys = [key_of(m) for m in mentions]
        known = [self.cache.get(key) for key in keys]
        holders = {key: m for key, m, found in zip(keys, mentions, known, strict=True) if found is None}
        analysing = self._dispatch(list(holders.values()))
        finish = self._finisher.finish  # the mentions already known are finished while the workers analyse
        done = {i: finish(m, found) for i, (m, found) in enumerate(zip(mentions, known, strict=True)) if found}
        fresh = dict(zip(holders, analysing(), strict=True))
        for key, found in fresh.items():
            self.cache.put(key, found)
        self.mentions_seen += len(keys)
        self.texts_analysed += len(fresh)
        return [done.get(i) or finish(m, fresh[key]) for i, (m, key) in enumerate(zip(mentions, keys, strict=True))]

    def _dispatch(self, holders: list[Mention]) -> Callable[[], list[Analysis]]:
        """Send the texts of `holders` to the workers now; the returned call waits for their analyses, in order."""
        chunks = split(holders, self.processes, self.chunk)
        try:
            futures = [self._pool.submit(_analyse, [key_of(m) for m in chunk]) for chunk in chunks]
        except BrokenProcessPool as exc:  # a worker died between two batches
            raise _died([]) from exc
        return lambda: [found for part in _gather(futures, chunks) for found in part]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PoolEnricher:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def split(items: list[T], processes: int, chunk: int) -> list[list[T]]:
    """Consecutive chunks of at most `chunk` items, as many per process and as even as possible: the batch
    ends when its slowest worker does, so no worker should be left with one chunk more than the others."""
    if not items:
        return []
    rounds = -(-len(items) // (processes * chunk))
    count = min(len(items), processes * rounds)
    size, extra = divmod(len(items), count)
    bounds = [k * size + min(k, extra) for k in range(count + 1)]
    return [items[start:end] for start, end in pairwise(bounds)]


def _gather(futures: list[Future[list[Analysis]]], chunks: Sequence[Sequence[Mention]]) -> list[list[Analysis]]:
    """Each future's result, in order; a dead worker becomes a WorkerError naming the mentions whose texts it
    held (each the first mention of the batch with its text)."""
    results = []
    for future, chunk in zip(futures, chunks, strict=True):
        try:
            results.append(future.result())
        except BrokenProcessPool as exc:
            for pending in futures:
                pending.cancel()
            raise _died(chunk) from exc
    return results


def _died(chunk: Sequence[Mention]) -> WorkerError:
    held = f" while analysing the texts of {len(chunk)} mentions (ids {chunk[0].id} … {chunk[-1].id})" if chunk else ""
    return WorkerError(f"an enrichment worker died (killed, out of memory or crashed){held}; "
                       "the batch was not enriched")
