"""The evidence pack: a freshly written archive verifies; any changed byte of evidence, of the manifest or of the
seal, any entry removed or added, any record moved, any forged re-seal without the key is found and named — and so
is any changed byte of the ZIP around them (headers, directory, end record), any byte put before or after it, any
compressed member: the archive must be, byte for byte, what the writer writes. Nothing is ever decompressed."""

from __future__ import annotations

import io
import json
import os
import struct
import tracemalloc
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crisiscomms.review import evidence
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


def patched(archive: bytes, offset: int, value: bytes) -> bytes:
    return archive[:offset] + value + archive[offset + len(value) :]


def central(archive: bytes, name: str) -> int:
    """Where a member's central directory record starts (the end record, the last 22 bytes, says where they do)."""
    at = struct.unpack_from("<L", archive, len(archive) - 6)[0]
    while archive[at + 46 : at + 46 + struct.unpack_from("<H", archive, at + 28)[0]] != name.encode():
        at += 46 + struct.unpack_from("<H", archive, at + 28)[0]
    return at


def parts(archive: bytes) -> dict[int, tuple[str, str]]:
    """Each byte's part of the archive: (member, "local" header | "data" | "central" record) or ("", "end")."""
    owner: dict[int, tuple[str, str]] = {}
    for info in zipfile.ZipFile(io.BytesIO(archive)).infolist():
        start, end = span(archive, info.filename)
        owner |= {at: (info.filename, "local") for at in range(info.header_offset, start)}
        owner |= {at: (info.filename, "data") for at in range(start, end)}
        record = central(archive, info.filename)
        owner |= {at: (info.filename, "central") for at in range(record, record + 46 + len(info.filename))}
    return owner | {at: ("", "end") for at in range(len(archive) - 22, len(archive))}


def manifest_offset(archive: bytes, record: int, after: bytes) -> int:
    """The offset in the archive of the byte just after `after` in manifest record `record` (a line of the manifest)."""
    start, end = span(archive, MANIFEST)
    line_start = start + sum(len(line) + 1 for line in archive[start:end].split(b"\n")[:record])
    return archive.index(after, line_start) + len(after)


def check(tmp_path: Path, archive: bytes, key: bytes | None = KEY) -> Verification:
    path = tmp_path / "evidence.zip"
    path.write_bytes(archive)
    return verify(path, key)


def each_flip(tmp_path: Path, archive: bytes, offsets: Iterable[int],
              mask: int = 0x01) -> Iterator[tuple[int, Verification]]:
    """Verify (without key) the archive with each offset's byte changed in turn (XOR `mask`), in place: re-writing
    the whole file each time would dominate the test's run time."""
    path = tmp_path / "evidence.zip"
    path.write_bytes(archive)
    with path.open("r+b", buffering=0) as file:
        for offset in offsets:
            file.seek(offset)
            file.write(bytes([archive[offset] ^ mask]))
            yield offset, verify(path)
            file.seek(offset)
            file.write(archive[offset : offset + 1])


def rebuilt(archive: bytes, drop: str = "", add: dict[str, bytes] | None = None,
            replace: dict[str, bytes] | None = None, method: int = zipfile.ZIP_STORED) -> bytes:
    """The archive re-written by zipfile with a member dropped, members replaced, members added (`method`): in the
    writer's own form, as long as they are stored."""
    out, replace = io.BytesIO(), replace or {}
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename != drop:
                target.writestr(info, replace.get(info.filename, source.read(info)))
        for name, data in (add or {}).items():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr, info.compress_type = 0o644 << 16, method
            target.writestr(info, data)
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
    assert rebuilt(sealed) == sealed  # the very bytes zipfile writes for stored, dated, 0o644 members


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
        f"entry 'timeline.json': its local ZIP header is not as written: CRC-32 at offset 14 is {info.CRC:#010x}, "
        f"expected {info.CRC ^ 1:#010x}",  # the directory's CRC-32 is written again: the local header's differs
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


