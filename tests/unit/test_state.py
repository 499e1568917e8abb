"""The project's own state behind one interface: the same behaviour on SQLite files and on PostgreSQL, versioned
migrations, writes serialised across processes, and state files of an earlier release taken over with their rows."""

from __future__ import annotations

import os
import sqlite3
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crisiscomms.communication import release, signing
from crisiscomms.communication.approval import ApprovalStore, StageRecord
from crisiscomms.mention import EnrichedMention, Quarantined
from crisiscomms.monitoring.store import open_store
from crisiscomms.stack.postgres import drop_schema
from crisiscomms.state import NAMES, IntegrityError, StateError, open_database, open_in, state_dir
from crisiscomms.state.schema import HEADS, MIGRATIONS
from tests.backends import fresh_schema
from tests.forking import CONTEXT, Forked

T0 = datetime(2026, 3, 12, 9, 0, tzinfo=UTC)


def mention(number: int, minutes: int = 0) -> EnrichedMention:
    return EnrichedMention(id=f"m{number}", created_at=T0 + timedelta(minutes=minutes), text=f"post {number}",
                           source="feed", lang="fr", analysed=True, relevance=0.9)


def test_every_domain_opens_at_its_head_on_both_backends(tmp_path: Path, state_backend: str) -> None:
    for name in NAMES:
        with open_database(tmp_path, name) as db:
            versions = {row[0] for row in db.execute("SELECT version_num FROM alembic_version")}
            assert HEADS[name] in versions


def test_heads_name_the_last_revision_of_each_domain() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert {name: scripts.get_revision(f"{name}@head").revision for name in HEADS} == HEADS


def test_a_batch_its_watermark_and_its_run_log_commit_together_and_read_back_in_order(
        tmp_path: Path, state_backend: str) -> None:
    store = open_store(tmp_path)
    try:
        bad = [Quarantined(source="feed", position="feed.jsonl:3", reasons=["not JSON"], raw="{x")]
        totals = store.commit_batch("veille", "feed", "run-1", [mention(i, i) for i in range(5)], bad,
                                    {"offset": 5}, read=6)
        assert (totals.read, totals.processed, totals.quarantined) == (6, 5, 1)
        assert store.cursor("veille", "feed") == {"offset": 5}
        store.commit_batch("veille", "feed", "run-2", [mention(9, 9)], [], {"offset": 6}, read=1)
        assert store.cursor("veille", "feed") == {"offset": 6}  # the watermark moved, not duplicated
        assert [m.id for m in store.iter_mentions_between("veille", T0, T0 + timedelta(hours=1))] == \
            ["m0", "m1", "m2", "m3", "m4", "m9"]
        assert store.volume_per_window("veille", T0, T0 + timedelta(minutes=10), 300) == [5, 1]
        assert store.known_ids("veille", ["m1", "m9", "nope"]) == {"m1", "m9"}
        assert [b["run_id"] for b in store.batches_between("veille", T0, datetime.now(UTC))] == ["run-1", "run-2"]
        with pytest.raises(IntegrityError):  # a mention stored twice is refused, and its batch with it
            store.commit_batch("veille", "feed", "run-3", [mention(1)], [], {"offset": 99}, read=1)
        assert store.cursor("veille", "feed") == {"offset": 6}
    finally:
        store.close()


def test_a_stream_reads_many_rows_as_they_are_consumed(tmp_path: Path, state_backend: str) -> None:
    store = open_store(tmp_path)
    try:
        store.commit_batch("veille", "feed", "run-1", [mention(i) for i in range(5000)], [], {}, read=5000)
        seen = store.iter_mentions_between("veille", T0, T0 + timedelta(minutes=1))
        first = next(seen)
        store.save_detector_state("veille", {"between": "reads"})  # the connection still serves other queries
        assert first.id.startswith("m") and 1 + sum(1 for _ in seen) == 5000
        assert store.detector_state("veille") == {"between": "reads"}
    finally:
        store.close()


