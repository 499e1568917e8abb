"""Mention sources: every record exactly once across reads, bad records quarantined with reasons,
failures raised as SourceError after the retries — never an empty batch. Servers are real, on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.mention import Mention
from crisiscomms.monitoring.sources import (
    Batch,
    FileReader,
    HttpReader,
    MemorySource,
    RawRecord,
    RssReader,
    Source,
    SourceError,
    build_source,
    replay,
)
from crisiscomms.playbook.monitoring import Monitoring
from tests.unit.sources_servers import Entry, LocalServer, Reply, Request, atom, closed_port_url, rss

ROOT = Path(__file__).resolve().parents[2]
FAST = {"retries": 2, "backoff": 0.01}  # 3 attempts, no real waiting
T0 = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)


def drain(source: Source, cursor: dict[str, Any] | None) -> tuple[Batch, dict[str, Any]]:
    """One read, with the cursor round-tripped through JSON as a restarted process would get it back."""
    batch = source.read(cursor)
    assert batch.read == len(batch.records) + len(batch.quarantined)
    return batch, json.loads(json.dumps(batch.cursor))


def ids(batch: Batch) -> list[str]:
    return [record.data["id"] for record in batch.records]


def line(**fields: Any) -> bytes:
    return (json.dumps(fields) + "\n").encode()


@pytest.fixture
def server():
    with LocalServer() as running:
        yield running


# --- files -------------------------------------------------------------------------------------------------


def test_growing_jsonl_file_delivers_each_record_once_and_waits_for_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "mentions.jsonl"
    path.write_bytes(line(id="1", created_at="2026-03-12T08:00:00Z", text="a", extra="dropped")
                     + line(id="2", created_at="2026-03-12T08:01:00Z", text="b"))
    first, cursor = drain(FileReader("demo", path), None)
    assert ids(first) == ["1", "2"]
    assert first.records[0] == RawRecord(f"{path}:1", {"id": "1", "created_at": "2026-03-12T08:00:00Z", "text": "a"})

    with path.open("ab") as out:
        out.write(line(id="3", created_at="2026-03-12T08:02:00Z", text="c") + b'{"id": "4", "created_at": "2026-03')
    second, cursor = drain(FileReader("demo", path), cursor)  # a new reader: the cursor is all the state
    assert ids(second) == ["3"] and not second.quarantined

    with path.open("ab") as out:
        out.write(b'-12T08:03:00Z", "text": "d"}\n')
    third, cursor = drain(FileReader("demo", path), cursor)
    assert ids(third) == ["4"] and third.records[0].position == f"{path}:4"
    assert drain(FileReader("demo", path), cursor)[0].read == 0


def test_bad_lines_are_quarantined_with_reasons_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf" + line(id="1", created_at="2026-03-12T08:00:00Z", text="premier")  # BOM: not a problem
        + b"\x00\x9f\xff\xfe garbage \x01\n"  # binary
        + b"\x9f\xff\xfe\x80 \x8e\n"  # binary without NUL: still not UTF-8
        + '{"id": "3", "text": "café latin-1"}\n'.encode("latin-1")  # another encoding inside a UTF-8 file
        + b'{"id": "4", "text": "' + b"x" * 1_100_000 + b'"}\n'  # a 1 MB line
        + b'{"id": "5", "text": \n'  # broken JSON
        + b"\n   \r\n"  # blank lines: not records
        + b'["not", "an", "object"]\n'
        + line(id="9", created_at="2026-03-12T08:09:00Z", text="dernier", lang="fr")
    )
    batch, cursor = drain(FileReader("demo", path, display="data/mixed.jsonl"), None)
    assert ids(batch) == ["1", "9"]
    by_position = {q.position: q.reasons[0] for q in batch.quarantined}
    assert list(by_position) == [f"data/mixed.jsonl:{n}" for n in (2, 3, 4, 5, 6, 9)]
    assert by_position["data/mixed.jsonl:2"] == "contains NUL bytes: binary data, not text"
    assert by_position["data/mixed.jsonl:3"] == "not UTF-8: invalid start byte at byte 0"
    assert by_position["data/mixed.jsonl:4"] == "not UTF-8: invalid continuation byte at byte 24"
    assert by_position["data/mixed.jsonl:5"] == "line longer than 1000000 bytes (1100024 bytes)"
    assert by_position["data/mixed.jsonl:6"].startswith("not JSON: Expecting value")
    assert by_position["data/mixed.jsonl:9"] == "not a JSON object: a list"
    assert all(q.source == "demo" and 0 < len(q.raw) <= 2000 for q in batch.quarantined)
    assert cursor["offset"] == path.stat().st_size and cursor["line"] == 10


def test_csv_with_mapping_multiline_fields_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        "tweet_id,date,body,user,retweets\n"
        '101,2026-03-12T08:00:00Z,"Rappel, yaourts ""Duval""",@a,3\n'
        '102,2026-03-12T08:01:00Z,"sur deux\nlignes",@b,0\n'
        "103,2026-03-12T08:02:00Z,trop,de,colonnes,ici\n"
        "\x00\x00\x01binaire\n"
        '104,2026-03-12T08:03:00Z,"pas fini', encoding="utf-8")
    mapping = {"id": "tweet_id", "created_at": "date", "text": "body", "author": "user"}
    batch, cursor = drain(FileReader("export", path, "csv", mapping), None)
    assert [r.data for r in batch.records] == [
        {"id": "101", "created_at": "2026-03-12T08:00:00Z", "text": 'Rappel, yaourts "Duval"', "author": "@a"},
        {"id": "102", "created_at": "2026-03-12T08:01:00Z", "text": "sur deux\nlignes", "author": "@b"},
    ]
    assert [(q.position, q.reasons) for q in batch.quarantined] == [
        (f"{path}:5", ["6 columns where the header has 5"]),
        (f"{path}:6", ["contains NUL bytes: binary data, not text"])]

    with path.open("a", encoding="utf-8") as out:  # the writer finishes row 104 (its quoted field spans lines)
        out.write('\nencore",@d,1\n105,2026-03-12T08:04:00Z,fin,@e,2\n')
    second, _ = drain(FileReader("export", path, "csv", mapping), cursor)
    assert [(r.position, r.data["text"]) for r in second.records] == [(f"{path}:7", "pas fini\nencore"),
                                                                      (f"{path}:9", "fin")]


