"""The evidence pack: one archive in which a regulator can check that nothing was changed after it was written.

Layout — a ZIP in one canonical form, so a changed byte of evidence is a changed byte of the file and `unzip` gives
back exactly the bytes that were hashed: every member STORED (never compressed), dated 1980-01-01 00:00, mode
0o644, no extra field, no data descriptor, no comment; members back to back from offset 0, in the order below, then
the central directory, then the end record, the last byte of the file:

    timeline.json, packs/<hash>.json, messages/sent.json, quality/<run>.json, playbook/<id>.yaml,
    report/post-mortem.html, …      the evidence, each member exactly the bytes given, in the order given
    manifest.jsonl                  one JSON record a line, canonical (sorted keys, no spaces, UTF-8):
        record 0        {"record": "header", "format": "crisiscomms-evidence/1", crisis, playbook, version,
                         git revision, playbook_sha256, generated_at … whatever the header holds}
        records 1…n     {"record": "entry", "name", "kind", "size", "sha256"}, one per member above
        record n+1      {"record": "end", "entries": n}
      every record also holds `seq` (its number) and `prev`: the SHA-256 of the previous line's bytes (without
      its newline; for record 0, 64 zeros). The records form a chain: change one and the next no longer links to it.
    manifest.seal                   {"sha256": SHA-256 of the last line, "hmac_sha256": HMAC-SHA256 of that hex
                                     digest with the project's signing key, or null when sealed without a key}

What `crisis review verify ARCHIVE` (this module's `verify`) checks:
0. the file is that canonical ZIP, byte for byte: its members (names and stored bytes, as the central directory
   lists them) are written again with the writer's own code and compared with the file. The first difference is
   named: which member's local header (and which field) or data, which member's central directory record, the end
   record, bytes put before or after the archive. A changed method, size, name or attribute, a comment, a script
   in front: `unzip` might then not give back (or not only) the sealed bytes. Nothing is ever decompressed — a
   compressed member, or one declaring more bytes than the whole file, is refused unread — and a file over 2 GiB
   is not read at all: memory stays bounded by the file's size;
1. every member's bytes hash to what the manifest recorded (content changed), every entry of the manifest is in
   the archive (missing), every member is in the manifest (added), and each member's ZIP CRC-32 still matches;
2. each record links to the one before it (a record changed, removed or reordered breaks the chain there: the
   problem names the record and the entry it describes);
3. the seal's hash is that of the last line (the closing record or the seal changed, or the manifest was cut);
4. given the key, the HMAC. Anyone can change an entry, re-hash it and re-chain a consistent manifest; only the
   holder of the key can seal it. Without a key only 0–3 are checked, and the report says so.
Steps 1–3 need nothing but `unzip` and `sha256sum`: a regulator can redo them without this code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
import struct
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from crisiscomms.errors import CrisisError, printable
from crisiscomms.review.model import Model

FORMAT = "crisiscomms-evidence/1"
MANIFEST = "manifest.jsonl"
SEAL = "manifest.seal"
GENESIS = "0" * 64
_RESERVED_KEYS = frozenset({"record", "format", "seq", "prev"})
_LABELS = {"header": "header", "end": "closing record"}
_MAX_BYTES = 2 << 30  # larger archives are neither written nor read (and need no ZIP64)
# The three ZIP records, as zipfile packs them, and their fields (width, name), in order: which one changed.
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5HLL")
_END = struct.Struct("<4s4H2LH")
_LOCAL_SIG, _CENTRAL_SIG, _END_SIG = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
_VERSION, _UNIX, _UTF8_NAME = 20, 3, 0x800  # version 2.0 (what zipfile writes); made on Unix; name is UTF-8
_TIME, _DATE = 0, 1 << 5 | 1  # 1980-01-01 00:00: the same evidence always gives the same archive, byte for byte
_MODE = 0o644  # extracted files readable, as the evidence is meant to be
_COMMON = ((2, "version needed"), (2, "flags"), (2, "compression method"), (2, "time"), (2, "date"),
           (4, "CRC-32"), (4, "compressed size"), (4, "size"), (2, "name length"), (2, "extra field length"))
_FIELDS = {
    "local": ((4, "signature"), *_COMMON),
    "central": ((4, "signature"), (2, "version made by"), *_COMMON, (2, "comment length"), (2, "disk number"),
                (2, "internal attributes"), (4, "external attributes"), (4, "local header offset")),
    "end": ((4, "signature"), (2, "disk number"), (2, "directory disk"), (2, "entries on this disk"),
            (2, "entries"), (4, "directory size"), (4, "directory offset"), (2, "comment length")),
}
_PARTS = {"local": "its local ZIP header", "data": "its data", "central": "its central directory record"}


class EvidenceError(CrisisError):
    """An evidence archive cannot be written: bad entry names, header or destination (the message lists each)."""


class Entry(Model):
    name: str  # a relative POSIX path inside the archive: `timeline.json`, `packs/<hash>.json` …
    data: bytes
    kind: str  # timeline, pack, message, quality, playbook, report, lessons …


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an archive: where (the entry, the manifest record or line, the seal) and what."""

    where: str
    what: str
    entry: str | None = None  # the entry concerned, when one is
    record: int | None = None  # the manifest record (= line - 1) concerned, when one is

    def __str__(self) -> str:
        return printable(f"{self.where}: {self.what}")  # member names come from the archive: never raw


