"""Mention fuzz: thousands of hostile lines (seeded) through the scheduled pass and through `crisis monitor`'s
read — every record read is processed or quarantined, nothing raises, memory stays bounded, and the pass after
still moves."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.monitoring import monitor
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import StoreLedger
from crisiscomms.monitoring.sources import FileReader
from crisiscomms.monitoring.store import Store
from crisiscomms.stack.project import Project
from tests.unit.test_monitor import NOW, _tweets, project

_ = project
LINES = 2400
TEXTS = [t["text"] for t in _tweets(200)]


def _value(rng: random.Random) -> Any:
    """A field value as a hostile source may send it."""
    return rng.choice([
        None, "", " ", 0, -1, 1.5, float("inf"), True, [], {}, {"a": [1]}, "x" * rng.randint(1, 12000),
        10**400, -(10**399), 1e308, "NaN", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00", "2099-01-01T00:00:00Z", "2012-01-01T00:00:00Z", "Thu, 01 Aug 2013 10:00:00 +0000",
        "2013-08-01T11:00:00Z", "2013-08-01T11:00:00", "\ud800", "a\x00b", "\x01\x02\x03\x04", "é\u0301",
    ])


def _record(rng: random.Random, number: int) -> dict[str, Any]:
    record: dict[str, Any] = {"id": f"m{number}", "created_at": f"2013-08-01T10:{rng.randrange(60):02d}:00Z",
                              "text": rng.choice(TEXTS)}
    fields = ["id", "created_at", "text", "author", "channel", "url", "lang", "reach"]
    for name in rng.sample(fields, rng.randint(0, 3)):
        record[name] = _value(rng)
    if rng.random() < 0.15:  # an id read before, sent again with spacing or as a number
        record["id"] = rng.choice([f" m{rng.randrange(number + 1)} ", f"m{rng.randrange(number + 1)}\t",
                                   f"\u00a0m{rng.randrange(number + 1)}", rng.randrange(50)])
    return record


def _line(rng: random.Random, number: int) -> bytes:
    draw = rng.random()
    if draw < 0.55:
        return json.dumps(_record(rng, number), ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if draw < 0.65:
        return rng.randbytes(rng.randint(1, 300)).replace(b"\n", b" ")
    if draw < 0.72:
        return json.dumps(_record(rng, number), ensure_ascii=False).encode("latin-1", "replace")
    if draw < 0.78:
        return b'{"id": "h%d", "text": "Rappel", "n": %s}' % (number, b"9" * rng.choice([200, 4299, 4301, 9000]))
    if draw < 0.82:
        return b"[" * rng.choice([10, 5000, 200000])
    if draw < 0.88:
        return rng.choice([b"[]", b"42", b'"text"', b"null", b"true", b"{", b'{"id": }', b"\xef\xbb\xbf{}"])
    if draw < 0.94:
        return json.dumps(_record(rng, number)).encode()[: rng.randint(1, 60)]  # cut mid-record
    return b'{"id": "d%d", "id": "again", "created_at": "2013-08-01T10:00:00Z", "text": "Rappel %d"}\r' % (
        number, number)


def _hostile_file(path: Path, seed: int) -> int:
    """LINES hostile lines, each ending with a newline; the count of lines that hold something (records)."""
    rng = random.Random(seed)
    lines = [_line(rng, number) for number in range(LINES)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return sum(1 for line in lines if line.strip(b" \t\r"))


def _scheduled(project: Project, store: Store, run_id: str) -> monitor.SourcePass:
    playbook = project.load("veille").playbook
    run = monitor.MonitoringPass(playbook, StoreLedger(store, playbook.id, run_id), Enricher(playbook, entities=False),
                                 lambda: NOW)
    return run.read(FileReader("flux", project.root / "mentions.jsonl"), chunk=500)


@pytest.mark.parametrize("seed", [1, 2])
def test_every_hostile_line_is_processed_or_quarantined_and_the_next_pass_moves(
        project: Project, tmp_path: Path, seed: int) -> None:
    records = _hostile_file(project.root / "mentions.jsonl", seed)
    store = Store(tmp_path / "state.db")
    tracemalloc.start()
    done = _scheduled(project, store, "run-1")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert done.failure is None, done.failure
    assert done.totals.read == done.totals.processed + done.totals.quarantined == records
    assert store.totals("veille") == done.totals
    assert peak < 300 * 2**20  # bounded: the file is read 500 records at a time
    with (project.root / "mentions.jsonl").open("a", encoding="utf-8") as feed:
        for number, tweet in enumerate(_tweets(10, offset=300)):
            feed.write(json.dumps({**tweet, "id": f"after-{number}"}) + "\n")
    after = _scheduled(project, store, "run-2")
    assert (after.failure, after.totals.read, after.totals.processed) == (None, 10, 10)


def test_crisis_monitor_reads_the_hostile_file_to_the_end(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "hostile.jsonl"
    records = _hostile_file(path, seed=3)
    outcomes: list[Any] = []
    totals = monitor.read_file(project.load("veille").playbook, path, outcomes.append,
                               Enricher(project.load("veille").playbook, entities=False), clock=lambda: NOW)
    assert totals.read == totals.processed + totals.quarantined == records
    ids = [m.id for outcome in outcomes for m in outcome.mentions]
    assert len(ids) == len(set(ids))  # ids normalised before the duplicate check: " m1 " is m1
    positions = [q.position for outcome in outcomes for q in outcome.quarantined]
    assert len(positions) == len(set(positions))