def test_csv_mapping_to_a_missing_column_is_noted_and_unknown_fields_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("id,created_at,text\n1,2026-03-12T08:00:00Z,a\n", encoding="utf-8")
    batch = FileReader("export", path, "csv", {"author": "user"}).read(None)
    assert ids(batch) == ["1"] and batch.notes == [f"{path}: mapped column(s) user not in the header"]
    with pytest.raises(SourceError, match="mapping names txt, which are not mention fields"):
        FileReader("export", path, "csv", {"txt": "text"})


def test_truncated_or_replaced_file_is_read_again_from_the_start_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "rotating.jsonl"
    path.write_bytes(line(id="1", text="a") + line(id="2", text="b"))
    _, cursor = drain(FileReader("demo", path), None)

    path.write_bytes(line(id="3", text="c"))  # rotated: shorter than the cursor
    batch, cursor = drain(FileReader("demo", path), cursor)
    assert ids(batch) == ["3"] and "truncated or rotated" in batch.notes[0]

    path.write_bytes(line(id="4", text="d") + line(id="5", text="e"))  # replaced by a longer file
    batch, _ = drain(FileReader("demo", path), cursor)
    assert ids(batch) == ["4", "5"] and "was replaced" in batch.notes[0]


def test_limit_splits_a_file_read_without_losing_or_repeating(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"".join(line(id=str(n), text="x") for n in range(10)) + b"not json\n")
    reader, cursor, seen = FileReader("demo", path), None, []
    while (batch := reader.read(cursor, limit=4)).read:
        assert batch.read <= 4
        seen += ids(batch) + [q.position for q in batch.quarantined]
        cursor = batch.cursor
    assert seen == [str(n) for n in range(10)] + [f"{path}:11"]