@pytest.mark.parametrize("mask", [0x01, 0xFF])
def test_every_changed_byte_of_the_archive_is_found_and_placed(tmp_path: Path, sealed: bytes, mask: int) -> None:
    """Each byte of the file, in turn: evidence, manifest, seal, and every byte of ZIP structure around them."""
    owner, missed, unplaced = parts(sealed), [], []
    assert sorted(owner) == list(range(len(sealed)))  # every byte belongs to a part: no gap, nothing around
    for offset, result in each_flip(tmp_path, sealed, range(len(sealed)), mask):
        name, part = owner[offset]
        entries, wheres = {p.entry for p in result.problems}, {p.where for p in result.problems}
        if result.ok:
            missed.append(offset)
        elif not ((part == "end" and "ZIP end record" in wheres)
                  or (part == "data" and name == MANIFEST and any(w.startswith("manifest") for w in wheres))
                  or (part == "data" and name == SEAL and SEAL in wheres)
                  or (part in ("local", "data") and name in entries)
                  or (part == "central" and (name in entries or (offset >= central(sealed, name) + 28 and entries)))):
            unplaced.append((offset, part, name, result.lines()[1:]))  # a changed name (length): an entry named
    assert missed == [], f"{len(missed)} changes not found, at {missed}"
    assert unplaced == []


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
    (lambda p: p.write_text("crisis,playbook\nC-1,rappel\n"),
     "not a ZIP archive, or cut short (no ZIP central directory in its 27 bytes)"),
    (lambda p: os.mkfifo(p), "not a regular file, not an evidence archive"),  # reading it would never end
    (lambda p: os.truncate(p.touch() or p, (2 << 30) + 1),  # a sparse file: refused before any byte is read
     "2,147,483,649 bytes, larger than an evidence archive may be (2 GiB): not read"),
])
def test_bad_input_gives_one_clear_problem(tmp_path: Path, make: object, what: str) -> None:
    path = tmp_path / "evidence.zip"
    make(path)  # type: ignore[operator]
    result = verify(path)
    assert result.problems == (Problem("archive", what),) and not result.ok


def test_a_compressed_archive_is_refused_not_decompressed(tmp_path: Path, sealed: bytes) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(sealed)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))  # the same evidence, re-packed compressed
    assert [str(p) for p in check(tmp_path, out.getvalue()).problems] == [
        "entry 'timeline.json': its local ZIP header is not as written: compression method at offset 8 is 8, "
        "expected 0",
        "manifest.jsonl: missing or unreadable: nothing can be checked (compressed (method 8), not stored as "
        "written: not decompressed, not checked)",
    ]


def local(archive: bytes, name: str, field: int) -> int:
    return zipfile.ZipFile(io.BytesIO(archive)).getinfo(name).header_offset + field


COMMENT = b"This archive was reviewed and approved by the regulator"


