"""The evidence pack: one archive in which a regulator can check that nothing was changed after it was written.

Layout — a ZIP whose members are all STORED (not compressed), so a changed byte of evidence is a changed byte of
the file, and `unzip` gives back exactly the bytes that were hashed:

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
1. every member's bytes hash to what the manifest recorded (content changed), every entry of the manifest is in
   the archive (missing), every member is in the manifest (added), and each member's ZIP CRC-32 still matches;
2. each record links to the one before it (a record changed, removed or reordered breaks the chain there: the
   problem names the record and the entry it describes);
3. the seal's hash is that of the last line (the closing record or the seal changed, or the manifest was cut);
4. given the key, the HMAC. Anyone can change an entry, re-hash it and re-chain a consistent manifest; only the
   holder of the key can seal it. Without a key only 1–3 are checked, and the report says so.
Steps 1–3 need nothing but `unzip` and `sha256sum`: a regulator can redo them without this code.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import struct
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable
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
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zipfile's structFileHeader: the 30 bytes before a member's name
_WHEN = (1980, 1, 1, 0, 0, 0)  # fixed member dates: the same evidence always gives the same archive, byte for byte
_LABELS = {"header": "header", "end": "closing record"}
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, RuntimeError, struct.error)


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
    members = [(e.name, e.data) for e in entries]
    members += [(MANIFEST, b"".join(line + b"\n" for line in lines)), (SEAL, _seal(_sha(lines[-1]), key))]
    try:
        _write_atomically(path, members)
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


def _write_atomically(path: Path, members: list[tuple[str, bytes]]) -> None:
    """A reader sees the old archive or the whole new one, never half of it (a crash mid-write leaves a .tmp)."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
                for name, data in members:
                    info = zipfile.ZipInfo(name, _WHEN)
                    info.external_attr = 0o644 << 16  # extracted files readable, as the evidence is meant to be
                    archive.writestr(info, data)
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
    content: bytes | None  # None: the bytes cannot be found or decompressed
    damage: str = ""  # why the ZIP's own bookkeeping (CRC-32, headers) disagrees with the bytes


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
        members, problems = _members(_read(path))
    except _Unreadable as error:
        return Verification(path, (Problem("archive", str(error)),))
    manifest = members.get(MANIFEST)
    if manifest is None or manifest.content is None:
        return Verification(path, (*problems, Problem(MANIFEST, "missing or unreadable: nothing can be checked")))
    lines, found = _parse(manifest.content)
    found += _chain(lines)
    if manifest.damage and not found:
        found.append(Problem(MANIFEST, f"changed: {manifest.damage}"))
    sealed, notes = _check_seal(members.get(SEAL), lines[-1], key)
    problems += found + _check_entries(lines, members) + sealed
    return Verification(path, tuple(problems), tuple(notes), sum(1 for line in lines if line.entry))


def _read(path: Path) -> bytes:
    try:
        if path.is_dir():
            raise _Unreadable("is a directory, not an evidence archive")
        data = path.read_bytes()
    except FileNotFoundError:
        raise _Unreadable("no such file") from None
    except OSError as error:
        raise _Unreadable(f"cannot be read: {error.strerror or error}") from None
    if not data:
        raise _Unreadable("empty file (0 bytes), not an evidence archive")
    return data


def _members(data: bytes) -> tuple[dict[str, _Member], list[Problem]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            members = {info.filename: _member(archive, data, info) for info in infos}
    except (*_ZIP_ERRORS, OSError) as error:
        raise _Unreadable(f"not a ZIP archive, or cut short ({error})") from None
    counts = Counter(info.filename for info in infos)
    return members, [Problem(f"entry '{name}'", f"{n} members of that name: copies were added", name)
                     for name, n in counts.items() if n > 1]


def _member(archive: zipfile.ZipFile, data: bytes, info: zipfile.ZipInfo) -> _Member:
    """A member's bytes, read past a CRC mismatch when stored: the manifest then says which entry changed."""
    if info.compress_type != zipfile.ZIP_STORED:  # re-packed compressed: zipfile checks the CRC as it inflates
        try:
            return _Member(archive.read(info))
        except _ZIP_ERRORS as error:
            return _Member(None, f"cannot be read ({error})")
    start = info.header_offset
    fields = _LOCAL_HEADER.unpack_from(data, start) if 0 <= start <= len(data) - _LOCAL_HEADER.size else None
    if fields is None or fields[0] != b"PK\x03\x04":
        return _Member(None, "its ZIP header is damaged")
    begin = start + _LOCAL_HEADER.size + fields[10] + fields[11]
    content = data[begin : begin + info.compress_size]
    if len(content) != info.compress_size:
        return _Member(None, "its bytes are cut short")
    return _Member(content, "" if zlib.crc32(content) == info.CRC else "its bytes no longer match their ZIP CRC-32")


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
    return problems + [Problem(f"entry '{name}'", why, name) for name in extra]


def _check_seal(member: _Member | None, last: _Line, key: bytes | None) -> tuple[list[Problem], list[str]]:
    if member is None or member.content is None:
        seal, why = None, member.damage if member is not None else "missing"
    else:
        seal, why = _json(member.content)
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