def test_unreadable_file_raises_after_its_retries(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        FileReader("demo", tmp_path / "absent.jsonl", display="data/absent.jsonl", **FAST).read(None)
    assert caught.value.attempts == 3
    assert str(caught.value) == "source 'demo': cannot read data/absent.jsonl: No such file or directory (after 3 attempts)"


def test_bundled_demo_file_reads_cleanly_into_mentions() -> None:
    batch = FileReader("demo", ROOT / "data/demo/mentions.jsonl").read(None)
    assert batch.records and not batch.quarantined
    assert all(Mention.model_validate(record.data).id == record.data["id"] for record in batch.records)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_replay_paces_records_at_compressed_stream_time() -> None:
    records = [RawRecord(str(n), {"created_at": when}) for n, when in enumerate(
        ["2026-03-12T08:00:00Z", "2026-03-12T08:01:00Z", "not a date", "2026-03-12T08:00:30Z", "2026-03-12T08:11:00Z"])]
    clock, yielded_at = FakeClock(), []
    for record in replay(records, speed=60, clock=clock):
        yielded_at.append((record.position, clock.now - 100))
    # a minute of stream per second; undated and late records come at once
    assert yielded_at == [("0", 0), ("1", 1), ("2", 1), ("3", 1), ("4", 11)]
    assert clock.slept == [1, 10]


# --- RSS and Atom --------------------------------------------------------------------------------------------


def test_rss_and_atom_feeds_map_entries_and_quarantine_those_without_id(server: LocalServer) -> None:
    entries = [Entry("urn:1", "Rappel <b>Duval</b>", "<p>Les yaourts &amp; crèmes</p><script>x()</script>", T0,
                     "https://presse.example/1"),
               Entry(None, "Sans identifiant", "", T0)]
    server.route("/feed.xml", Reply(body=rss(entries), content_type="application/rss+xml"))
    server.route("/atom.xml", Reply(body=atom(entries[:1]), content_type="application/atom+xml"))

    batch, _ = drain(RssReader("presse", server.url("/feed.xml")), None)
    assert batch.records[0].data == {
        "id": "urn:1", "created_at": "2026-03-12T08:00:00Z", "text": "Rappel Duval\nLes yaourts & crèmes",
        "author": "desk@presse.example", "channel": "rss", "url": "https://presse.example/1", "lang": "fr"}
    assert [q.reasons for q in batch.quarantined] == [["feed entry has neither an id (guid) nor a link"]]

    batch, _ = drain(RssReader("wire", server.url("/atom.xml")), None)
    assert batch.records[0].data | {"text": "…"} == {
        "id": "urn:1", "created_at": "2026-03-12T08:00:00Z", "text": "…", "channel": "rss",
        "url": "https://presse.example/1", "lang": "en"}
    assert Mention.model_validate(batch.records[0].data).created_at == T0


def test_growing_feed_delivers_each_entry_once(server: LocalServer) -> None:
    entries = [Entry(f"urn:{n}", f"Titre {n}", "", T0 + timedelta(minutes=n)) for n in range(5)]
    feed = {"shown": entries[:3]}
    server.route("/feed.xml", lambda _: Reply(body=rss(list(reversed(feed["shown"]))), content_type="text/xml"))
    reader = RssReader("presse", server.url("/feed.xml"))

    first, cursor = drain(reader, None)
    again, cursor = drain(reader, cursor)
    feed["shown"] = entries[1:]  # the feed window slides: one entry drops out, two arrive
    third, cursor = drain(reader, cursor)
    assert (sorted(ids(first)), ids(again), sorted(ids(third))) == (["urn:0", "urn:1", "urn:2"], [], ["urn:3", "urn:4"])
    assert sorted(cursor["seen"]) == [f"urn:{n}" for n in range(5)] and cursor["newest"] == "2026-03-12T08:04:00Z"


def test_feed_cursor_stays_bounded(server: LocalServer) -> None:
    reader, cursor = RssReader("presse", server.url("/feed.xml"), horizon_days=1, max_seen=4), None
    for day in range(4):  # three entries a day, a day apart: ids beyond the horizon or the cap are forgotten
        shown = [Entry(f"urn:{day}-{n}", "t", "", T0 + timedelta(days=day, minutes=n)) for n in range(3)]
        server.route("/feed.xml", Reply(body=rss(shown), content_type="application/rss+xml"))
        batch, cursor = drain(reader, cursor)
        assert len(batch.records) == 3
    assert sorted(cursor["seen"]) == ["urn:2-2", "urn:3-0", "urn:3-1", "urn:3-2"]


@pytest.mark.parametrize(("reply", "cause"), [
    (Reply(body=b"<html>\x00\xff garbage", content_type="text/html"), "not an RSS or Atom feed"),
    (Reply(body=b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>a & b</title></item></channel></rss>',
           content_type="application/rss+xml"), "malformed feed: <unknown>:1:"),
    (Reply(500, b"oops", "text/plain"), "HTTP 500 Internal Server Error"),
    (Reply(404, b"", "text/plain"), "HTTP 404 Not Found"),
    (Reply(body=rss([]), delay=1.5), "timed out after 0.3s"),
], ids=["garbage", "malformed", "500", "404", "timeout"])
def test_failing_feed_raises_after_its_retries_never_an_empty_batch(
        server: LocalServer, reply: Reply, cause: str) -> None:
    server.route("/feed.xml", reply)
    with pytest.raises(SourceError) as caught:
        RssReader("presse", server.url("/feed.xml"), timeout=0.3, **FAST).read(None)
    assert server.hits["/feed.xml"] == 3 and caught.value.attempts == 3
    assert str(caught.value).startswith(f"source 'presse': GET {server.url('/feed.xml')}: {cause}")


def test_connection_refused_raises_source_error() -> None:
    with pytest.raises(SourceError, match=r"source 'presse': GET http://127\.0\.0\.1:\d+/feed\.xml: ConnectError"):
        RssReader("presse", closed_port_url(), timeout=0.3, **FAST).read(None)


# --- JSON APIs ---------------------------------------------------------------------------------------------


def api_item(n: int, minute: int) -> dict[str, Any]:
    return {"id_str": f"m{n}", "meta": {"created": (T0 + timedelta(minutes=minute)).isoformat()},
            "content": {"body": f"message {n}"}, "user": {"handle": f"@u{n}"}, "noise": [1, 2]}


API_MAPPING = {"id": "id_str", "created_at": "meta.created", "text": "content.body", "author": "user.handle"}


def paged(items: list[Any], size: int = 2) -> Any:
    """Newest first, `size` a page, `next` as a relative link: the shape of most social APIs."""
    def answer(request: Request) -> Reply:
        page = int(request.query.get("page", "1"))
        chunk = items[(page - 1) * size: page * size]
        following = f"?page={page + 1}" if page * size < len(items) else None
        return Reply(body=json.dumps({"data": {"results": chunk}, "paging": {"next": following}}).encode())
    return answer


def api_reader(server: LocalServer, **options: Any) -> HttpReader:
    return HttpReader("api", server.url("/search"), items="data.results", mapping=API_MAPPING, next="paging.next",
                      **{"timeout": 0.5, **FAST, **options})


def test_paginated_api_maps_dotted_paths_and_sends_headers_from_env(
        server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_TEST_TOKEN", "Bearer s3cret")
    server.route("/search", paged([api_item(n, 10 - n) for n in range(5)] + ["not an object"]))
    batch, cursor = drain(api_reader(server, headers_env={"Authorization": "CRISIS_TEST_TOKEN"}), None)
    assert server.hits["/search"] == 3
    assert all(request.headers["Authorization"] == "Bearer s3cret" for request in server.requests)
    assert ids(batch) == ["m4", "m3", "m2", "m1", "m0"]  # oldest first, whatever the API's order
    assert batch.records[-1].data == {"id": "m0", "created_at": "2026-03-12T08:10:00+00:00", "text": "message 0",
                                     "author": "@u0"}
    assert batch.records[2].position == f"{server.url('/search')}?page=2 page 2 item 0"
    assert [q.reasons for q in batch.quarantined] == [["item is a JSON str, not an object"]]
    assert cursor == {"newest": "2026-03-12T08:10:00Z", "ids": ["m0"], "quarantined": [cursor["quarantined"][0]]}


def test_missing_header_env_var_is_named_and_nothing_is_requested(
        server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRISIS_TEST_TOKEN", raising=False)
    with pytest.raises(SourceError, match=r"environment variable CRISIS_TEST_TOKEN \(for header Authorization\) is not set"):
        api_reader(server, headers_env={"Authorization": "CRISIS_TEST_TOKEN"}).read(None)
    assert server.hits["/search"] == 0


def test_growing_api_with_tied_timestamps_delivers_each_item_once(server: LocalServer) -> None:
    items = [api_item(1, 1), api_item(2, 2), api_item(3, 2)]  # m2 and m3 share a timestamp
    server.route("/search", lambda request: paged(list(reversed(items)))(request))
    reader = api_reader(server)
    first, cursor = drain(reader, None)
    items += [api_item(4, 2), api_item(5, 3), "still bad"]  # another item at the tied instant, a newer one
    second, cursor = drain(reader, cursor)
    third, _ = drain(reader, cursor)
    assert (sorted(ids(first)), sorted(ids(second)), third.read) == (["m1", "m2", "m3"], ["m4", "m5"], 0)
    assert len(second.quarantined) == 1  # the bad item is reported once, not on every read


def test_newest_first_api_stops_paging_once_a_page_is_all_older_than_the_cursor(server: LocalServer) -> None:
    items = [api_item(n, n) for n in range(10)]
    server.route("/search", lambda request: paged(list(reversed(items)))(request))
    reader = api_reader(server)
    _, cursor = drain(reader, None)
    assert server.hits["/search"] == 5
    items.append(api_item(10, 10))
    batch, _ = drain(reader, cursor)
    assert ids(batch) == ["m10"] and server.hits["/search"] == 5 + 2  # page 2 is all old: page 3 is not fetched


def test_max_pages_is_reported_in_notes(server: LocalServer) -> None:
    server.route("/search", paged([api_item(n, 10 - n) for n in range(6)]))
    batch = api_reader(server, max_pages=2).read(None)
    assert len(batch.records) == 4 and server.hits["/search"] == 2
    assert batch.notes[0].startswith("stopped at max_pages=2 with more pages to read")


def test_credentials_are_not_sent_to_another_origin(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_TEST_TOKEN", "s3cret")
    with LocalServer() as elsewhere:
        elsewhere.route("/more", Reply(body=json.dumps({"data": {"results": [api_item(2, 2)]}}).encode()))
        page_one = {"data": {"results": [api_item(1, 1)]}, "paging": {"next": elsewhere.url("/more")}}
        server.route("/search", Reply(body=json.dumps(page_one).encode()))
        batch = api_reader(server, headers_env={"X-Token": "CRISIS_TEST_TOKEN"}).read(None)
    assert ids(batch) == ["m1", "m2"]
    assert server.requests[0].headers["X-Token"] == "s3cret" and "X-Token" not in elsewhere.requests[0].headers


def test_redirects_are_followed_but_carry_credentials_to_the_same_origin_only(
        server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_TEST_TOKEN", "s3cret")
    body = json.dumps({"data": {"results": [api_item(1, 1)]}}).encode()
    with LocalServer() as elsewhere:
        elsewhere.route("/moved", Reply(body=body))
        server.route("/search", Reply(302, headers={"Location": "/v2/search"}))
        server.route("/v2/search", Reply(301, headers={"Location": elsewhere.url("/moved")}))
        batch = api_reader(server, headers_env={"X-Token": "CRISIS_TEST_TOKEN"}).read(None)
    assert ids(batch) == ["m1"] and batch.records[0].position.startswith(elsewhere.url("/moved"))
    assert [r.headers.get("X-Token") for r in server.requests + elsewhere.requests] == ["s3cret", "s3cret", None]


@pytest.mark.parametrize(("reply", "cause"), [
    (Reply(body=b'{"data": {"results": [1, 2'), "the body is not JSON"),
    (Reply(body=b'{"data": {}}'), "expected a list at 'data.results' in the response, found nothing"),
    (Reply(503, b"busy", "text/plain"), "HTTP 503 Service Unavailable"),
    (Reply(401, b"", "text/plain"), "HTTP 401 Unauthorized"),
    (Reply(body=b"{}", delay=1.5), "timed out after 0.3s"),
], ids=["broken-json", "no-items", "503", "401", "timeout"])
def test_failing_api_raises_after_its_retries(server: LocalServer, reply: Reply, cause: str) -> None:
    server.route("/search", reply)
    with pytest.raises(SourceError) as caught:
        api_reader(server, timeout=0.3).read(None)
    assert server.hits["/search"] == 3 and caught.value.attempts == 3
    assert str(caught.value).startswith(f"source 'api': GET {server.url('/search')}: {cause}")


def test_limit_splits_feed_and_api_reads_without_losing_or_repeating(server: LocalServer) -> None:
    entries = [Entry(f"urn:{n}", f"Titre {n}", "", T0 + timedelta(minutes=n)) for n in range(5)]
    server.route("/feed.xml", Reply(body=rss([*entries, Entry(None, "sans id", "", T0)])))
    items = [*(api_item(n, n // 2) for n in range(7)), "bad"]  # pairs of tied timestamps, cut by the limit
    server.route("/search", paged(list(reversed(items)), size=3))
    for source, expected in ((RssReader("presse", server.url("/feed.xml")), 6), (api_reader(server), 8)):
        cursor, delivered = None, []
        while (batch := source.read(cursor, limit=2)).read:
            assert batch.read <= 2
            delivered += ids(batch) + [q.position for q in batch.quarantined]
            cursor = json.loads(json.dumps(batch.cursor))
        assert len(delivered) == len(set(delivered)) == expected, delivered


# --- the fake and the factory ------------------------------------------------------------------------------


def test_memory_source_honours_the_contract_and_fails_on_demand() -> None:
    source = MemorySource("drill", [{"id": "1", "text": "a", "junk": True}])
    assert source.read(None, limit=0).read == 0
    first, cursor = drain(source, None)
    source.append({"id": "2", "text": "b"})
    source.fail("réseau coupé")
    with pytest.raises(SourceError, match="source 'drill': réseau coupé"):
        source.read(cursor)
    second, cursor = drain(source, cursor)
    assert [r.data for r in first.records + second.records] == [{"id": "1", "text": "a"}, {"id": "2", "text": "b"}]
    assert source.reads == 4 and drain(source, cursor)[0].read == 0


def test_build_source_maps_every_spec_type(tmp_path: Path) -> None:
    monitoring = Monitoring.model_validate({"sources": [
        {"id": "demo", "type": "file", "path": "data/demo/mentions.jsonl"},
        {"id": "presse", "type": "rss", "url": "https://presse.example/feed.xml", "timeout": "45s"},
        {"id": "api", "type": "http", "url": "https://api.example/search", "mapping": {"id": "id_str"},
         "next": "paging.next", "max_pages": 3, "retries": 1},
    ]})
    demo, presse, api = (build_source(spec, ROOT) for spec in monitoring.sources)
    assert all(isinstance(source, Source) for source in (demo, presse, api, MemorySource("m")))
    assert isinstance(demo, FileReader) and demo.path == ROOT / "data/demo/mentions.jsonl"
    assert demo.read(None).records[0].position == "data/demo/mentions.jsonl:1"
    assert isinstance(presse, RssReader) and presse.timeout == 45
    assert isinstance(api, HttpReader) and (api.mapping, api.next, api.max_pages, api.retries) == (
        {"id": "id_str"}, "paging.next", 3, 1)
