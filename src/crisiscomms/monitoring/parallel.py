"""Enrichment of large batches on several processes: a pool of workers, each with its own `Enricher`.

    batch ─▶ chunks ─▶ worker 1 (Enricher: models loaded once) ─▶ results, in input order
                  └──▶ worker 2 (Enricher) ─────────────────────┘

- Workers are started with `spawn`, not `fork`: spaCy, numpy and the BLAS keep threads and locks that a forked
  child would inherit half-held; spawn behaves the same on Linux, macOS and Windows.
- Each worker builds its `Enricher` once, in the pool's initializer: models load once per worker (~3 s each),
  not once per chunk, and in the background: the caller reads and gates its first batch meanwhile. A worker
  whose set-up fails (a missing model) raises that error from the first `enrich`, before anything is enriched.
- Chunks are submitted in input order and their results joined in that order: the output is the same list
  `Enricher.enrich` returns (tests/unit/test_parallel.py).
- A worker that dies (killed, out of memory, crashed) stops the run with `WorkerError`, naming the mentions it
  held: no mention is ever skipped silently. An exception raised by the enrichment itself reaches the caller
  unchanged, as in one process.

Pays on batches of thousands of mentions with a free core per process: each mention travels to its worker and
back pickled (~60 µs, against ~0.5-1.1 ms of enrichment with entities).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import pairwise
from types import TracebackType

from crisiscomms.errors import CrisisError
from crisiscomms.mention import EnrichedMention, Mention
from crisiscomms.monitoring import nlp
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.playbook.models import Playbook

# Mentions per chunk sent to a worker: large enough for spaCy's batches of 256 per language and to amortise a
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
        _enricher = Enricher(playbook, models=models)
    except Exception as exc:  # kept, and raised by every call: the caller sees this error, not "a worker died"
        _failure = exc


def _worker() -> Enricher:
    if _enricher is None:
        raise _failure or RuntimeError("worker used before its initializer ran")
    return _enricher


def _ready() -> bool:
    return bool(_worker())


def _enrich(mentions: list[Mention]) -> list[EnrichedMention]:
    return _worker().enrich(mentions)


class PoolEnricher:
    """`Enricher.enrich` spread over `processes` worker processes; close it (or use `with`) to stop them."""

    def __init__(self, playbook: Playbook, processes: int, chunk: int = CHUNK,
                 models: Mapping[str, str] = nlp.DEFAULT_MODELS) -> None:
        if processes < 2:
            raise ValueError("a pool needs at least 2 processes; use Enricher in one process")
        self.processes = processes
        self.chunk = chunk
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
        chunks = split(list(mentions), self.processes, self.chunk)
        try:
            futures = [self._pool.submit(_enrich, chunk) for chunk in chunks]
        except BrokenProcessPool as exc:  # a worker died between two batches
            raise _died([]) from exc
        return [enriched for part in _gather(futures, chunks) for enriched in part]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PoolEnricher:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def split(mentions: list[Mention], processes: int, chunk: int) -> list[list[Mention]]:
    """Consecutive chunks of at most `chunk` mentions, as many per process and as even as possible: the batch
    ends when its slowest worker does, so no worker should be left with one chunk more than the others."""
    if not mentions:
        return []
    rounds = -(-len(mentions) // (processes * chunk))
    count = min(len(mentions), processes * rounds)
    size, extra = divmod(len(mentions), count)
    bounds = [k * size + min(k, extra) for k in range(count + 1)]
    return [mentions[start:end] for start, end in pairwise(bounds)]


def _gather(futures: list[Future[list[EnrichedMention]]], chunks: Sequence[Sequence[Mention]],
            ) -> list[list[EnrichedMention]]:
    """Each future's result, in order; a dead worker becomes a WorkerError naming what was not enriched."""
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
    held = f" while enriching {len(chunk)} mentions (ids {chunk[0].id} … {chunk[-1].id})" if chunk else ""
    return WorkerError(f"an enrichment worker died (killed, out of memory or crashed){held}; "
                       "the batch was not enriched")
