"""JSONL and CSV files that may still be growing, read from a byte-offset cursor; and timed replay.

Cursor: {"offset": bytes up to the end of the last complete record, "line": its line number,
"head": hash of the file's first bytes}. A last line without its newline is still being written and is
left for the next read. The head hash tells a rotated or rewritten file from a grown one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol, TypeVar

from crisiscomms.monitoring.sources.base import (
    DEFAULT_BACKOFF,
    RAW_LIMIT,
    Batch,
    RawRecord,
    Retryable,
    SourceError,
    check_mapping,
    parse_time,
    pick,
    quarantine,
    with_retries,
)

T = TypeVar("T")

MAX_LINE_BYTES = 1_000_000  # one mention is a few KB; a 1 MB line is garbage, not a post
HEAD_BYTES = 4096  # enough of the start to tell two files apart, cheap to hash on every read
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based line number in the file
    start: int  # byte offset of the line's first byte
    end: int  # byte offset just after this line's newline
    text: str | None  # decoded, line ending removed; None when it could not be (see problem)
    problem: str
    raw: bytes  # the start of the line, for quarantine


def _read_line(stream: BinaryIO, limit: int) -> tuple[bytes, int, bool] | None:
    """(line, bytes consumed, oversized) for the next complete line; None when only a partial line remains.

    An oversized line is consumed in chunks up to its newline, so memory stays bounded whatever the file.
    """
    start = stream.tell()
    chunk = stream.readline(limit + 1)
    if chunk.endswith(b"\n"):
        return chunk, len(chunk), len(chunk) - 1 > limit
    if len(chunk) <= limit:
        stream.seek(start)  # EOF inside a line: the writer has not finished it
        return None
    consumed = len(chunk)
    while part := stream.readline(1 << 16):
        consumed += len(part)
        if part.endswith(b"\n"):
            return chunk, consumed, True
    stream.seek(start)  # an oversized line not finished yet: judge it once complete
    return None


def _lines(stream: BinaryIO, offset: int, line: int, limit: int) -> Iterator[_Line]:
    """Complete lines from `offset`, decoded one by one so one bad line cannot spoil its neighbours."""
    stream.seek(offset)
    while (read := _read_line(stream, limit)) is not None:
        data, consumed, oversized = read
        start, offset, line = offset, offset + consumed, line + 1
        raw = data[: RAW_LIMIT * 4].rstrip(b"\r\n")
        if oversized:
            yield _Line(line, start, offset, None, f"line longer than {limit} bytes ({consumed} bytes)", raw)
            continue
        if b"\x00" in data:  # valid UTF-8 and even valid CSV, but text never holds NUL: binary data
            yield _Line(line, start, offset, None, "contains NUL bytes: binary data, not text", raw)
            continue
        if line == 1 and data.startswith(_BOM):
            data = data[len(_BOM) :]  # editors on Windows add one; it is not part of the first record
        try:
            text = data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as failure:
            yield _Line(line, start, offset, None, f"not UTF-8: {failure.reason} at byte {failure.start}", raw)
            continue
        yield _Line(line, start, offset, text, "", raw)


def _head(stream: BinaryIO, upto: int) -> str:
    stream.seek(0)
    return hashlib.sha256(stream.read(min(upto, HEAD_BYTES))).hexdigest()


class FileReader:
    """A JSONL or CSV file of mentions, read incrementally (see the module docstring for the cursor)."""

    def __init__(
        self, id: str, path: Path, format: Literal["jsonl", "csv"] = "jsonl", mapping: dict[str, str] | None = None,
        *, display: str | None = None, retries: int = 3, backoff: float = DEFAULT_BACKOFF,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.id = id
        self.path = path
        self.format = format
        self.mapping = dict(mapping or {})
        self.display = display or str(path)  # positions name the file as the playbook does
        self.retries = retries
        self.backoff = backoff
        self.max_line_bytes = max_line_bytes
        check_mapping(id, self.mapping)

    def read(self, cursor: dict[str, Any] | None, limit: int | None = None) -> Batch:
        return with_retries(self.id, self.retries, lambda: self._attempt(cursor or {}, limit), self.backoff)

    def _attempt(self, cursor: dict[str, Any], limit: int | None) -> Batch:
        try:
            with self.path.open("rb") as stream:
                return self._read_from(stream, cursor, limit)
        except OSError as failure:
            raise Retryable(f"cannot read {self.display}: {failure.strerror or failure}") from failure

    def _read_from(self, stream: BinaryIO, cursor: dict[str, Any], limit: int | None) -> Batch:
        batch = Batch()
        offset, line = self._resume(stream, cursor, batch.notes)
        framer = self._jsonl if self.format == "jsonl" else self._csv
        for end, number in framer(stream, offset, line, batch):
            offset, line = end, number
            if limit is not None and batch.read >= limit:
                break
        batch.cursor = {"offset": offset, "line": line, "head": _head(stream, offset)}
        return batch

    def _resume(self, stream: BinaryIO, cursor: dict[str, Any], notes: list[str]) -> tuple[int, int]:
        """Where to start: the cursor, unless the file was truncated or replaced since (then from the top)."""
        offset, line = int(cursor.get("offset", 0)), int(cursor.get("line", 0))
        if offset == 0:
            return 0, 0
        size = stream.seek(0, io.SEEK_END)
        if size < offset:
            notes.append(f"{self.display} is shorter than the cursor ({size} < {offset} bytes): truncated or "
                         "rotated, reading it again from the start")
            return 0, 0
        if cursor.get("head") not in (None, _head(stream, offset)):
            notes.append(f"{self.display} was replaced (its first bytes changed): reading it again from the start")
            return 0, 0
        return offset, line

    def _position(self, number: int) -> str:
        return f"{self.display}:{number}"

    def _jsonl(self, stream: BinaryIO, offset: int, line: int, batch: Batch) -> Iterator[tuple[int, int]]:
        """One JSON object a line. Yields (offset, line) after each line so the caller can stop anywhere."""
        for each in _lines(stream, offset, line, self.max_line_bytes):
            if each.text is None:
                batch.quarantined.append(quarantine(self.id, self._position(each.number), [each.problem], each.raw))
            elif each.text.strip():  # blank lines separate nothing and hold nothing: not records
                self._frame_json(each.text, self._position(each.number), batch)
            yield each.end, each.number

    def _frame_json(self, text: str, position: str, batch: Batch) -> None:
        try:
            item = json.loads(text)
        except json.JSONDecodeError as failure:
            reason = f"not JSON: {failure.msg} at column {failure.colno}"
        except RecursionError:
            reason = "not JSON: nested too deeply"
        else:
            if isinstance(item, dict):
                batch.records.append(RawRecord(position, pick(item, self.mapping)))
                return
            reason = f"not a JSON object: a {type(item).__name__}"
        batch.quarantined.append(quarantine(self.id, position, [reason], text))

    def _csv(self, stream: BinaryIO, offset: int, line: int, batch: Batch) -> Iterator[tuple[int, int]]:
        """A header line, then one record per row; a quoted field may span lines (exported posts often do)."""
        header = self._header(stream)
        if header is None:
            return
        columns, header_end = header
        self._check_columns(columns, batch)
        if offset == 0:
            offset, line = header_end, 1
            yield offset, line
        pending: list[_Line] = []
        for each in _lines(stream, offset, line, self.max_line_bytes):
            pending.append(each)
            if self._frame_row(pending, columns, batch):
                pending = []
                yield each.end, each.number
        if pending:
            batch.notes.append(f"{self._position(pending[0].number)}: a quoted field is not closed yet; "
                               "waiting for the rest of the record")

    def _header(self, stream: BinaryIO) -> tuple[list[str], int] | None:
        """The column names and where they end; None while the header line is not complete."""
        first = next(_lines(stream, 0, 0, self.max_line_bytes), None)
        if first is None:
            return None
        if first.text is None:
            raise SourceError(self.id, f"{self.display}: the CSV header is unreadable ({first.problem})")
        return next(csv.reader([first.text])), first.end

    def _check_columns(self, columns: list[str], batch: Batch) -> None:
        missing = sorted({column for column in self.mapping.values() if column not in columns})
        if missing:
            batch.notes.append(f"{self.display}: mapped column(s) {', '.join(missing)} not in the header")

    def _frame_row(self, pending: list[_Line], columns: list[str], batch: Batch) -> bool:
        """Frame the lines gathered so far as one row; False when a quoted field continues on the next line."""
        first, last = pending[0], pending[-1]
        position = self._position(first.number)
        problems = [each.problem for each in pending if each.text is None]
        if problems:
            batch.quarantined.append(quarantine(self.id, position, problems, b"\n".join(e.raw for e in pending)))
            return True
        text = "\n".join(each.text or "" for each in pending)
        if len(pending) == 1 and not text.strip():
            return True  # a blank line between rows holds nothing
        row = self._split(text, last.end - first.start)
        if row is None:
            return False
        if isinstance(row, list) and len(row) == len(columns):
            batch.records.append(RawRecord(position, pick(dict(zip(columns, row, strict=True)), self.mapping)))
            return True
        reason = row if isinstance(row, str) else f"{len(row)} columns where the header has {len(columns)}"
        batch.quarantined.append(quarantine(self.id, position, [reason], text))
        return True

    def _split(self, text: str, size: int) -> list[str] | str | None:
        """The row's fields; None when a quoted field goes on past this text; else why it is not a CSV row."""
        try:
            return next(csv.reader(io.StringIO(text), strict=True))
        except csv.Error as failure:
            if "unexpected end of data" not in str(failure):
                return f"not a CSV row: {failure}"
            return None if size <= self.max_line_bytes else f"a quoted field still open after {size} bytes"


class Clock(Protocol):
    """Time as replay needs it; injectable so tests replay hours of stream in no time."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def record_time(record: RawRecord) -> datetime | None:
    return parse_time(record.data.get("created_at"))


def replay(
    items: Iterable[T], speed: float, clock: Clock | None = None,
    when: Callable[[T], datetime | None] = record_time,  # type: ignore[assignment]
) -> Iterator[T]:
    """Yield items at their stream time compressed `speed` times (stream seconds per real second).

    The first dated item sets time zero. Undated or out-of-order items are yielded at once: replay
    paces a stream, it does not reorder or judge it (the gate does).
    """
    if speed <= 0:
        raise ValueError(f"replay speed must be positive, not {speed}")
    clock = clock or SystemClock()
    origin: tuple[datetime, float] | None = None
    for item in items:
        moment = when(item)
        if moment is not None:
            if origin is None:
                origin = (moment, clock.monotonic())
            due = origin[1] + (moment - origin[0]).total_seconds() / speed
            if (wait := due - clock.monotonic()) > 0:
                clock.sleep(wait)
        yield item