def test_an_outbox_message_is_claimed_and_sent_once_then_settled_by_an_operator(
        tmp_path: Path, state_backend: str) -> None:
    outbox = release.open_outbox(tmp_path)
    try:
        assert outbox.claim("k1", "veille", "pack", "m1", "hook") == "pending"
        assert outbox.claim("k1", "veille", "pack", "m1", "hook") == "pending"  # claimed once, not twice
        assert outbox.begin_send("k1") and not outbox.begin_send("k1")
        outbox.settle("k1", "sent", "checked the receiver")
        assert [(r["key"], r["status"], r["attempts"]) for r in outbox.rows("pack")] == [("k1", "sent", 1)]
        first = outbox.first_attempt("pack", T0)
        assert outbox.first_attempt("pack", T0 + timedelta(hours=1)) == first == T0
    finally:
        outbox.close()


def _race_for_the_send(folder: str, key: str, start: object, results: object) -> None:
    outbox = release.open_outbox(Path(folder))
    try:
        start.wait()  # type: ignore[attr-defined]
        outbox.claim(key, "veille", "pack", "m1", "hook")
        results.put(outbox.begin_send(key))  # type: ignore[attr-defined]
    finally:
        outbox.close()


def test_processes_racing_for_one_message_let_exactly_one_send_it(tmp_path: Path, state_backend: str) -> None:
    for round_ in range(3):  # each racer opens its own connection, as each worker does
        start, results = CONTEXT.Event(), CONTEXT.Queue()
        racers = [Forked(_race_for_the_send, str(tmp_path), f"k{round_}", start, results) for _ in range(4)]
        start.set()
        assert [racer.wait(60) for racer in racers] == [0, 0, 0, 0]
        assert sorted(results.get(timeout=5) for _ in racers) == [False, False, False, True]


def test_a_stage_opened_again_starts_over_and_a_link_is_used_once(tmp_path: Path, state_backend: str) -> None:
    store = ApprovalStore(state_dir(tmp_path))
    try:
        stage = StageRecord(stage_id="s1", run_id="r1", playbook="veille", title="Pack", step="approve", number=1,
                            of=1, roles=["legal"], approvers=[], hash="h", pack_path="pack.json", opened_at="",
                            deadline="", via=["ui"])
        store.open_stage(stage)
        store.waiting_on("s1", "pause-1", [])
        store.close_stage("s1", "approved")
        store.open_stage(stage)  # the run resumed from the top
        assert store.stage("s1")[1:] == ("", "open")
        assert store.use_link("l1", "s1", "Claire", "approve", "pause-1")
        assert not store.use_link("l1", "s1", "Claire", "approve", "pause-1")
        store.record_answer("r1", "pause-1", "refused", "too late")
        store.record_answer("r1", "pause-1", "accepted")
        assert store.answer("r1", "pause-1") == ("accepted", "")
    finally:
        store.close()


def test_the_signing_key_is_made_once_and_shared(tmp_path: Path, state_backend: str) -> None:
    state = state_dir(tmp_path)
    key = signing.load_key(state)
    assert signing.load_key(state) == key and len(key) == 32 and signing.key_exists(state)


def test_a_key_file_is_taken_over_when_the_state_moves_to_postgresql(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: str) -> None:
    state = tmp_path / "state"
    monkeypatch.delenv("CRISIS_STATE_DATABASE_URL", raising=False)
    on_file = signing.load_key(state)  # on SQLite: the key is a file
    schema, url = fresh_schema(postgres_server)
    monkeypatch.setenv("CRISIS_STATE_DATABASE_URL", url)
    try:
        assert signing.load_key(state) == on_file  # links and evidence signed before the move stay valid
    finally:
        drop_schema(postgres_server, schema)


