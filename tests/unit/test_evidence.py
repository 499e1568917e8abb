"""The evidence pack: a freshly written archive verifies; any changed byte of evidence, of the manifest or of the
seal, any entry removed or added, any record moved, any forged re-seal without the key is found and named."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crisiscomms.review.evidence import (
    MANIFEST,
    SEAL,
    Entry,
    EvidenceError,
    Problem,
    Verification,
    verify,
    write_evidence,
)

KEY = b"the project's signing key"
HEADER = {"crisis": "C-2026-017", "playbook": "rappel-produit", "version": "3", "git_revision": "4f2a9c1",
          "playbook_sha256": "ab" * 32, "generated_at": datetime(2026, 3, 12, 18, 30, tzinfo=UTC)}
ENTRIES = (
    Entry(name="timeline.json", kind="timeline", data=b'{"events": [{"kind": "alert", "at": "08:35"}]}'),
    Entry(name="packs/9f3e.json", kind="pack", data=b'{"variants": ["Rappel du lot 4711", "Lot 4711 recall"]}'),
    Entry(name="messages/sent.json", kind="message", data=b'[{"channel": "mail", "status": "sent"}]'),
    Entry(name="quality/run-1.json", kind="quality", data=b'{"unique_id": {"success": true}}'),
    Entry(name="playbook/rappel-produit.yaml", kind="playbook", data="id: rappel-produit\ntitre: Rappel — sécurité\n".encode()),
    Entry(name="report/post-mortem.html", kind="report", data=b"<html><body>Post-mortem</body></html>"),
)
NAMES = [e.name for e in ENTRIES]
CLOSING = len(ENTRIES) + 1  # record number of the closing record


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_evidence(tmp_path_factory.mktemp("ev") / "evidence.zip", HEADER, ENTRIES, key=KEY).read_bytes()


def span(archive: bytes, name: str) -> tuple[int, int]:
    """Where a STORED member's bytes sit in the archive file: after its local header, name and extra field."""
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo(name)
    name_length, extra_length = struct.unpack_from("<2H", archive, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    return start, start + info.compress_size


def flipped(archive: bytes, offset: int) -> bytes:
    return archive[:offset] + bytes([archive[offset] ^ 0x01]) + archive[offset + 1 :]


def manifest_offset(archive: bytes, record: int, after: bytes) -> int:
    """The offset in the archive of the byte just after `after` in manifest record `record` (a line of the manifest)."""
    start, end = span(archive, MANIFEST)
    line_start = start + sum(len(line) + 1 for line in archive[start:end].split(b"\n")[:record])
    return archive.index(after, line_start) + len(after)


def check(tmp_path: Path, archive: bytes, key: bytes | None = KEY) -> Verification:
    path = tmp_path / "evidence.zip"
    path.write_bytes(archive)
    return verify(path, key)


def each_flip(tmp_path: Path, archive: bytes, offsets: Iterable[int]) -> Iterator[tuple[int, Verification]]:
    """Verify (without key) the archive with each offset's byte changed in turn, in place: re-writing the whole file
    each time would dominate the test's run time."""
    path = tmp_path / "evidence.zip"
    path.write_bytes(archive)
    with path.open("r+b", buffering=0) as file:
        for offset in offsets:
            file.seek(offset)
            file.write(bytes([archive[offset] ^ 0x01]))
            yield offset, verify(path)
            file.seek(offset)
            file.write(archive[offset : offset + 1])


def rebuilt(archive: bytes, drop: str = "", add: dict[str, bytes] | None = None,
            replace: dict[str, bytes] | None = None) -> bytes:
    """The archive re-written with a member dropped, members replaced, members added."""
    out, replace = io.BytesIO(), replace or {}
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename != drop:
                target.writestr(info, replace.get(info.filename, source.read(info)))
        for name, data in (add or {}).items():
            target.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("key", [None, KEY], ids=["no-key", "key"])
def test_a_fresh_archive_verifies(tmp_path: Path, key: bytes | None) -> None:
    path = write_evidence(tmp_path / "evidence.zip", HEADER, ENTRIES, key=key)
    result = verify(path, key)
    assert result.ok, result.lines()
    assert result.entries == len(ENTRIES)
    assert bool(result.notes) is (key is None)  # no key: the report says only the chain was checked
    assert "intact — 6 entries" in result.lines()[0]


def test_the_archive_stores_every_entry_as_given_with_a_chained_manifest(sealed: bytes) -> None:
    archive = zipfile.ZipFile(io.BytesIO(sealed))
    assert archive.namelist() == [*NAMES, MANIFEST, SEAL]
    assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    assert all(archive.read(e.name) == e.data for e in ENTRIES)
    records = [json.loads(line) for line in archive.read(MANIFEST).splitlines()]
    assert records[0] == {**HEADER, "generated_at": "2026-03-12T18:30:00+00:00", "seq": 0, "prev": "0" * 64,
                          "record": "header", "format": "crisiscomms-evidence/1"}
    assert [(r["name"], r["kind"], r["size"]) for r in records[1:-1]] == [(e.name, e.kind, len(e.data)) for e in ENTRIES]
    assert records[-1]["entries"] == len(ENTRIES) and [r["seq"] for r in records] == list(range(len(ENTRIES) + 2))


def test_the_same_evidence_gives_the_same_archive_byte_for_byte(tmp_path: Path, sealed: bytes) -> None:
    assert write_evidence(tmp_path / "again.zip", HEADER, ENTRIES, key=KEY).read_bytes() == sealed


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("name", NAMES)
def test_a_changed_byte_of_an_entry_names_that_entry(tmp_path: Path, sealed: bytes, name: str, where: str) -> None:
    start, end = span(sealed, name)
    offset = {"first": start, "middle": (start + end) // 2, "last": end - 1}[where]
    result = check(tmp_path, flipped(sealed, offset))
    assert [(p.entry, p.what.split(":")[0]) for p in result.problems] == [(name, "content changed")]


def test_a_stored_crc_that_no_longer_matches_is_reported_as_that_entry_changed(tmp_path: Path, sealed: bytes) -> None:
    info = zipfile.ZipFile(io.BytesIO(sealed)).getinfo("timeline.json")
    central = sealed.index(struct.pack("<I", info.CRC), info.header_offset + 30)  # the central directory's copy
    with pytest.raises(zipfile.BadZipFile, match="Bad CRC-32"):
        zipfile.ZipFile(io.BytesIO(flipped(sealed, central))).read("timeline.json")
    assert [str(p) for p in check(tmp_path, flipped(sealed, central)).problems] == [
        "entry 'timeline.json': changed: its bytes no longer match their ZIP CRC-32"]


@pytest.mark.parametrize(("line", "after", "record", "named"), [
    (0, b"C-2026-01", 0, "manifest record 0 (header)"),  # the header's crisis id
    (0, b'"prev":"', 0, "manifest record 0 (header)"),  # the start of the chain
    (1, b'"kind":"timelin', 1, "manifest record 1 (entry 'timeline.json')"),
    (2, b'"prev":"', 1, "manifest record 1 (entry 'timeline.json')"),  # record 2's link to record 1
    (3, b'"sha256":"', 3, "manifest record 3 (entry 'messages/sent.json')"),  # the recorded hash itself
    (4, b'"size":', 4, "manifest record 4 (entry 'quality/run-1.json')"),
    (5, b"", 5, "manifest.jsonl line 6: unreadable"),  # its opening brace: the record no longer parses
    (CLOSING, b'"entries":', CLOSING, "manifest.seal: does not match"),  # only the seal links to the last record
    (CLOSING, b'"seq":', CLOSING, "manifest record 7 (closing record): numbered 6"),
])
def test_a_changed_byte_of_the_manifest_names_the_record(tmp_path: Path, sealed: bytes, line: int, after: bytes,
                                                           record: int, named: str) -> None:
    result = check(tmp_path, flipped(sealed, manifest_offset(sealed, line, after)))
    assert not result.ok
    assert any(p.record == record and str(p).startswith(named) for p in result.problems), result.lines()


def test_a_changed_newline_of_the_manifest_is_found(tmp_path: Path, sealed: bytes) -> None:
    offset = manifest_offset(sealed, 3, b"") - 1  # the end of record 2: records 2 and 3 become one line
    problems = check(tmp_path, flipped(sealed, offset)).problems
    assert [str(p) for p in problems] == [
        "manifest.jsonl line 3: unreadable: not JSON (Extra data: line 1 column 226 (char 225))",
        "manifest record 3 (entry 'quality/run-1.json'): numbered 4: records reordered, removed or added from here on",
        "entry 'messages/sent.json': not in what is left of the manifest",
        "entry 'packs/9f3e.json': not in what is left of the manifest",
    ]


@pytest.mark.parametrize(("after", "key", "what"), [
    (b'"sha256":"', None, "does not match the last manifest line, manifest record 7 (closing record)"),
    (b'"sha256":"', KEY, "does not match the last manifest line, manifest record 7 (closing record)"),
    (b'"hmac_sha256":"', KEY, "HMAC mismatch"),
    (b'"hmac_sha256":"', None, "changed: its bytes no longer match their ZIP CRC-32"),  # no key: the CRC still tells
    (b"{", None, "unreadable: not JSON"),
    (b'"}', KEY, "unreadable: not JSON"),  # its final newline
])
def test_a_changed_byte_of_the_seal_is_found(tmp_path: Path, sealed: bytes, after: bytes, key: bytes | None,
                                             what: str) -> None:
    start, _ = span(sealed, SEAL)
    result = check(tmp_path, flipped(sealed, sealed.index(after, start) + len(after)), key)
    assert [(p.where, p.what.startswith(what)) for p in result.problems] == [(SEAL, True)], result.lines()


def test_every_changed_byte_of_stored_content_is_found(tmp_path: Path, sealed: bytes) -> None:
    for name in [*NAMES, MANIFEST, SEAL]:
        start, end = span(sealed, name)
        missed = [offset for offset, result in each_flip(tmp_path, sealed, range(start, end)) if result.ok]
        assert missed == [], f"{name}: changes at {missed} not found"


def test_a_changed_byte_of_zip_bookkeeping_never_raises(tmp_path: Path, sealed: bytes) -> None:
    # Headers and directory: a changed date or version changes no evidence and verifies; nothing there crashes.
    content = {offset for name in [*NAMES, MANIFEST, SEAL] for offset in range(*span(sealed, name))}
    results = each_flip(tmp_path, sealed, sorted(set(range(len(sealed))) - content))
    assert all(isinstance(result, Verification) for _, result in results)


@pytest.mark.parametrize(("drop", "problem"), [
    ("messages/sent.json", Problem("entry 'messages/sent.json'", "missing from the archive", "messages/sent.json", 3)),
    (MANIFEST, Problem(MANIFEST, "missing or unreadable: nothing can be checked")),
    (SEAL, Problem(SEAL, "unreadable: missing — the manifest's end cannot be checked")),
])
def test_a_removed_member_is_reported_missing(tmp_path: Path, sealed: bytes, drop: str, problem: Problem) -> None:
    assert check(tmp_path, rebuilt(sealed, drop=drop)).problems == (problem,)


def test_an_added_file_is_reported_as_not_in_the_manifest(tmp_path: Path, sealed: bytes) -> None:
    problems = check(tmp_path, rebuilt(sealed, add={"packs/extra.json": b"{}"})).problems
    assert [(p.entry, p.what) for p in problems] == [
        ("packs/extra.json", "not in the manifest: added after it was written")]


def test_a_second_copy_of_an_entry_is_reported(tmp_path: Path, sealed: bytes) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        archive = rebuilt(sealed, add={"timeline.json": b'{"events": []}'})
    assert {p.entry for p in check(tmp_path, archive).problems} == {"timeline.json"}


def test_reordered_manifest_records_break_the_chain(tmp_path: Path, sealed: bytes) -> None:
    lines = zipfile.ZipFile(io.BytesIO(sealed)).read(MANIFEST).split(b"\n")
    lines[2], lines[3] = lines[3], lines[2]
    problems = check(tmp_path, rebuilt(sealed, replace={MANIFEST: b"\n".join(lines)})).problems
    assert {p.record for p in problems} >= {1, 2, 3}
    assert any("reordered" in p.what and p.entry == "messages/sent.json" for p in problems)


def test_a_manifest_cut_short_is_found(tmp_path: Path, sealed: bytes) -> None:
    lines = zipfile.ZipFile(io.BytesIO(sealed)).read(MANIFEST).split(b"\n")
    problems = check(tmp_path, rebuilt(sealed, replace={MANIFEST: b"\n".join(lines[:4]) + b"\n"}), None).problems
    assert [(p.where, p.what.split(":")[0]) for p in problems] == [
        ("manifest.jsonl", "no closing record"),
        ("entry 'playbook/rappel-produit.yaml'", "not in what is left of the manifest"),
        ("entry 'quality/run-1.json'", "not in what is left of the manifest"),
        ("entry 'report/post-mortem.html'", "not in what is left of the manifest"),
        ("manifest.seal", "does not match the last manifest line, manifest record 3 (entry 'messages/sent.json')"),
    ]


def test_a_forged_manifest_chained_consistently_fails_only_the_hmac(tmp_path: Path) -> None:
    forged = [e.model_copy(update={"data": b"[]"}) if e.kind == "message" else e for e in ENTRIES]
    path = write_evidence(tmp_path / "forged.zip", HEADER, forged, key=b"a guessed key")
    assert verify(path).ok  # without the key, a consistent chain is all that can be checked
    assert [str(p) for p in verify(path, KEY).problems] == [
        "manifest.seal: HMAC mismatch: not sealed with this key — the manifest may have been forged"]
    write_evidence(path, HEADER, forged)  # re-sealed without any key
    assert [p.what for p in verify(path, KEY).problems] == ["sealed without a key: who sealed it cannot be checked"]


@pytest.mark.parametrize("keep", [0.5, 0.98, -1])
def test_a_truncated_archive_is_unreadable(tmp_path: Path, sealed: bytes, keep: float) -> None:
    cut = sealed[: int(len(sealed) * keep)] if keep > 0 else sealed[:-1]
    (problem,) = check(tmp_path, cut).problems
    assert problem.where == "archive" and problem.what.startswith("not a ZIP archive, or cut short")


@pytest.mark.parametrize(("make", "what"), [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory, not an evidence archive"),
    (lambda p: p.write_bytes(b""), "empty file (0 bytes), not an evidence archive"),
    (lambda p: p.write_text("crisis,playbook\nC-1,rappel\n"), "not a ZIP archive, or cut short (File is not a zip file)"),
])
def test_bad_input_gives_one_clear_problem(tmp_path: Path, make: object, what: str) -> None:
    path = tmp_path / "evidence.zip"
    make(path)  # type: ignore[operator]
    result = verify(path)
    assert result.problems == (Problem("archive", what),) and not result.ok


def test_a_compressed_entry_with_a_bad_crc_is_reported_changed(tmp_path: Path, sealed: bytes) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sealed)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    repacked = out.getvalue()
    assert check(tmp_path, repacked).ok  # re-packed compressed, the evidence itself unchanged
    start, end = span(repacked, "report/post-mortem.html")
    problems = check(tmp_path, flipped(repacked, (start + end) // 2)).problems
    assert [p.entry for p in problems] == ["report/post-mortem.html"] and "changed" in problems[0].what


@pytest.mark.parametrize(("name", "why"), [
    ("", "empty name"),
    ("/etc/passwd", "absolute path"),
    ("C:/report.html", "absolute path"),
    ("packs\\9f3e.json", "backslash in name"),
    ("../outside.json", "'..' path component"),
    ("packs//9f3e.json", "empty, '.' or '..' path component"),
    ("packs/", "empty, '.' or '..' path component"),
    ("report/\x1b[2Jpost-mortem.html", "control or invisible character"),
    ("manifest.jsonl", "reserved for the manifest"),
])
def test_writing_refuses_an_unsafe_name(tmp_path: Path, name: str, why: str) -> None:
    with pytest.raises(EvidenceError, match=why):
        write_evidence(tmp_path / "evidence.zip", HEADER, [*ENTRIES, Entry(name=name, kind="report", data=b"x")])
    assert list(tmp_path.iterdir()) == []


def test_writing_reports_every_problem_at_once_and_keeps_the_old_archive(tmp_path: Path) -> None:
    path = write_evidence(tmp_path / "evidence.zip", HEADER, ENTRIES)
    before = path.read_bytes()
    with pytest.raises(EvidenceError) as raised:
        write_evidence(path, {**HEADER, "seq": 3, "owner": object()}, [*ENTRIES, ENTRIES[0]], key=b"")
    assert str(raised.value).splitlines()[1:] == [
        "  entry 'timeline.json': given 2 times",
        "  header key 'seq' is the manifest's own",
        "  header 'owner': object values cannot be written as JSON",
        "  the signing key is empty",
    ]
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("where", ["directory", "missing folder"])
def test_writing_refuses_a_destination_that_cannot_be_a_file(tmp_path: Path, where: str) -> None:
    path = tmp_path if where == "directory" else tmp_path / "absent" / "evidence.zip"
    with pytest.raises(EvidenceError, match=r"is a directory|does not exist"):
        write_evidence(path, HEADER, ENTRIES)


def test_printed_lines_name_each_problem_without_raw_control_characters(tmp_path: Path, sealed: bytes) -> None:
    result = check(tmp_path, rebuilt(sealed, add={"x\x1b[31m.json": b""}))
    assert result.lines() == [f"{tmp_path / 'evidence.zip'}: 1 problem(s) found",
                              "  entry 'x\\x1b[31m.json': not in the manifest: added after it was written"]