@pytest.mark.parametrize(("tamper", "problem"), [
    pytest.param(lambda a: patched(a, local(a, "timeline.json", 8), b"\x08\x00"),  # unzip: an empty file
                 "entry 'timeline.json': its local ZIP header is not as written: compression method at offset 8 "
                 "is 8, expected 0", id="local method deflate"),
    pytest.param(lambda a: patched(a, local(a, "packs/9f3e.json", 18), struct.pack(
                     "<L", zipfile.ZipFile(io.BytesIO(a)).getinfo("packs/9f3e.json").compress_size + 1)),
                 "entry 'packs/9f3e.json': its local ZIP header is not as written: compressed size at offset 107 "
                 "is 56, expected 55", id="local size + 1"),
    pytest.param(lambda a: patched(a, local(a, "messages/sent.json", 30), b"massages"),
                 "entry 'messages/sent.json': its local ZIP header is not as written: name at offset 219 is "
                 "'massages/sent.json', expected 'messages/sent.json'", id="local name"),
    pytest.param(lambda a: patched(a, central(a, "report/post-mortem.html") + 38, struct.pack("<L", 0o120777 << 16)),
                 "entry 'report/post-mortem.html': its central directory record is not as written: external "
                 "attributes at offset 3,019 is Unix mode 0o120777 (a symbolic link), expected Unix mode 0o644",
                 id="symlink"),
    pytest.param(lambda a: a[:-2] + struct.pack("<H", len(COMMENT)) + COMMENT,
                 "ZIP end record: not as written: comment length at offset 3,189 is 55, expected 0 — an archive "
                 f"comment, which `unzip -l` prints first: '{COMMENT.decode()}'", id="comment"),
    pytest.param(lambda a: b"#!/bin/sh\n" + a,
                 "ZIP archive: 10 bytes before the first member (offsets 0 to 9): not part of the archive as "
                 "written — a script or other data put in front", id="prepended"),
    pytest.param(lambda a: a + bytes(1000),
                 "ZIP archive: 1,000 bytes after the end record (from offset 3,191): not part of the archive as "
                 "written", id="appended"),
    pytest.param(lambda a: patched(a, central(a, MANIFEST) + 8, b"\x08"),  # a data descriptor would follow
                 "entry 'manifest.jsonl': its central directory record is not as written: flags at offset 3,058 "
                 "is 0x0008, expected 0x0000", id="data descriptor flag"),
])
def test_a_zip_that_unzip_would_read_otherwise_is_named(tmp_path: Path, sealed: bytes, tamper: object,
                                                         problem: str) -> None:
    """Each a change to the ZIP around unchanged evidence, which zipfile still opens; unzip would extract other
    bytes (an empty file, a symbolic link), or show more (a comment that seems to vouch for it)."""
    archive = tamper(sealed)  # type: ignore[operator]
    assert len(zipfile.ZipFile(io.BytesIO(archive)).infolist()) == len(ENTRIES) + 2
    result = check(tmp_path, archive)
    assert [str(p) for p in result.problems] == [problem] and not result.ok


@pytest.mark.parametrize("declared", [4 << 20, 1 << 30])
def test_a_zip_bomb_is_refused_unread_in_bounded_memory(tmp_path: Path, sealed: bytes, declared: int) -> None:
    bomb = rebuilt(sealed, add={"bomb.bin": bytes(4 << 20)}, method=zipfile.ZIP_DEFLATED)  # 4 MiB of zeros
    info = zipfile.ZipFile(io.BytesIO(bomb)).getinfo("bomb.bin")
    assert len(bomb) < 20_000 and info.file_size == 4 << 20
    for size_at in (info.header_offset + 22, central(bomb, "bomb.bin") + 24):  # what it claims to inflate to
        bomb = patched(bomb, size_at, struct.pack("<L", declared))
    path = tmp_path / "evidence.zip"
    path.write_bytes(bomb)
    tracemalloc.start()
    try:
        result = verify(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the file is read, the member never inflated
    assert [str(p) for p in result.problems] == [
        "entry 'bomb.bin': its local ZIP header is not as written: compression method at offset "
        f"{info.header_offset + 8:,} is 8, expected 0",
        f"entry 'bomb.bin': not in the manifest: added after it was written (declares {declared:,} bytes "
        "uncompressed, more than the whole file: not read)",
    ]


def test_an_archive_too_large_is_neither_written_nor_read(tmp_path: Path, sealed: bytes,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evidence, "_MAX_BYTES", len(sealed) - 1)  # 2 GiB, in the product
    with pytest.raises(EvidenceError, match=r"8 members, 3,191 bytes — more than an archive may hold"):
        write_evidence(tmp_path / "evidence.zip", HEADER, ENTRIES, key=KEY)
    assert list(tmp_path.iterdir()) == []
    (problem,) = check(tmp_path, sealed).problems
    assert problem.what == "3,191 bytes, larger than an evidence archive may be (2 GiB): not read"


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