@dataclass(frozen=True)
class Verification:
    path: Path
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()
    entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        head = (f"{self.path}: intact — {self.entries} entries, their hashes, the chain and the seal check out"
                if self.ok else f"{self.path}: {len(self.problems)} problem(s) found")
        return [printable(head), *(f"  {p}" for p in self.problems), *(f"  note: {n}" for n in self.notes)]


def write_evidence(path: Path, header: dict[str, Any], entries: Iterable[Entry], key: bytes | None = None) -> Path:
    """Write the archive at `path` atomically (a temporary file beside it, then a rename); return `path`."""
    entries = list(entries)
    _check(path, header, entries, key)
    lines = _manifest(header, entries)
    members = [(e.name.encode(), e.data) for e in entries]
    members += [(MANIFEST.encode(), b"".join(line + b"\n" for line in lines)),
                (SEAL.encode(), _seal(_sha(lines[-1]), key))]
    size = sum(_LOCAL.size + _CENTRAL.size + 2 * len(name) + len(data) for name, data in members) + _END.size
    if size > _MAX_BYTES or len(members) > 0xFFFF:
        raise EvidenceError(f"evidence archive {path} not written: {len(members):,} members, {size:,} bytes — more "
                            "than an archive may hold (65,535 members, 2 GiB)")
    try:
        _write_atomically(path, [(name, zlib.crc32(data), data) for name, data in members])
    except OSError as error:
        raise EvidenceError(f"cannot write {path}: {error.strerror or error}") from error
    return path


def _check(path: Path, header: dict[str, Any], entries: list[Entry], key: bytes | None) -> None:
    """Every reason the archive cannot be written, all at once."""
    problems = [f"entry {printable(repr(e.name))}: {why}" for e in entries if (why := _unsafe(e.name))]
    problems += [f"entry {printable(repr(n))}: given {k} times" for n, k in Counter(e.name for e in entries).items()
                 if k > 1]
    problems += [f"entry {printable(repr(e.name))}: empty kind" for e in entries if not e.kind.strip()]
    problems += [f"header key '{k}' is the manifest's own" for k in sorted(_RESERVED_KEYS & header.keys())]
    for name, value in header.items():
        try:
            _line({name: value})
        except (TypeError, ValueError) as error:
            problems.append(f"header '{name}': {error}")
    if key is not None and not key:
        problems.append("the signing key is empty")
    if path.is_dir():
        problems.append(f"{path} is a directory, not an archive file")
    elif not path.parent.is_dir():
        problems.append(f"folder {path.parent} does not exist")
    if problems:
        raise EvidenceError(f"evidence archive {path} not written:\n" + "\n".join(f"  {p}" for p in problems))


def _unsafe(name: str) -> str | None:
    """Why `name` cannot be a member: extracted anywhere, on any system, it must land inside the target folder."""
    if not name:
        return "empty name"
    if "\\" in name:
        return "backslash in name (folders are separated by /)"
    if name.startswith("/") or name[1:2] == ":":
        return "absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "empty, '.' or '..' path component"
    if printable(name) != name:
        return "control or invisible character in name"
    return "reserved for the manifest" if name in (MANIFEST, SEAL) else None


