"""JSONL and CSV files that may still be growing, read from a byte-offset cursor; and timed replay.

Cursor: {"offset": bytes up to the end of the last record read, "line": its line number, "head": hash of the
file's first bytes, "open": true when that record's line had no newline}. The head hash tells a rotated or
rewritten file from a grown one; "open" lets a newline the writer adds later end that line instead of counting
as a new (blank) one.

The end of a file may still be being written: a last line without its newline, or a CSV row whose quoted field
is still open. It is read when the file is *finished*:
- `finished=True` (a one-shot read of a complete file, as `crisis monitor` does): at the end of the file, always;
- otherwise (a scheduled source, the file may grow): once the file has not been modified for `settle` seconds,
  and only up to the size it had when the read began (bytes appended meanwhile wait for the next read).
  A settle time rather than "unchanged since the previous read" because it needs no state that an empty read
  would have to commit. A writer that pauses mid-line for longer than `settle` has its line read in two
  pieces (most likely both quarantined): nothing is lost, and each read says what it left for later.

CSV: the header line gives the columns and the delimiter (`,`, `;` or tab, whichever it holds most); fields
follow RFC 4180 strictly (quotes doubled inside quoted fields; a closing quote followed by anything but a
delimiter is an error). A quoted field may span lines, but only up to `max_row_lines` lines and
`max_line_bytes` bytes: a row that does not close within them, or closes into something that is not one row of
the header's width, has its first line quarantined alone (with its line number) and reading resumes at the next
line — so a stray quote costs one row, never the rows after it.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol, TypeVar

from crisiscomms.monitoring.record import parse_time
from crisiscomms.monitoring.sources.base import (
    DEFAULT_BACKOFF,
    Batch,
    RawRecord,
    Retryable,
    SourceError,
    check_mapping,
    pick,
    quarantine,
    read_json,
    with_retries,
)
from crisiscomms.monitoring.sources.lines import Line, Start, delimiter, head, lines, parse_row

T = TypeVar("T")
Format = Literal["jsonl", "csv"]

FORMATS: tuple[Format, ...] = ("jsonl", "csv")
MAX_LINE_BYTES = 1_000_000  # one mention is a few KB; a 1 MB line is garbage, not a post
MAX_ROW_LINES = 100  # a post with more line breaks than that is rare; a stray quote must not hold more rows back
SETTLE_SECONDS = 60.0  # a writer quiet this long has finished its last line
REQUIRED_FIELDS = ("id", "created_at", "text")  # without them a row cannot be a mention


def file_format(path: Path) -> Format:
    """The format a file's name says: `.csv` is CSV, anything else JSONL (one JSON object a line)."""
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


