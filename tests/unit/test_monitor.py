"""The monitoring pass end to end in the library, composed as the scheduled flow composes it (one
`MonitoringPass.read` per source into the store, then detection): exactly once across runs, nothing lost, gaps
raised."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.mention import Alert
from crisiscomms.monitoring import monitor
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.ledger import StoreLedger
from crisiscomms.monitoring.sources import MemorySource, Source, build_source
from crisiscomms.monitoring.store import Store, Totals, open_store
from crisiscomms.monitoring.windows import window_floor
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.project import Project

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "monitoring"
CRISISLEX = Path(__file__).resolve().parents[2] / "data" / "crisislex"
NOW = datetime(2013, 8, 1, 12, 0, tzinfo=UTC)  # after every tweet of the Spain file
# The store on each backend in turn: SQLite files in a scratch folder, then a PostgreSQL schema of the test's own.
pytestmark = pytest.mark.usefixtures("state_backend")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    shutil.copytree(FIXTURE, tmp_path / "project")
    return Project(tmp_path / "project")


def _tweets(count: int, offset: int = 0) -> list[dict[str, Any]]:
    lines = (CRISISLEX / "2013_Spain_train_crash.jsonl").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines[offset:offset + count]:
        record = json.loads(line)
        record.pop("gold")  # crowd labels are for measuring quality only: the product never reads them
        out.append(record)
    return out


def _append(path: Path, records: list[dict[str, Any]], raw: list[str] = ()) -> None:  # type: ignore[assignment]
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        for line in raw:
            handle.write(line + "\n")


@dataclass
class Run:
    passes: list[monitor.SourcePass]
    alerts: list[Alert]
    totals: Totals


def scheduled(playbook: Playbook, root: Path, store: Store, run_id: str, clock: monitor.Clock = lambda: NOW,
              sources: Sequence[Source] | None = None) -> Run:
    """A scheduled run as flows/monitor.py makes it: every source through the pass into the store, then detection."""
    assert playbook.monitoring is not None
    chosen = sources if sources is not None else [build_source(s, root) for s in playbook.monitoring.sources]
    run = monitor.MonitoringPass(playbook, StoreLedger(store, playbook.id, run_id), Enricher(playbook), clock)
    passes = [run.read(source) for source in chosen]
    _, detected = monitor.detect_new_windows(playbook.id, playbook.monitoring, store, clock())
    return Run(passes, [a for p in passes for a in p.alerts] + detected, store.totals(playbook.id, run_id))


def _run(project: Project, store: Store, run_id: str) -> Run:
    return scheduled(project.load("veille").playbook, project.root, store, run_id)


def test_consecutive_scheduled_runs_process_every_mention_exactly_once(project: Project, tmp_path: Path) -> None:
    feed = project.root / "mentions.jsonl"
    store = open_store(tmp_path)
    _append(feed, _tweets(300), raw=["{not json", '{"id": "x"}'])
    first = _run(project, store, "run-1")
    _append(feed, _tweets(200, offset=300), raw=["\x00\x01 binary"])
    second = _run(project, store, "run-2")
    third = _run(project, store, "run-3")  # nothing new: nothing read

    assert (first.totals.read, first.totals.processed, first.totals.quarantined) == (302, 300, 2)
    assert (second.totals.read, second.totals.processed, second.totals.quarantined) == (201, 200, 1)
    assert (third.totals.read, third.totals.processed, third.totals.quarantined) == (0, 0, 0)
    total = store.totals("veille")
    assert total.read == total.processed + total.quarantined == 503
    assert len(store.known_ids("veille", [t["id"] for t in _tweets(500)])) == 500


class Overtaken:
    """A source whose first read lets another run read it from the same watermark and commit first (a second
    worker that got there between this run's read and its commit)."""

    def __init__(self, inner: Source, other: Callable[[], Run]) -> None:
        self.inner, self.other, self.id, self.raced = inner, other, inner.id, False

    def read(self, cursor: dict[str, Any] | None, limit: int | None = None) -> Any:
        batch = self.inner.read(cursor, limit)
        if not self.raced:
            self.raced = True
            self.other()
        return batch


def test_two_runs_reading_one_source_at_once_store_each_mention_once_and_the_second_says_it_was_overtaken(
        project: Project, tmp_path: Path) -> None:
    feed = project.root / "mentions.jsonl"
    store = open_store(tmp_path)
    _append(feed, _tweets(120))
    playbook = project.load("veille").playbook
    assert playbook.monitoring is not None
    source = build_source(playbook.monitoring.sources[0], project.root)
    others: list[Run] = []
    overtaken = scheduled(playbook, project.root, store, "run-a", sources=[
        Overtaken(source, lambda: others.append(scheduled(playbook, project.root, store, "run-b", sources=[source])))])
    assert others[0].totals.read == others[0].totals.processed == 120
    assert overtaken.totals.read == 0 and overtaken.passes[0].failure is None and overtaken.alerts == []
    assert any("read by another run meanwhile" in note for note in overtaken.passes[0].notes)
    assert store.totals("veille").processed == 120  # each mention once, none lost
    _append(feed, _tweets(30, offset=120))
    assert _run(project, store, "run-c").totals.processed == 30  # the next pass reads on from the winner's mark


def test_a_run_that_dies_mid_batch_commits_nothing_and_the_next_run_reads_it_once(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feed = project.root / "mentions.jsonl"
    store = open_store(tmp_path)
    _append(feed, _tweets(50))
    _run(project, store, "run-1")
    _append(feed, _tweets(50, offset=50))

    def die(self: Any, mentions: Any) -> Any:
        raise RuntimeError("worker killed")

    with monkeypatch.context() as patch:
        patch.setattr(Enricher, "enrich", die)
        failed = _run(project, store, "run-2")
    # every record fails alone: the pass's fault, not a record's — nothing quarantined, nothing committed
    assert "worker killed" in (failed.passes[0].failure or "")
    assert [a.kind for a in failed.alerts] == ["data_gap"] and "worker killed" in failed.alerts[0].reason
    assert failed.totals == Totals(0, 0, 0)
    _run(project, store, "run-3")
    assert store.totals("veille").processed == 100
    assert store.totals("veille", "run-3").processed == 50


def test_a_failing_source_raises_a_data_gap_alert_and_the_others_still_run(project: Project, tmp_path: Path) -> None:
    store = open_store(tmp_path)
    playbook = project.load("veille").playbook
    down = MemorySource("collector")
    down.fail("connection refused", times=10)
    up = MemorySource("backup", _tweets(20))
    report = scheduled(playbook, project.root, store, "run-1", sources=[down, up])
    gaps = [a for a in report.alerts if a.kind == "data_gap"]
    assert len(gaps) == 1 and "collector" in gaps[0].reason and "connection refused" in gaps[0].reason
    assert report.totals.processed == 20


def test_enriched_mentions_carry_language_matches_sentiment_and_relevance(project: Project) -> None:
    enricher = Enricher(project.load("veille").playbook)
    from crisiscomms.mention import Mention

    texts = ["Rappel de yaourts Laiterie Duval : mon fils est malade #RappelConso",
             "Train crash in Spain, dozens dead #prayforsantiago",
             "Un tren ha descarrilado cerca de Santiago, hay muchos muertos y heridos"]
    mentions = [Mention(id=str(i), created_at=NOW - timedelta(minutes=i), text=t) for i, t in enumerate(texts)]
    fr, en, es = enricher.enrich(mentions)
    assert (fr.lang, fr.analysed, en.lang, en.analysed, es.lang, es.analysed) == ("fr", True, "en", True, "es", False)
    assert fr.sentiment is not None and fr.sentiment < 0 and es.sentiment is None
    assert set(fr.keywords) >= {"rappel", "malade", "Laiterie Duval"} and fr.hashtags == ["#rappelconso"]
    assert fr.relevance > en.relevance > es.relevance >= 0


@pytest.mark.parametrize("reply", ["timeout", "garbage"])
def test_an_rss_or_http_source_that_times_out_or_returns_garbage_raises_a_data_gap(
        reply: str, project: Project, tmp_path: Path) -> None:
    from crisiscomms.playbook.monitoring import HttpSource, RssSource

    from .sources_servers import LocalServer, Reply

    answer = Reply(delay=2.0, body=b"late") if reply == "timeout" else Reply(body=b"\x89PNG not a feed {", content_type="text/xml")
    store = open_store(tmp_path)
    playbook = project.load("veille").playbook
    with LocalServer() as server:
        server.route("/feed", answer)
        server.route("/api", answer)
        specs = [RssSource(id="presse", type="rss", url=server.url("/feed"), timeout=1, retries=1),
                 HttpSource(id="api", type="http", url=server.url("/api"), timeout=1, retries=1)]
        report = scheduled(playbook, project.root, store, "run-1", sources=[build_source(s, project.root) for s in specs])
    gaps = {a.reason.split("'")[1]: a for a in report.alerts if a.kind == "data_gap"}
    assert set(gaps) == {"presse", "api"}
    assert all(a.level == "alert" and a.volume == 0 for a in gaps.values())
    assert store.cursor("veille", "presse") is None  # nothing was read: the watermark did not move


def test_a_source_whose_volume_collapses_or_goes_silent_raises_a_data_gap(project: Project, tmp_path: Path) -> None:
    store = open_store(tmp_path)
    playbook = project.load("veille").playbook
    source = MemorySource("collecteur")
    tweets = _tweets(420)
    for run in range(4):  # a steady 100 mentions per run makes the baseline
        source.append(*tweets[run * 100:(run + 1) * 100])
        report = scheduled(playbook, project.root, store, f"run-{run}", sources=[source])
        assert not [a for a in report.alerts if a.kind == "data_gap"]
    source.append(*tweets[400:403])  # 3 instead of ~100
    collapsed = scheduled(playbook, project.root, store, "run-4", sources=[source])
    silent = scheduled(playbook, project.root, store, "run-5", sources=[source])
    for report in (collapsed, silent):
        gaps = [a for a in report.alerts if a.kind == "data_gap"]
        assert len(gaps) == 1 and "collecteur" in gaps[0].reason, [a.reason for a in report.alerts]
    assert collapsed.totals.processed == 3  # what did arrive is still processed


def test_a_drill_replays_a_past_crisis_as_a_live_stream_each_mention_once(project: Project, tmp_path: Path) -> None:
    from crisiscomms.monitoring.sources import FileReader
    from crisiscomms.monitoring.sources.drill import ReplaySource

    feed = project.root / "spain.jsonl"
    _append(feed, _tweets(1000))
    wall = [datetime(2026, 11, 24, 9, 0, tzinfo=UTC)]
    source = ReplaySource(FileReader("drill", feed), speed=60, clock=lambda: wall[0])
    store = open_store(tmp_path)
    playbook = project.load("veille").playbook
    start, released = wall[0], []
    for _ in range(48):  # a scheduled run every 30 minutes of wall time: 24 h, i.e. 60 days of stream
        report = scheduled(playbook, project.root, store, f"run-{len(released)}", clock=lambda: wall[0], sources=[source])
        assert report.totals.read == report.totals.processed + report.totals.quarantined
        released.append(report.totals.read)
        stored = store.mentions_between("veille", start - timedelta(days=1), wall[0] + timedelta(days=1))
        assert len(stored) == sum(released) and all(start <= m.created_at <= wall[0] for m in stored)
        wall[0] += timedelta(minutes=30)
    assert released[0] < 10 < max(released)  # the stream unfolds over the runs, it does not arrive at once
    assert store.totals("veille").processed == 1000
    assert store.cursor("veille", "drill")["held"] == []


def test_a_file_source_with_replay_speed_is_built_as_a_drill(project: Project) -> None:
    from crisiscomms.monitoring.sources.drill import ReplaySource
    from crisiscomms.playbook.monitoring import FileSource

    source = build_source(FileSource(id="d", type="file", path="x.jsonl", replay_speed=60), project.root)
    assert isinstance(source, ReplaySource) and source.speed == 60


def test_a_file_goes_through_the_same_pass_in_chunks_ids_carried_across_them(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "mentions.jsonl"
    tweets = _tweets(250)
    _append(path, tweets + tweets[:3], raw=["{not json"])  # the repeats fall in a later chunk than their first
    written: list[monitor.BatchOutcome] = []
    totals = monitor.read_file(project.load("veille").playbook, path, written.append, clock=lambda: NOW, chunk=100)
    assert (totals.read, totals.processed, totals.quarantined) == (254, 250, 4)
    assert [o.read for o in written] == [100, 100, 54]
    repeats = [q.reasons for o in written for q in o.quarantined if "was already read" in q.reasons[0]]
    assert len(repeats) == 3


def test_an_unreadable_file_fails_the_file_pass_but_is_a_data_gap_for_a_scheduled_run(
        project: Project, tmp_path: Path) -> None:
    from crisiscomms.monitoring.sources import FileReader, SourceError

    playbook = project.load("veille").playbook
    with pytest.raises(SourceError, match="cannot read"):
        monitor.read_file(playbook, tmp_path / "gone.jsonl", lambda outcome: None)
    store = open_store(tmp_path)
    missing = FileReader("gone", tmp_path / "gone.jsonl", retries=0)
    report = scheduled(playbook, project.root, store, "run-1", sources=[missing])
    assert [a.kind for a in report.alerts] == ["data_gap"] and "cannot read" in report.alerts[0].reason


def test_a_first_detection_starts_at_the_earliest_mention_stored_not_at_a_silence_before_it(
        project: Project, tmp_path: Path) -> None:
    playbook = project.load("veille").playbook
    assert playbook.monitoring is not None
    store = open_store(tmp_path)
    _append(project.root / "mentions.jsonl", _tweets(200))
    run = monitor.MonitoringPass(playbook, StoreLedger(store, playbook.id, "r1"), Enricher(playbook), lambda: NOW)
    run.read(build_source(playbook.monitoring.sources[0], project.root))
    earliest = store.earliest_mention(playbook.id)
    assert earliest is not None and NOW - earliest > timedelta(days=7)  # the Spain tweets: days before NOW
    window = timedelta(seconds=playbook.monitoring.detection.window)
    shown, _ = monitor.detect_new_windows(playbook.id, playbook.monitoring, store, NOW)
    state = store.detector_state(playbook.id)
    assert state is not None and state["observed"] == (NOW - window_floor(earliest, int(window.total_seconds()))) / window
    assert len(shown) == monitor.REPORTED_WINDOWS and shown[-1].window_end == NOW


def test_a_first_detection_with_nothing_stored_reads_one_window(project: Project, tmp_path: Path) -> None:
    playbook = project.load("veille").playbook
    assert playbook.monitoring is not None
    store = open_store(tmp_path)
    shown, alerts = monitor.detect_new_windows(playbook.id, playbook.monitoring, store, NOW)
    assert ([w.volume for w in shown], alerts) == ([0], [])
    assert (store.detector_state(playbook.id) or {})["observed"] == 1