def _manifest(header: dict[str, Any], entries: list[Entry]) -> list[bytes]:
    records: list[dict[str, Any]] = [{**header, "record": "header", "format": FORMAT}]
    records += [{"record": "entry", "name": e.name, "kind": e.kind, "size": len(e.data), "sha256": _sha(e.data)}
                for e in entries]
    records.append({"record": "end", "entries": len(entries)})
    lines: list[bytes] = []
    for seq, record in enumerate(records):
        lines.append(_line({**record, "seq": seq, "prev": _sha(lines[-1]) if lines else GENESIS}))
    return lines


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_jsonable).encode()


def _jsonable(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} values cannot be written as JSON")


def _seal(digest: str, key: bytes | None) -> bytes:
    return _line({"sha256": digest, "hmac_sha256": _hmac(key, digest) if key is not None else None}) + b"\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()


def _zip(members: Sequence[tuple[bytes, int, bytes | memoryview]]) -> Iterator[tuple[str, int, bytes | memoryview]]:
    """The archive's bytes, piece by piece — (part, member number, bytes) — from each member's name, CRC-32 and
    data: what zipfile writes for these members on Unix. `verify` writes them again with this to compare."""
    offsets, at = [], 0
    for number, (name, crc, data) in enumerate(members):
        flags = 0 if name.isascii() else _UTF8_NAME
        offsets.append(at)
        yield "local", number, _LOCAL.pack(_LOCAL_SIG, _VERSION, 0, flags, 0, _TIME, _DATE, crc, len(data),
                                           len(data), len(name), 0) + name
        yield "data", number, data
        at += _LOCAL.size + len(name) + len(data)
    start = at
    for number, ((name, crc, data), offset) in enumerate(zip(members, offsets, strict=True)):
        flags = 0 if name.isascii() else _UTF8_NAME
        yield "central", number, _CENTRAL.pack(_CENTRAL_SIG, _VERSION, _UNIX, _VERSION, 0, flags, 0, _TIME, _DATE,
                                               crc, len(data), len(data), len(name), 0, 0, 0, 0, _MODE << 16,
                                               offset) + name
        at += _CENTRAL.size + len(name)
    yield "end", 0, _END.pack(_END_SIG, 0, 0, len(members), len(members), at - start, start, 0)


def _write_atomically(path: Path, members: list[tuple[bytes, int, bytes]]) -> None:
    """A reader sees the old archive or the whole new one, never half of it (a crash mid-write leaves a .tmp)."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            for _, _, chunk in _zip(members):
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class _Unreadable(Exception):
    """The file is no archive at all; the message says why, for a person."""


@dataclass(frozen=True)
class _Member:
    content: bytes | memoryview | None  # None: the bytes cannot be found, or are refused
    damage: str = ""  # why the ZIP's own bookkeeping (CRC-32, headers) disagrees with the bytes, or why refused


@dataclass(frozen=True)
class _Stored:
    """A member as the central directory lists it, with the bytes found where its local header puts them."""

    raw: bytes  # its name, as stored
    crc: int
    data: memoryview  # `size` bytes (or fewer: the file ends) after its local header and name
    member: _Member

    @property
    def name(self) -> str:
        return self.raw.decode(errors="replace")


@dataclass(frozen=True)
class _Line:
    seq: int  # its place in the manifest: the number its record should carry
    digest: str  # SHA-256 of its bytes, as stored
    record: dict[str, Any] | None  # None: unreadable

    def get(self, key: str) -> Any:
        return self.record.get(key) if self.record is not None else None

    @property
    def entry(self) -> str | None:
        name = self.get("name")
        return name if self.get("record") == "entry" and isinstance(name, str) else None

    def where(self) -> str:
        what = f"entry '{self.entry}'" if self.entry else _LABELS.get(str(self.get("record")), "")
        return f"manifest record {self.seq}" + (f" ({what})" if what else "")


def verify(path: Path, key: bytes | None = None) -> Verification:
    """Every problem with the archive at `path`. A missing, empty, cut or hostile file is a problem, not an error."""
    try:
        data = _read(path)
        base, stored = _layout(data)
    except _Unreadable as error:
        return Verification(path, (Problem("archive", str(error)),))
    members = {s.name: s.member for s in stored}
    problems = [Problem(f"entry '{name}'", f"{n} members of that name: copies were added", name)
                for name, n in Counter(s.name for s in stored).items() if n > 1]
    problems += _structure(data, base, stored)
    manifest = members.get(MANIFEST)
    if manifest is None or manifest.content is None:
        why = f" ({manifest.damage})" if manifest is not None else ""
        return Verification(path, (*problems, Problem(MANIFEST, f"missing or unreadable: nothing can be checked{why}")))
    lines, found = _parse(bytes(manifest.content))
    found += _chain(lines)
    if manifest.damage and not found:
        found.append(Problem(MANIFEST, f"changed: {manifest.damage}"))
    sealed, notes = _check_seal(members.get(SEAL), lines[-1], key)
    problems += found + _check_entries(lines, members) + sealed
    return Verification(path, tuple(problems), tuple(notes), sum(1 for line in lines if line.entry))


def _read(path: Path) -> bytes:
    """The whole file, unless it is larger than any evidence archive: memory is bounded by the file's size."""
    try:
        if path.is_dir():
            raise _Unreadable("is a directory, not an evidence archive")
        if path.exists() and not path.is_file():  # a device or a pipe: endless, or never ending
            raise _Unreadable("not a regular file, not an evidence archive")
        with path.open("rb") as file:
            if (size := os.fstat(file.fileno()).st_size) > _MAX_BYTES:
                raise _Unreadable(f"{size:,} bytes, larger than an evidence archive may be (2 GiB): not read")
            data = file.read(size + 1)  # read(n) reserves n bytes: never more than the file
    except FileNotFoundError:
        raise _Unreadable("no such file") from None
    except OSError as error:
        raise _Unreadable(f"cannot be read: {error.strerror or error}") from None
    if len(data) > size:
        raise _Unreadable("grew while it was read: still being written?")
    if not data:
        raise _Unreadable("empty file (0 bytes), not an evidence archive")
    return data