class FileReader:
    """A JSONL or CSV file of mentions, read incrementally (see the module docstring for the cursor)."""

    def __init__(
        self, id: str, path: Path, format: Format = "jsonl", mapping: dict[str, str] | None = None,
        *, display: str | None = None, retries: int = 3, backoff: float = DEFAULT_BACKOFF,
        max_line_bytes: int = MAX_LINE_BYTES, max_row_lines: int = MAX_ROW_LINES, finished: bool = False,
        settle: float = SETTLE_SECONDS, wall: Callable[[], float] = time.time, until: int | None = None,
    ) -> None:
        if format not in FORMATS:
            raise SourceError(id, f"format {format!r} is not one of {', '.join(FORMATS)}")
        self.id = id
        self.path = path
        self.format = format
        self.mapping = dict(mapping or {})
        self.display = display or str(path)  # positions name the file as the playbook does
        self.retries = retries
        self.backoff = backoff
        self.max_line_bytes = max_line_bytes
        self.max_row_lines = max_row_lines
        self.finished = finished  # the file is complete: its last line is read even without a newline
        self.settle = settle
        self.wall = wall  # the wall clock file times are compared with (injectable for tests)
        self.until = until  # a part of a finished file: it ends at this byte (a line's start), the next part reads on
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
        start = self._resume(stream, cursor, batch.notes)
        if self.until is not None and start.offset >= self.until:  # the part is read: what follows is the next's
            batch.cursor = {"offset": start.offset, "line": start.line}
            return batch
        end = self._finished_at(stream)
        framer = self._jsonl if self.format == "jsonl" else self._csv
        limited = False
        for last in framer(stream, start, end, batch):
            start = Start(last.end, last.number, not last.terminated)
            if limited := limit is not None and batch.read >= limit:
                break
            if self.until is not None and last.end >= self.until:  # the part's last line: the next part reads on
                break
        batch.cursor = {"offset": start.offset, "line": start.line, "head": head(stream, start.offset)}
        if start.open:
            batch.cursor["open"] = True
        if not limited:
            self._note_unread(stream, start, batch.notes)
        return batch

    def _finished_at(self, stream: BinaryIO) -> int | None:
        """The file's size if it is finished (see the module docstring), else None: its end may still grow."""
        status = os.fstat(stream.fileno())
        if self.until is not None:
            return min(status.st_size, self.until)
        if self.finished or self.wall() - status.st_mtime >= self.settle:
            return status.st_size
        return None

    def _note_unread(self, stream: BinaryIO, reached: Start, notes: list[str]) -> None:
        """Bytes left at the end of a read are never dropped in silence: say where and why."""
        size = os.fstat(stream.fileno()).st_size
        unread = (size if self.until is None else min(size, self.until)) - reached.offset
        if unread <= 0:
            return
        why = ("the file grew while it was read" if self.finished else
               f"it is read once the file has not changed for {self.settle:g} s")
        notes.append(f"{self._position(reached.line + 1)}: {unread} byte(s) not read yet: the record there is not "
                     f"finished (no newline, or a quoted field still open); {why}")

    def _resume(self, stream: BinaryIO, cursor: dict[str, Any], notes: list[str]) -> Start:
        """Where to start: the cursor, unless the file was truncated or replaced since (then from the top)."""
        offset, line = int(cursor.get("offset", 0)), int(cursor.get("line", 0))
        if offset == 0:
            return Start(0, 0)
        size = stream.seek(0, io.SEEK_END)
        if size < offset:
            notes.append(f"{self.display} is shorter than the cursor ({size} < {offset} bytes): truncated or "
                         "rotated, reading it again from the start")
            return Start(0, 0)
        if cursor.get("head") not in (None, head(stream, offset)):
            notes.append(f"{self.display} was replaced (its first bytes changed): reading it again from the start")
            return Start(0, 0)
        return Start(offset, line, bool(cursor.get("open")))

    def _position(self, number: int) -> str:
        return f"{self.display}:{number}"

    def _set_aside(self, line: Line, reason: str, batch: Batch, raw: str | bytes | None = None) -> None:
        batch.quarantined.append(quarantine(self.id, self._position(line.number), [reason],
                                            line.raw if raw is None else raw))

    # --- JSONL ----------------------------------------------------------------------------------------------

    def _jsonl(self, stream: BinaryIO, start: Start, end: int | None, batch: Batch) -> Iterator[Line]:
        """One JSON object a line. Yields each line once framed, so the caller can stop anywhere."""
        for each in lines(stream, start, self.max_line_bytes, end):
            if each.text is None:
                self._set_aside(each, each.problem, batch)
            elif each.text.strip():  # blank lines separate nothing and hold nothing: not records
                self._frame_json(each.text, self._position(each.number), batch)
            yield each

    def _frame_json(self, text: str, position: str, batch: Batch) -> None:
        try:
            item = read_json(text)
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

    # --- CSV ------------------------------------------------------------------------------------------------

    def _csv(self, stream: BinaryIO, start: Start, end: int | None, batch: Batch) -> Iterator[Line]:
        """A header line, then one record per row (see the module docstring for rows spanning lines)."""
        header = self._header(stream, end, batch)
        if header is None:
            return
        columns, delimiter, first = header
        if start.offset == 0:
            start = Start(first.end, first.number, not first.terminated)
            yield first
        resume: Start | None = start
        while resume is not None:
            resume = yield from self._rows(stream, resume, end, columns, delimiter, batch)

    def _rows(self, stream: BinaryIO, start: Start, end: int | None, columns: list[str], delimiter: str,
              batch: Batch) -> Generator[Line, None, Start | None]:
        """Rows from `start`, each yielded by its last line; returns where to resume after a line set aside alone
        (the lines read past it are read again as rows of their own), or None at the end of what can be read."""
        pending: list[Line] = []
        for each in lines(stream, start, self.max_line_bytes, end):
            pending.append(each)
            verdict = self._frame_row(pending, columns, delimiter, batch)
            if verdict is None:  # a quoted field goes on to the next line
                continue
            if verdict:
                return (yield from self._set_first_aside(pending[0], verdict, batch))
            yield each
            pending = []
        if pending and pending[-1].end == end:  # the finished file ends inside a quoted field
            reason = "a quoted field opened on this line is not closed by the end of the file"
            return (yield from self._set_first_aside(pending[0], reason, batch))
        return None

    def _set_first_aside(self, first: Line, reason: str, batch: Batch) -> Generator[Line, None, Start]:
        self._set_aside(first, reason, batch)
        yield first
        return Start(first.end, first.number, not first.terminated)

    def _header(self, stream: BinaryIO, end: int | None, batch: Batch) -> tuple[list[str], str, Line] | None:
        """The column names, the delimiter and the header line; None while the header line is not complete."""
        first = next(lines(stream, Start(0, 0), self.max_line_bytes, end), None)
        if first is None:
            return None
        if first.text is None:
            raise SourceError(self.id, f"{self.display}: the CSV header is unreadable ({first.problem})")
        separator = delimiter(first.text)
        columns = parse_row(first.text, separator) if first.text.strip() else "it is empty"
        if not isinstance(columns, list):
            why = columns or "a quoted field is not closed"
            raise SourceError(self.id, f"{self.display}: line 1 is not a CSV header of column names ({why})")
        self._check_columns(columns, batch)
        return columns, separator, first

    def _check_columns(self, columns: list[str], batch: Batch) -> None:
        missing = sorted({column for column in self.mapping.values() if column not in columns})
        if missing:
            batch.notes.append(f"{self.display}: mapped column(s) {', '.join(missing)} not in the header")
        unmapped = [name for name in REQUIRED_FIELDS if name not in self.mapping and name not in columns]
        if unmapped:
            batch.notes.append(f"{self.display}: no column for {', '.join(unmapped)}, which every mention needs "
                               "(name a column so, or map one to it)")
        twice = sorted({column for column in columns if columns.count(column) > 1})
        if twice:
            batch.notes.append(f"{self.display}: column(s) {', '.join(twice)} appear more than once in the "
                               "header; the last one of each is read")

    def _frame_row(self, pending: list[Line], columns: list[str], delimiter: str, batch: Batch) -> str | None:
        """Frame the lines gathered so far as one row.

        None: a quoted field goes on past the last line. "": framed (a record, a line quarantined, a blank line).
        Else why the first line is set aside alone, the lines after it to be read again as rows of their own.
        """
        first, last = pending[0], pending[-1]
        if last.text is None:
            if len(pending) == 1:
                self._set_aside(last, last.problem, batch)
                return ""
            return f"a quoted field opened on this line runs into line {last.number}, which is unreadable"
        text = "\n".join(each.text or "" for each in pending)
        if len(pending) == 1 and not text.strip():
            return ""  # a blank line between rows holds nothing
        row = parse_row(text, delimiter)
        if row is None:
            return self._still_open(pending)
        if isinstance(row, list) and len(row) == len(columns):
            record = pick(dict(zip(columns, row, strict=True)), self.mapping)
            batch.records.append(RawRecord(self._position(first.number), record))
            return ""
        reason = row if isinstance(row, str) else f"{len(row)} columns where the header has {len(columns)}"
        if len(pending) == 1:
            self._set_aside(first, reason, batch, text)
            return ""
        return f"a quoted field opened on this line runs to line {last.number}, where the row is wrong: {reason}"

    def _still_open(self, pending: list[Line]) -> str | None:
        """None while a row spanning lines may still close within the bounds; else why it may not."""
        if len(pending) >= self.max_row_lines:
            return f"a quoted field opened on this line is not closed within {self.max_row_lines} lines"
        if pending[-1].end - pending[0].start >= self.max_line_bytes:
            return f"a quoted field opened on this line is not closed within {self.max_line_bytes} bytes"
        return None


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