def test_two_processes_opening_a_new_database_migrate_it_once(tmp_path: Path, state_backend: str) -> None:
    racers = [Forked(_open_every_domain, str(tmp_path)) for _ in range(3)]
    codes = [racer.wait(60) for racer in racers]
    said = [path.read_text() for path in tmp_path.glob("failed-*.txt")]
    assert codes == [0, 0, 0], said
    with open_database(tmp_path, "outbox") as db:
        assert [row[0] for row in db.execute("SELECT version_num FROM alembic_version WHERE version_num LIKE "
                                             "'outbox%'")] == [HEADS["outbox"]]


def _open_every_domain(folder: str) -> None:
    try:
        for name in NAMES:
            open_database(Path(folder), name).close()
    except BaseException:
        (Path(folder) / f"failed-{os.getpid()}.txt").write_text(traceback.format_exc())
        raise


def test_state_files_of_an_earlier_release_are_taken_over_with_their_rows_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRISIS_STATE_DATABASE_URL", raising=False)
    state = tmp_path / "state"
    state.mkdir()
    legacy = sqlite3.connect(state / "outbox.db")  # as the release before versioned schemas made it
    legacy.executescript("""
        CREATE TABLE outbox (key TEXT PRIMARY KEY, playbook TEXT NOT NULL, pack TEXT NOT NULL, message TEXT NOT NULL,
            channel TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL, receipt TEXT, at TEXT NOT NULL);
        CREATE TABLE releases (pack TEXT PRIMARY KEY, first_attempt TEXT NOT NULL);
        INSERT INTO outbox VALUES ('b', 'veille', 'p', 'm2', 'hook', 'sent', 1, 'ok', '2026-01-01T00:00:00');
        INSERT INTO outbox VALUES ('a', 'veille', 'p', 'm1', 'mail', 'sending', 1, NULL, '2026-01-01T00:00:01');
        INSERT INTO releases VALUES ('p', '2026-01-01T00:00:00+00:00');""")
    legacy.commit()
    legacy.close()
    outbox = release.Outbox(open_in(state, "outbox"))
    try:
        assert [(r["key"], r["status"]) for r in outbox.rows()] == [("b", "sent"), ("a", "sending")]
        assert not outbox.begin_send("b")  # sent before the upgrade: never sent again
        assert outbox.claim("c", "veille", "p", "m3", "hook") == "pending"
        assert [r["key"] for r in outbox.rows()] == ["b", "a", "c"]
    finally:
        outbox.close()


def test_a_damaged_state_file_is_named_in_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRISIS_STATE_DATABASE_URL", raising=False)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "killswitch.db").write_bytes(b"not a database, " * 400)
    with pytest.raises(StateError, match=r"killswitch\.db"):
        open_in(tmp_path / "state", "killswitch")


def test_an_unreachable_postgresql_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_STATE_DATABASE_URL", "postgresql://crisis:wrong@127.0.0.1:9/crisis")
    with pytest.raises(StateError, match=r"cannot connect.*CRISIS_STATE_DATABASE_URL") as caught:
        open_database(tmp_path, "crises")
    assert "wrong" not in str(caught.value)  # the password is never shown


def _open_crisis(folder: str, playbook: str, results: object) -> None:
    from crisiscomms.review import crises

    results.put((playbook, crises.join_or_open(Path(folder), playbook, playbook, "monitoring", T0).id))  # type: ignore[attr-defined]


def test_workers_opening_crises_at_once_get_one_crisis_per_playbook_and_never_mix_them(
        tmp_path: Path, state_backend: str) -> None:
    results = CONTEXT.Queue()
    playbooks = ["rappel-produit", "rappel-produit", "fuite-de-donnees", "fuite-de-donnees", "rappel-produit"]
    racers = [Forked(_open_crisis, str(tmp_path), p, results) for p in playbooks]
    assert [racer.wait(60) for racer in racers] == [0] * len(playbooks)
    opened = sorted(results.get(timeout=5) for _ in racers)
    assert {playbook: {ident for p, ident in opened if p == playbook} for playbook in set(playbooks)} == {
        "rappel-produit": {"rappel-produit-20260312-1"}, "fuite-de-donnees": {"fuite-de-donnees-20260312-1"}}