def _layout(data: bytes) -> tuple[int, list[_Stored]]:
    """Where the archive starts in the file (0, or after bytes put in front) and its members, in the order the
    central directory lists them. Nothing here trusts a field that the comparison with the written form does not
    check: a damaged field makes a difference there, never an exception."""
    end, directory, base = _find_directory(data)
    stored, at, expected = [], directory, base
    while at + _CENTRAL.size <= end:
        fields = _CENTRAL.unpack_from(data, at)
        method, (crc, size, full, named, extra, comment), offset = fields[6], fields[9:15], fields[18]
        raw = data[at + _CENTRAL.size : at + _CENTRAL.size + named]
        # Its local header: where the one before it ends, else where the directory says (a changed offset or size
        # then shows as a difference, not as every later member changed)
        start = next((p for p in (expected, base + offset) if data.startswith(_LOCAL_SIG, p)), None)
        begin = (base + offset if start is None else start) + _LOCAL.size + len(raw)
        content = memoryview(data)[begin : begin + size]
        stored.append(_Stored(raw, crc, content, _member(content, len(data), start is not None, method, crc, size,
                                                        full)))
        expected = begin + size
        # The next record: after this one's extra field and comment, or, when those lengths were changed, right
        # after its name, where the written form puts it
        at = after = at + _CENTRAL.size + named
        if not data.startswith(_CENTRAL_SIG, after) or data.startswith(_CENTRAL_SIG, after + extra + comment):
            at += extra + comment
    return base, stored


def _find_directory(data: bytes) -> tuple[int, int, int]:
    """The end record's offset, the central directory's and where the archive starts: the end record is the last
    22 bytes, or else the last of the signatures (a comment or bytes after it) from which a directory is found."""
    candidates, at = [len(data) - _END.size], len(data)
    while len(candidates) < 16 and (at := data.rfind(_END_SIG, 0, at)) >= 0:
        candidates.append(at)
    for end in (at for at in candidates if 0 <= at <= len(data) - _END.size):
        *_, size, offset, _ = _END.unpack_from(data, end)
        for directory in (offset, end - size):  # as recorded; as found, when bytes were put in front
            if 0 <= directory < end and data.startswith(_CENTRAL_SIG, directory):
                base = directory - offset
                return end, directory, base if base > 0 and data.startswith(_LOCAL_SIG, base) else 0
        if data.startswith(_END_SIG, end) and 0 <= offset == end - size < end:  # a whole end record: trust it
            return end, offset, 0
    raise _Unreadable(f"not a ZIP archive, or cut short (no ZIP central directory in its {len(data):,} bytes)")


