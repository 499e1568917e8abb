"""Enrichment on a pool of processes gives exactly what one process gives, in the same order; counts reconcile
through `monitor_file`; a worker that dies stops the run with a clear error instead of losing mentions."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crisiscomms.mention import EnrichedMention, Mention
from crisiscomms.monitoring import detection, monitor
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.parallel import PoolEnricher, WorkerError, split
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
CRISISLEX = ROOT / "data" / "crisislex"
FRENCH = ROOT / "tests" / "data" / "fr_posts.jsonl"


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return Project(ROOT).load("rappel-produit").playbook


def without_entities(playbook: Playbook) -> Playbook:
    assert playbook.monitoring is not None
    return playbook.model_copy(update={"monitoring": playbook.monitoring.model_copy(update={"entities": False})})


def records() -> list[dict[str, object]]:
    """Spanish and English tweets (retweets repeat texts), French posts, and texts with nothing to analyse."""
    out: list[dict[str, object]] = []
    for path in sorted(CRISISLEX.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines()[:150]:
            record = json.loads(line)
            record.pop("gold")  # crowd labels are never product input
            out.append(record)
    for line in FRENCH.read_text(encoding="utf-8").splitlines():
        post = json.loads(line)
        out.append({"id": post["id"], "created_at": post["created_at"], "text": post["text"], "lang": "fr"})
    out += [{"id": f"odd-{i}", "created_at": "2024-03-12T08:00:00Z", "text": text}
            for i, text in enumerate(["#RappelConso", "🤮🤮", "https://t.co/x", "ok", "Laiterie Duval"])]
    return out


@pytest.fixture(scope="module")
def mentions() -> list[Mention]:
    return [Mention.model_validate(record) for record in records()]


@pytest.fixture(scope="module")
def pool(playbook: Playbook) -> Iterator[PoolEnricher]:
    with PoolEnricher(playbook, processes=2, chunk=200) as enricher:
        yield enricher


def test_two_processes_give_exactly_what_one_gives_in_the_same_order(
        playbook: Playbook, mentions: list[Mention], pool: PoolEnricher) -> None:
    alone = Enricher(playbook).enrich(mentions)
    pooled = pool.enrich(mentions)
    assert [m.id for m in pooled] == [m.id for m in mentions]
    assert [m.model_dump() for m in pooled] == [m.model_dump() for m in alone]
    assert any(m.entities for m in pooled) and {m.lang for m in pooled} >= {"fr", "en", "es"}


def test_a_pool_serves_batches_one_after_the_other_and_empty_ones(
        mentions: list[Mention], pool: PoolEnricher) -> None:
    first, second = pool.enrich(mentions[:7]), pool.enrich(mentions[7:300])
    assert [m.id for m in first + second] == [m.id for m in mentions[:300]]
    assert pool.enrich([]) == []


def test_the_pool_analyses_each_distinct_text_once_and_remembers_it_across_batches(
        playbook: Playbook, mentions: list[Mention], pool: PoolEnricher) -> None:
    batch = [m.model_copy(update={"id": f"{m.id}-{copy}", "author": f"@reader{copy}"})
             for m in mentions[:120] for copy in range(3)]  # each text three times, by three authors
    distinct = len({(m.text, m.lang) for m in batch})
    pool.cache.clear()
    before = pool.texts_analysed
    first = pool.enrich(batch)
    assert pool.texts_analysed - before == distinct
    again = pool.enrich([m.model_copy(update={"id": f"again-{m.id}"}) for m in batch])
    assert pool.texts_analysed - before == distinct  # nothing sent to the workers the second time
    assert [m.model_dump(exclude={"id"}) for m in again] == [m.model_dump(exclude={"id"}) for m in first]
    assert [m.model_dump() for m in first] == [m.model_dump() for m in Enricher(playbook).enrich(batch)]


def test_chunks_cover_the_batch_in_order_one_per_process_at_least() -> None:
    items = [Mention(id=str(i), created_at=datetime(2024, 1, 1, tzinfo=UTC), text="x") for i in range(1_001)]
    for processes, chunk in [(2, 625), (2, 100), (3, 10_000), (4, 1)]:
        chunks = split(items, processes, chunk)
        assert [m for part in chunks for m in part] == items
        assert len(chunks) >= processes and max(map(len, chunks)) <= chunk
    assert split([], 2, 625) == []


def test_one_process_is_not_a_pool(playbook: Playbook) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        PoolEnricher(playbook, processes=1)


@pytest.mark.parametrize("processes", [1, 2])
def test_monitor_file_on_processes_writes_the_same_mentions_and_alerts_and_counts_reconcile(
        playbook: Playbook, tmp_path: Path, processes: int) -> None:
    day = [{**record, "created_at": f"2024-03-12T{i // 180 % 24:02d}:{i // 3 % 60:02d}:{i % 3 * 20:02d}Z"}
           for i, record in enumerate(records())]  # one day: the windows of 2012 to 2024 would take a minute
    lines = [json.dumps(record, ensure_ascii=False) for record in day]
    lines += ["{not json", '{"id": "no-text", "created_at": "2024-03-12T08:00:00Z"}', lines[3]]  # 3 quarantined
    path = tmp_path / "mentions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    light = without_entities(playbook)  # the pool's equality with entities is tested above; this is about flow
    written: list[EnrichedMention] = []
    now = lambda: datetime(2030, 1, 1, tzinfo=UTC)  # noqa: E731

    report = monitor.monitor_file(light, path, lambda o: written.extend(o.mentions), clock=now, processes=processes,
                                  chunk=300)  # several batches: ids and windows carry across them
    assert report.processes == processes
    assert report.read == len(lines) == report.processed + report.quarantined
    assert (report.processed, report.quarantined) == (len(lines) - 3, 3)
    assert [m.id for m in written] == [str(r["id"]) for r in day]
    expected = Enricher(light).enrich([Mention.model_validate(r) for r in day])
    assert [m.model_dump(exclude={"source"}) for m in written] == [m.model_dump(exclude={"source"}) for m in expected]
    assert report.alerts == detection.detect(written, light.monitoring.detection)  # type: ignore[union-attr]


def test_a_worker_that_dies_stops_the_run_with_a_clear_error(playbook: Playbook, mentions: list[Mention]) -> None:
    before = {child.pid for child in multiprocessing.active_children()}  # other pools' workers are not ours
    with PoolEnricher(without_entities(playbook), processes=2, chunk=50) as pool:
        workers = [child.pid for child in multiprocessing.active_children() if child.pid not in before]
        assert len(workers) == 2
        # killed from outside, as the out-of-memory killer would, while chunks are queued or running
        killer = threading.Timer(0.05, os.kill, (workers[0], signal.SIGKILL))
        killer.start()
        with pytest.raises(WorkerError, match=r"worker died .*; the batch was not enriched"):
            for k in range(20):  # new texts each time: a batch the parent's cache answers sends no work at all
                pool.enrich([m.model_copy(update={"text": f"{m.text} {k}-{copy}"}) for copy in range(4) for m in mentions])
        killer.join()


def test_a_worker_that_cannot_start_raises_its_own_error_at_the_first_batch(
        playbook: Playbook, mentions: list[Mention]) -> None:
    # spaCy's own message, not "a worker died"
    with (PoolEnricher(playbook, processes=2, models={"fr": "no_such_model_xyz"}) as pool,
          pytest.raises(OSError, match="no_such_model_xyz")):
        pool.enrich(mentions[:10])
