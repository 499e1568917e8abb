"""Child processes for the tests that race or kill processes (a worker's release, its state opened at once).

They are forked from multiprocessing's fork server, a process that has only ever had one thread, never from the
test process. By the time these tests run, earlier tests have left threads in the test process (Prefect's client
services, the receivers' servers, idle pools), and a fork copies the locks those threads hold at that instant: a
child once hung for ever opening SQLite, whose global mutex another thread held while it closed a connection (CI,
2026-12-05, `test_release_faults`). The fork server's children start at once all the same: the target's module is
imported in the server before its first child.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing import connection
from multiprocessing.context import ForkServerProcess
from typing import Any

CONTEXT = multiprocessing.get_context("forkserver")


class Forked:
    """`target(*args)` in a child of the fork server, with this process's environment as it is now (the server's
    own is the one it started with). A child that outlives `wait`'s limit is killed and fails the test."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        CONTEXT.set_forkserver_preload([target.__module__])  # read once, when the first child starts the server
        self.process: ForkServerProcess = CONTEXT.Process(target=_in_environment,
                                                          args=(dict(os.environ), target, *args))
        self.process.start()
        self.killed = False
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL, unless it has ended. Its parent is the fork server, which reaps it: between the check and the
        signal its pid could in principle be reused, in microseconds out of millions of pids."""
        with self._lock:  # one poll of the child's status at a time: two would both read its one report
            if self.process.exitcode is None:
                self.process.kill()
                self.killed = True

    def wait(self, limit: float = 120.0) -> int:
        """The exit code: 0, 1 (it raised), or minus the signal that ended it."""
        deadline = time.monotonic() + limit
        while True:
            connection.wait([self.process.sentinel], timeout=max(0.0, deadline - time.monotonic()))
            with self._lock:
                code = self.process.exitcode
            if code is not None:
                return code
            if time.monotonic() >= deadline:
                self.kill()
                self.process.join(10)
                raise AssertionError(f"child {self.pid} ({self.process.name}) did not end within {limit:g} s")


def _in_environment(environment: dict[str, str], target: Callable[..., None], *args: Any) -> None:
    os.environ.clear()
    os.environ.update(environment)
    target(*args)