def _member(content: memoryview, total: int, found: bool, method: int, crc: int, size: int, full: int) -> _Member:
    """A member's bytes, unless refused: never decompressed, never more than the file itself."""
    if full > total:
        return _Member(None, f"declares {full:,} bytes uncompressed, more than the whole file: not read")
    if method:
        return _Member(None, f"compressed (method {method}), not stored as written: not decompressed, not checked")
    if not found:
        return _Member(None, "its ZIP header is damaged")
    if len(content) != size:
        return _Member(None, "its bytes are cut short")
    return _Member(content, "" if zlib.crc32(content) == crc else "its bytes no longer match their ZIP CRC-32")


def _structure(data: bytes, base: int, stored: list[_Stored]) -> list[Problem]:
    """The file against the archive written again from its members: the first difference, and any bytes around."""
    problems, view, at = [], memoryview(data), base
    if base:
        problems.append(Problem("ZIP archive", f"{base:,} bytes before the first member (offsets 0 to {base - 1:,}): "
                                "not part of the archive as written — a script or other data put in front"))
    for part, number, chunk in _zip([(s.raw, s.crc, s.data) for s in stored]):
        if view[at : at + len(chunk)] != chunk:
            return [*problems, _difference(data, at, part, stored[number].name if part != "end" else None, chunk)]
        at += len(chunk)
    if at < len(data):
        problems.append(Problem("ZIP archive", f"{len(data) - at:,} bytes after the end record (from offset {at:,}): "
                                "not part of the archive as written"))
    return problems


def _difference(data: bytes, at: int, part: str, name: str | None, chunk: bytes | memoryview) -> Problem:
    """The first byte where the file differs from `chunk` (written at `at`), named: whose part, which field."""
    found = memoryview(data)[at : at + len(chunk)]
    block = next(j for j in range(0, len(chunk), 1 << 16) if found[j : j + (1 << 16)] != chunk[j : j + (1 << 16)])
    first = next((j for j in range(block, len(chunk)) if j >= len(found) or found[j] != chunk[j]), len(chunk))
    where, what = (f"entry '{name}'", f"{_PARTS[part]} is not as written") if name else ("ZIP end record",
                                                                                      "not as written")
    if at + first >= len(data):
        return Problem(where, f"{what}: the file ends at offset {len(data):,}, inside it", name)
    if part == "data":
        return Problem(where, f"{what}: offset {at + first:,} differs (not where its header puts it)", name)
    start, field, width = 0, "name", len(chunk)
    for size, label in _FIELDS[part]:
        if first < start + size:
            field, width = label, size
            break
        start += size
    was, expected = (_value(field, bytes(side[start : start + width])) for side in (found, chunk))
    text = data[at + _END.size : at + _END.size + 80].decode(errors="replace") if part == "end" else ""
    comment = f" — an archive comment, which `unzip -l` prints first: {text!r}" if field == "comment length" and \
        text else ""
    return Problem(where, f"{what}: {field} at offset {at + start:,} is {was}, expected {expected}{comment}", name)


def _value(field: str, raw: bytes) -> str:
    if field == "name":
        return repr(raw.decode(errors="replace"))
    number = int.from_bytes(raw, "little")
    if field == "external attributes":
        kind = " (a symbolic link)" if stat.S_ISLNK(number >> 16) else ""
        return f"Unix mode {number >> 16:#o}{kind}" + (f", DOS attributes {number & 0xFFFF:#06x}" if number & 0xFFFF
                                                        else "")
    hexadecimal = field in ("signature", "CRC-32", "flags", "version made by")
    return f"{number:#0{2 * len(raw) + 2}x}" if hexadecimal else f"{number:,}"


def _json(raw: bytes) -> tuple[Any, str]:
    try:
        return json.loads(raw.decode()), ""
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except (ValueError, RecursionError) as error:
        return None, f"not JSON ({error})"


def _parse(content: bytes) -> tuple[list[_Line], list[Problem]]:
    problems = [] if content.endswith(b"\n") else [Problem(MANIFEST, "does not end with a newline: cut or changed")]
    lines = []
    for seq, raw in enumerate(content.removesuffix(b"\n").split(b"\n")):
        record, why = _json(raw)
        if not why and not (isinstance(record, dict) and type(record.get("seq")) is int
                            and isinstance(record.get("prev"), str)):
            why = "not a manifest record (no seq or prev)"
        if why:
            problems.append(Problem(f"{MANIFEST} line {seq + 1}", f"unreadable: {why}", record=seq))
        lines.append(_Line(seq, _sha(raw), None if why else record))
    return lines, problems


