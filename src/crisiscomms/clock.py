"""The product's clock: when a stage opened, a decision came, a message went out, a promise fell due.

A boundary like a channel or an approver. In production it is the system clock. Tests and drills that replay a
crisis set `CRISIS_CLOCK_FILE` to a file holding one ISO-8601 time: every process of the stack (worker, flow
runs, the CLI) then reads "now" from it, so the figures of a post-mortem are known from the script. The file is
read at each call (the script moves time on by rewriting it); a time without a zone is UTC.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from crisiscomms.errors import CrisisError
from crisiscomms.files import write_whole

CLOCK_FILE = "CRISIS_CLOCK_FILE"


def now() -> datetime:
    """The current time, aware and in UTC: the scripted one when `CRISIS_CLOCK_FILE` names a file."""
    scripted = os.environ.get(CLOCK_FILE)
    if not scripted:
        return datetime.now(UTC)
    return _read(Path(scripted))


def wait_until(moment: datetime, poll: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once `now()` has reached `moment`. The system clock's time passes by itself (one sleep); a scripted
    clock is moved on by its script (a drill's conductor), so it is read again every `poll` seconds."""
    while (left := (moment - now()).total_seconds()) > 0:
        sleep(min(left, poll) if os.environ.get(CLOCK_FILE) else left)


def now_text(timespec: str = "seconds") -> str:
    return now().isoformat(timespec=timespec)


def set_time(path: Path, moment: datetime) -> None:
    """Move a scripted clock to `moment` (tests and drills): written whole, then renamed, so no reader sees half."""
    if moment.tzinfo is None:
        raise ValueError("a scripted time needs its zone")
    write_whole(path, moment.astimezone(UTC).isoformat())


def _read(path: Path) -> datetime:
    try:
        text = path.read_text(encoding="utf-8").strip()
        moment = datetime.fromisoformat(text)
    except (OSError, ValueError) as exc:
        raise CrisisError(f"{CLOCK_FILE}={path}: cannot read a time from it ({exc}); unset {CLOCK_FILE} to use the "
                          "system clock") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
