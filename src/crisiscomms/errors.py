"""Every error crisiscomms raises on purpose derives from CrisisError.

    CrisisError
    ├── PlaybookError            a playbook cannot be used; carries every Issue found
    │   └── PlaybookFileError    the file itself is unreadable (encoding, size, YAML syntax, tags)
    ├── PlaybookChangedError     the playbook file changed while a run was using it: the run refuses to go on
    ├── ProjectError             no crisiscomms project (playbooks/, prefect.yaml) where one is expected
    ├── InputError               crisis inputs given to a run do not fit the playbook's `inputs:`
    ├── ExpressionError          a `when:` expression cannot be parsed or evaluated
    └── ServerError              the local Prefect server / worker could not be started or reached
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

# Control characters (C0, DEL, C1), line separators and bidirectional overrides: printed raw, they would split an
# issue over several lines, or let a playbook drive the terminal (ESC sequences) or reorder the text a person reads.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """`text` with every unprintable character written as an escape (`\\x1b`, `\\u202e`): control characters, and
    invisible format characters (Unicode category Cf: a zero-width space makes `inputs.gravite` and
    `inputs.gra\\u200bvite` look alike)."""
    if text.isascii() and not _UNPRINTABLE.search(text):
        return text
    return "".join(_escaped(c) if _UNPRINTABLE.match(c) or unicodedata.category(c) == "Cf" else c for c in text)


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def show(value: Any, limit: int = 60) -> str:
    """A value for a message, as its author wrote it in YAML: 'text', 12, true, null, 2024-02-29, ["a", 1]."""
    if isinstance(value, str):
        return f"'{printable(_shorten(value, limit))}'"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int) and value.bit_length() > 100:  # str() of a huge int is slow, beyond 4,300 digits refused
        return f"a number of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        return printable(_shorten(json.dumps(value, ensure_ascii=False, default=lambda v: show(v, limit)), limit))
    return printable(_shorten(str(value), limit))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, order=True)
class Issue:
    """One problem in a playbook, located the way an editor wants it."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        """`file:line:column: path: message` on one line, whatever characters the playbook holds."""
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return printable(text)


class CrisisError(Exception):
    """Root of the errors crisiscomms raises on purpose."""


class PlaybookError(CrisisError):
    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class PlaybookFileError(PlaybookError):
    pass


class PlaybookChangedError(CrisisError):
    """The playbook file no longer has the hash the run started with; the message names both hashes."""


class ProjectError(CrisisError):
    pass


class InputError(CrisisError):
    pass


class ExpressionError(CrisisError):
    pass


class ServerError(CrisisError):
    pass


# Set by `crisis run` when it runs on the embedded (ephemeral) API: nobody else can reach that API, so nothing
# run there may wait for a human's answer.
EMBEDDED = "CRISIS_EMBEDDED_API"