def _chain(lines: list[_Line]) -> list[Problem]:
    """Each record must link to the line before it and sit at its number; the last must close the manifest."""
    problems, readable = [], [line for line in lines if line.record is not None]
    for line in readable:
        before = lines[line.seq - 1] if line.seq else None
        if before is None and line.get("prev") != GENESIS:
            problems.append(Problem(line.where(), "changed: it no longer starts the chain", line.entry, line.seq))
        elif before is not None and before.record is not None and line.get("prev") != before.digest:
            problems.append(Problem(before.where(), f"changed after it was written: record {line.seq} no longer "
                                    "links to it (or that link was changed)", before.entry, before.seq))
    # Only the first record out of place: every record after a removed or merged line is out of place too.
    misplaced = next((line for line in readable if line.get("seq") != line.seq), None)
    if misplaced is not None:
        problems.append(Problem(misplaced.where(), f"numbered {misplaced.get('seq')}: records reordered, removed or "
                                "added from here on", misplaced.entry, misplaced.seq))
    last, listed = lines[-1], sum(1 for line in lines if line.entry)
    if last.record is not None and last.get("record") != "end":
        problems.append(Problem(MANIFEST, "no closing record: cut short", record=last.seq))
    elif len(readable) == len(lines) and last.get("entries") != listed:
        problems.append(Problem(last.where(), f"counts {last.get('entries')} entries, the manifest lists {listed}",
                                record=last.seq))
    return problems


def _check_entries(lines: list[_Line], members: dict[str, _Member]) -> list[Problem]:
    listed = {line.entry: line for line in lines if line.entry is not None}
    problems = []
    for name, line in listed.items():
        member, where = members.get(name), f"entry '{name}'"
        if member is None:
            problems.append(Problem(where, "missing from the archive", name, line.seq))
        elif member.content is None:
            problems.append(Problem(where, f"changed: {member.damage}", name, line.seq))
        elif (digest := _sha(member.content)) != line.get("sha256") or len(member.content) != line.get("size"):
            problems.append(Problem(where, f"content changed: its SHA-256 is {digest}, the manifest recorded "
                                    f"{line.get('sha256')}", name, line.seq))
        elif member.damage:
            problems.append(Problem(where, f"changed: {member.damage}", name, line.seq))
    whole = all(line.record for line in lines) and lines[-1].get("record") == "end"
    why = "not in the manifest: added after it was written" if whole else "not in what is left of the manifest"
    extra = sorted(members.keys() - listed.keys() - {MANIFEST, SEAL})
    refused = {name: f" ({members[name].damage})" for name in extra if members[name].content is None}
    return problems + [Problem(f"entry '{name}'", why + refused.get(name, ""), name) for name in extra]


def _check_seal(member: _Member | None, last: _Line, key: bytes | None) -> tuple[list[Problem], list[str]]:
    if member is None or member.content is None:
        seal, why = None, member.damage if member is not None else "missing"
    else:
        seal, why = _json(bytes(member.content))
    if why or not isinstance(seal, dict) or not isinstance(seal.get("sha256"), str):
        return [Problem(SEAL, f"unreadable: {why or 'no sha256'} — the manifest's end cannot be checked")], []
    problems, notes, given = [], [], seal.get("hmac_sha256")
    if seal["sha256"] != last.digest:
        problems.append(Problem(SEAL, f"does not match the last manifest line, {last.where()}: the seal or that "
                                "record was changed, or the manifest was cut", last.entry, last.seq))
    if key is None:
        notes.append("no key given: only the hashes and the chain were checked, not who sealed them"
                     + ("" if given else " (the archive was sealed without a key)"))
    elif not isinstance(given, str):
        problems.append(Problem(SEAL, "sealed without a key: who sealed it cannot be checked"))
    elif not hmac.compare_digest(given.encode(), _hmac(key, last.digest).encode()):
        problems.append(Problem(SEAL, "HMAC mismatch: not sealed with this key — the manifest may have been forged"))
    if member is not None and member.damage and not problems:
        problems.append(Problem(SEAL, f"changed: {member.damage}"))
    return problems, notes
