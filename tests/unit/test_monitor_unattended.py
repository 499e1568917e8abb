"""Monitoring left running: no record stalls a source or is lost, whatever it holds — ids normalised before any
duplicate check, numbers and dates bounded before they are read, a record that fails processing set aside alone,
a backlog read in committed batches."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.monitoring import monitor
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import StoreLedger
from crisiscomms.monitoring.sources import FileReader
from crisiscomms.monitoring.store import Store
from crisiscomms.stack.project import Project
from tests.unit.test_monitor import NOW, _append, _tweets, project

_ = project


def _pass(project: Project, store: Store, run_id: str, chunk: int | None = None) -> monitor.SourcePass:
    playbook = project.load("veille").playbook
    reader = FileReader("feed", project.root / "mentions.jsonl")
    run = monitor.MonitoringPass(playbook, StoreLedger(store, playbook.id, run_id), Enricher(playbook), lambda: NOW)
    return run.read(reader, chunk=chunk)


def _reasons(store: Store) -> dict[str, list[str]]:
    rows = store._db.execute("SELECT position, reasons FROM quarantine ORDER BY rowid")
    return {position: json.loads(reasons) for position, reasons in rows}


def test_an_id_sent_again_with_spaces_or_another_unicode_form_is_a_duplicate_and_the_source_moves_on(
        project: Project, tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    feed = project.root / "mentions.jsonl"
    first, *rest = _tweets(4)
    _append(feed, [{**first, "id": "x1"}, {**rest[0], "id": "café"}])
    assert _pass(project, store, "run-1").totals.processed == 2
    _append(feed, [{**rest[1], "id": " x1 "}, {**rest[2], "id": "cafe\u0301"}])  # the same ids, written otherwise
    again = _pass(project, store, "run-2")
    assert (again.failure, again.totals.read, again.totals.quarantined) == (None, 2, 2)
    assert all("already read" in r[0] for r in _reasons(store).values())
    _append(feed, _tweets(3, offset=10))
    assert _pass(project, store, "run-3").totals.processed == 3  # the watermark moved: nothing stuck behind


@pytest.mark.parametrize("created_at", [0, -1, "1970-01-01T00:00:00Z", "2012-03-01T10:00:00Z",
                                        NOW.isoformat()[:10] + "T00:00:00Z"])
def test_a_mention_older_than_max_age_is_quarantined_too_old(
        project: Project, tmp_path: Path, created_at: Any) -> None:
    store = Store(tmp_path / "state.db")
    tweet = _tweets(1)[0]
    _append(project.root / "mentions.jsonl", [{**tweet, "created_at": created_at}])
    done = _pass(project, store, "run-1")
    assert done.totals.read == 1
    if created_at == NOW.isoformat()[:10] + "T00:00:00Z":  # twelve hours old: today's volume
        assert done.totals.processed == 1
        return
    assert done.totals.quarantined == 1
    assert next(iter(_reasons(store).values()))[0].startswith("too_old: created_at ")


def test_a_file_of_a_past_crisis_is_judged_by_its_own_dates_but_a_stray_ancient_date_in_it_is_not(
        tmp_path: Path, project: Project) -> None:
    path = tmp_path / "old.jsonl"
    tweets = _tweets(30)
    _append(path, [*tweets[:10], {**tweets[10], "created_at": 0}, *tweets[11:]])
    kept: list[Any] = []
    totals = monitor.read_file(project.load("veille").playbook, path, kept.append, clock=lambda: NOW + timedelta(
        days=400))  # a year after the event
    quarantined = [q for outcome in kept for q in outcome.quarantined]
    assert (totals.read, totals.processed, totals.quarantined) == (30, 29, 1)
    assert quarantined[0].position.endswith(":11") and quarantined[0].reasons[0].startswith("too_old")


@pytest.mark.parametrize("line", [
    '{"id": "n1", "created_at": %s, "text": "Rappel Laiterie Duval"}' % ("1" + "0" * 400),
    '{"id": %s, "created_at": "2013-08-01T10:00:00Z", "text": "Rappel Laiterie Duval"}' % ("9" * 5000),
    '{"id": "n3", "created_at": "2013-08-01T10:00:00Z", "text": "Rappel", "x": %s}' % ("7" * 4400),
    '{"id": "n4", "created_at": "2013-08-01T10:00:00Z", "text": "Rappel Laiterie Duval", "reach": %s}' % (
        "1" + "0" * 400),
    '{"id": "n5", "created_at": 1e308, "text": "Rappel Laiterie Duval"}',
])
def test_huge_numbers_anywhere_in_a_record_are_bounded_before_they_are_read(
        project: Project, tmp_path: Path, line: str) -> None:
    store = Store(tmp_path / "state.db")
    _append(project.root / "mentions.jsonl", _tweets(5), raw=[line])
    done = _pass(project, store, "run-1")
    assert done.failure is None and done.totals.read == 6
    assert done.totals.processed + done.totals.quarantined == 6 and done.totals.processed >= 5


def test_a_record_that_fails_processing_twice_is_quarantined_alone_and_named_in_a_data_gap_alert(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "state.db")
    tweets = _tweets(40)
    poison = {**tweets[17], "text": "POISON " + tweets[17]["text"]}
    _append(project.root / "mentions.jsonl", [*tweets[:17], poison, *tweets[18:]])
    original = Enricher.enrich

    def enrich(self: Enricher, mentions: Any) -> Any:
        if any(m.text.startswith("POISON") for m in mentions):
            raise MemoryError("the analysis blew up on one text")
        return original(self, mentions)

    monkeypatch.setattr(Enricher, "enrich", enrich)
    done = _pass(project, store, "run-1")
    assert (done.failure, done.totals.read, done.totals.processed, done.totals.quarantined) == (None, 40, 39, 1)
    position = next(iter(_reasons(store)))
    assert position.endswith("mentions.jsonl:18")
    assert "MemoryError: the analysis blew up on one text" in _reasons(store)[position][0]
    gaps = [a.reason for a in done.alerts if a.kind == "data_gap"]
    assert len(gaps) == 1 and position in gaps[0] and "feed" in gaps[0]
    _append(project.root / "mentions.jsonl", _tweets(5, offset=50))
    assert _pass(project, store, "run-2").totals.processed == 5


def test_a_fault_that_is_not_one_records_quarantines_nothing_and_leaves_the_batch_for_the_next_pass(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "state.db")
    _append(project.root / "mentions.jsonl", _tweets(30))
    with monkeypatch.context() as patch:
        patch.setattr(Enricher, "enrich", lambda self, mentions: (_ for _ in ()).throw(OSError("disk full")))
        failed = _pass(project, store, "run-1")
    assert "disk full" in (failed.failure or "") and failed.totals.read == 0 and _reasons(store) == {}
    assert _pass(project, store, "run-2").totals.processed == 30


def test_a_passing_fault_gets_a_second_try_before_anything_is_set_aside(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "state.db")
    _append(project.root / "mentions.jsonl", _tweets(30))
    original, calls = Enricher.enrich, []

    def flaky(self: Enricher, mentions: Any) -> Any:
        calls.append(len(mentions))
        if len(calls) == 1:
            raise TimeoutError("database is locked")
        return original(self, mentions)

    monkeypatch.setattr(Enricher, "enrich", flaky)
    done = _pass(project, store, "run-1")
    assert (done.totals.processed, done.totals.quarantined, calls) == (30, 0, [30, 30])


def test_a_backlog_is_read_in_committed_batches_and_a_pass_that_dies_keeps_the_batches_done(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "state.db")
    _append(project.root / "mentions.jsonl", _tweets(350))
    original, batches = store.commit_batch, []

    def commit(*args: Any, **kwargs: Any) -> Any:
        if len(batches) == 2:
            raise KeyboardInterrupt  # the worker is stopped during the third batch
        batches.append(kwargs.get("read", args[-1]))
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "commit_batch", commit)
    with pytest.raises(KeyboardInterrupt):
        _pass(project, store, "run-1", chunk=100)
    assert batches == [100, 100] and store.totals("veille").processed == 200
    monkeypatch.setattr(store, "commit_batch", original)
    done = _pass(project, store, "run-2", chunk=100)
    assert (done.totals.read, done.totals.processed) == (150, 150)
    assert store.totals("veille").processed == 350


def test_a_backlog_read_in_batches_is_one_pass_for_the_usual_volume(project: Project, tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    feed = project.root / "mentions.jsonl"
    offset = 0
    for run in range(5):  # a backlog of 900 read 300 at a time, then four quiet passes of 20
        count = 900 if run == 0 else 20
        _append(feed, _tweets(count, offset=offset))
        offset += count
        done = _pass(project, store, f"run-{run}", chunk=300)
        # 20 is not a collapse: the usual volume is per pass (900, 20, 20…), not per batch (300, 300, 300, 20…)
        assert done.failure is None and done.alerts == [] and done.totals.read == count
    assert store.typical_volume("veille", "feed") == 20
