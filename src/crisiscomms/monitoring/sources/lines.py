"""The bytes of a file that may still be growing, as lines and CSV rows: bounded lines, offsets kept exactly, a
last line without its newline told apart, and a strict CSV dialect (see `files` for how they are used)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from crisiscomms.monitoring.sources.base import RAW_LIMIT

DELIMITERS = ",;\t"  # the first wins a tie: comma unless the header says otherwise
BOM = b"\xef\xbb\xbf"
HEAD_BYTES = 4096  # enough of the start to tell two files apart, cheap to hash on every read


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line number in the file
    start: int  # byte offset of the line's first byte
    end: int  # byte offset just after this line's newline (or the end of a finished file)
    text: str | None  # decoded, line ending removed; None when it could not be (see problem)
    problem: str
    raw: bytes  # the start of the line, for quarantine
    terminated: bool = True  # False: the last line of a finished file, without its newline


@dataclass(frozen=True)
class Start:
    offset: int
    line: int
    open: bool = False  # the line before `offset` had no newline (see the cursor's "open")


class Dialect(csv.Dialect):
    """CSV as spreadsheets and exports write it (RFC 4180), parsed strictly; the delimiter comes from the header."""

    delimiter = ","
    quotechar = '"'
    doublequote = True
    skipinitialspace = False
    lineterminator = "\r\n"
    quoting = csv.QUOTE_MINIMAL
    strict = True


def read_line(stream: BinaryIO, limit: int, end: int | None) -> tuple[bytes, int, bool] | None:
    """(line, bytes consumed, oversized) for the next line; None when only a line still being written remains.

    `end`: where the file is known to be finished (None: it may grow); a last line without newline ending
    exactly there is complete. An oversized line is consumed in chunks, so memory stays bounded whatever the file.
    """
    start = stream.tell()
    chunk = stream.readline(limit + 1)
    if chunk.endswith(b"\n"):
        return chunk, len(chunk), len(chunk) - 1 > limit
    consumed = len(chunk)
    if consumed > limit:
        while part := stream.readline(1 << 16):
            consumed += len(part)
            if part.endswith(b"\n"):
                return chunk, consumed, True
    if consumed and start + consumed == end:
        return chunk, consumed, consumed > limit
    stream.seek(start)  # EOF inside a line the writer has not finished: judge it once it is complete
    return None


def skip_newline(stream: BinaryIO, offset: int) -> int:
    """Past the newline that ends a line already read without it (see the cursor's "open"), if it is there now."""
    stream.seek(offset)
    ahead = stream.read(2)
    return offset + (1 if ahead.startswith(b"\n") else 2 if ahead == b"\r\n" else 0)


def lines(stream: BinaryIO, start: Start, limit: int, end: int | None) -> Iterator[Line]:
    """Complete lines from `start`, decoded one by one so one bad line cannot spoil its neighbours."""
    offset, line = (skip_newline(stream, start.offset) if start.open else start.offset), start.line
    stream.seek(offset)
    while (read := read_line(stream, limit, end)) is not None:
        data, consumed, oversized = read
        start_at, offset, line = offset, offset + consumed, line + 1
        raw, terminated = data[: RAW_LIMIT * 4].rstrip(b"\r\n"), data.endswith(b"\n")
        if oversized:
            problem = f"line longer than {limit} bytes ({consumed} bytes)"
            yield Line(line, start_at, offset, None, problem, raw, terminated)
            continue
        if b"\x00" in data:  # valid UTF-8 and even valid CSV, but text never holds NUL: binary data
            yield Line(line, start_at, offset, None, "contains NUL bytes: binary data, not text", raw, terminated)
            continue
        if line == 1 and data.startswith(BOM):
            data = data[len(BOM) :]  # editors on Windows add one; it is not part of the first record
        try:
            text = data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as failure:
            problem = f"not UTF-8: {failure.reason} at byte {failure.start}"
            yield Line(line, start_at, offset, None, problem, raw, terminated)
            continue
        yield Line(line, start_at, offset, text, "", raw, terminated)


def head(stream: BinaryIO, upto: int) -> str:
    stream.seek(0)
    return hashlib.sha256(stream.read(min(upto, HEAD_BYTES))).hexdigest()


def delimiter(header: str) -> str:
    return max(DELIMITERS, key=header.count)


def parse_row(text: str, delimiter: str) -> list[str] | str | None:
    """The fields of the one row `text` holds; None while a quoted field is still open; else what is wrong."""
    try:
        rows = list(csv.reader(io.StringIO(text), Dialect, delimiter=delimiter))
    except csv.Error as failure:
        return None if str(failure) == "unexpected end of data" else f"not a CSV row: {failure}"
    return rows[0] if len(rows) == 1 else f"not a CSV row: {len(rows)} rows on one line"
