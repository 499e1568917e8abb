"""Logs of the libraries under the senders, kept quiet while a message is sent: they quote the request URL, a secret.

httpx logs it at INFO, urllib3 and Apprise at DEBUG. While a send runs they log nothing above ERROR, and Apprise's
lines go to the sender only, which reads why Apprise failed in them (`apprise_log`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Libraries under the senders log the request URL (httpx at INFO, urllib3 and Apprise at DEBUG), and the URL is a
# secret: while a send runs they log nothing above ERROR, and Apprise's lines go to the sender only.
_QUIETED = ("httpx", "httpcore", "urllib3", "requests")
_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_levels: dict[str, int] = {}


@contextmanager
def quiet_transport_logs() -> Iterator[None]:
    """Nested and concurrent sends share one quiet period: the first in saves the levels, the last out restores."""
    global _quiet_depth
    with _quiet_lock:
        if _quiet_depth == 0:
            for name in (*_QUIETED, "apprise"):
                _saved_levels[name] = logging.getLogger(name).level
            for name in _QUIETED:
                logging.getLogger(name).setLevel(logging.ERROR)
            logging.getLogger("apprise").propagate = False
            logging.getLogger("apprise").setLevel(logging.DEBUG)  # setLevel: it also clears the enabled-for cache
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                for name, level in _saved_levels.items():
                    logging.getLogger(name).setLevel(level)
                logging.getLogger("apprise").propagate = True


@contextmanager
def apprise_log() -> Iterator[list[tuple[int, str]]]:
    """Apprise's log records (level, message) of this thread during a send, kept from every other handler."""
    records: list[tuple[int, str]] = []
    handler = _ListHandler(records, threading.get_ident())
    logger = logging.getLogger("apprise")
    with quiet_transport_logs():
        logger.addHandler(handler)
        try:
            yield records
        finally:
            logger.removeHandler(handler)


class _ListHandler(logging.Handler):
    def __init__(self, records: list[tuple[int, str]], thread: int) -> None:
        super().__init__(logging.DEBUG)
        self.records, self.thread = records, thread

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.records.append((record.levelno, record.getMessage()))
