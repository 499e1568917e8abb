"""`crisis monitor`'s outputs as one transaction: all of a run's files, or none of them.

Each output is written to a temporary file beside its target (`.<name>.<pid>.part`) and renamed onto it only at
`commit`, `--out` last. The renames are journalled first: a journal beside the last target (`.<name>.commit`,
written and synced) lists them, so a run killed between two renames leaves its journal, and the next run writing
the same targets finishes those renames before anything else — every temporary file in a journal was complete
and synced before the journal was written. A run that fails or is interrupted removes its temporary files; those a
killed run leaves are removed by the next run.

Two runs never write the same target at once: each run holds an exclusive lock on every target (`.<name>.lock`,
`flock`, released by the system even when the run is killed); a second run is refused at once. Holding the locks
is also what makes every journal and temporary file found beside a target a dead run's. A journal is only
followed for this run's targets, from temporary files of exactly those targets, in the same folder, owned by this
user: anything else in it is ignored and said.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

from rich.console import Console

from crisiscomms.errors import CrisisError, printable
from crisiscomms.files import write_whole

PART = ".part"


class Outputs:
    """Temporary files beside the targets: `commit` renames them onto the targets, in order; leaving the block
    without committing removes them."""

    def __init__(self, targets: dict[str, Path], console: Console) -> None:
        self.targets = targets
        self.console = console
        self.parts: dict[Path, tuple[Path, IO[str]]] = {}
        self.locks: list[_Lock] = []

    def __enter__(self) -> Outputs:
        try:
            for target in sorted(self.targets.values()):
                self.locks.append(_Lock.take(target))
            for target in self.targets.values():
                self._finish_interrupted(target)
            for option, target in self.targets.items():
                self._clean(target)
                part = _part(target)
                try:
                    self.parts[target] = (part, part.open("x", encoding="utf-8"))
                except OSError as failure:
                    raise CrisisError(f"cannot write {option} {target}: {failure.strerror or failure}") from failure
        except BaseException:
            self._discard()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._discard()

    def write(self, target: Path, lines: Iterable[str]) -> None:
        handle = self.parts[target][1]
        for line in lines:
            handle.write(line + "\n")

    def commit(self) -> None:
        """Each file flushed to disk, the renames journalled, then made (a rename within a folder is atomic)."""
        for _, handle in self.parts.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        renames = [(str(part), str(target)) for target, (part, _) in self.parts.items()]
        journal = _journal(list(self.parts)[-1])
        try:
            write_whole(journal, synced=True, text=json.dumps({"pid": os.getpid(), "renames": renames}))
        except OSError as failure:
            raise CrisisError(f"cannot write the journal {journal}: {failure.strerror or failure}") from failure
        for target in list(self.parts):
            os.replace(self.parts.pop(target)[0], target)
        journal.unlink()

    def untouched(self) -> list[Path]:
        return list(self.parts)

    def _finish_interrupted(self, target: Path) -> None:
        """The renames a killed run journalled beside `target` and did not all make, made now."""
        journal = _journal(target)
        for partial in target.parent.glob(glob.escape(journal.name) + "*.new"):
            partial.unlink(missing_ok=True)  # killed while writing its journal: it had renamed nothing
        try:
            if journal.is_symlink() or not journal.is_file() or journal.stat().st_uid != os.getuid():
                if journal.exists() or journal.is_symlink():
                    self._say(f"ignored {journal}: not a journal this user's runs write")
                return
            entry = json.loads(journal.read_text(encoding="utf-8"))
            renames = [(Path(part), Path(done)) for part, done in entry["renames"]]
        except (OSError, ValueError, KeyError, TypeError) as problem:
            self._say(f"ignored the unreadable journal {journal} ({type(problem).__name__})")
            journal.unlink(missing_ok=True)
            return
        finished = [done for part, done in renames if self._finish(part, done)]
        journal.unlink()
        if finished:
            self._say(f"finished the outputs of an interrupted run: {', '.join(map(str, finished))}")

    def _finish(self, part: Path, done: Path) -> bool:
        if not self._own(part, done):
            self._say(f"ignored a journal entry {part} → {done}: not a temporary file of this run's outputs")
            return False
        if not part.exists():  # renamed before the kill
            return False
        os.replace(part, done)
        return True

    def _own(self, part: Path, done: Path) -> bool:
        """`part` is a regular temporary file of `done`, one of this run's targets, beside it, made by this user."""
        named = re.fullmatch(re.escape(f".{done.name}.") + r"\d+" + re.escape(PART), part.name)
        mine = {target.resolve() for target in self.targets.values()}
        if not named or part.parent != done.parent or done.resolve() not in mine:
            return False
        try:
            status = part.lstat()
        except FileNotFoundError:
            return True  # renamed before the kill: nothing left to do
        return part.is_file() and not part.is_symlink() and status.st_uid == os.getuid()

    def _clean(self, target: Path) -> None:
        """Temporary files of a dead run (the lock says every other one is)."""
        for left in target.parent.glob(glob.escape(f".{target.name}.") + "*" + PART):
            if left.is_file() and not left.is_symlink():
                left.unlink(missing_ok=True)
                self._say(f"removed {left}, left by an interrupted run")

    def _say(self, text: str) -> None:
        self.console.print(printable(text), markup=False)

    def _discard(self) -> None:
        for part, handle in self.parts.values():
            handle.close()
            part.unlink(missing_ok=True)
        self.parts.clear()
        for lock in reversed(self.locks):
            lock.release()
        self.locks.clear()


class _Lock:
    """An exclusive `flock` on `.<name>.lock` beside a target, refused at once when another run holds it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    @classmethod
    def take(cls, target: Path) -> _Lock:
        path = target.with_name(f".{target.name}.lock")
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            except OSError as failure:
                raise CrisisError(f"cannot lock {target}: {failure.strerror or failure}") from failure
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise CrisisError(f"{target} is being written by another run: wait for it to finish") from None
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else the lock file was removed by the run that held it: take the new one
                return cls(path, fd)
            os.close(fd)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)  # before unlocking: a run waiting on this file retries on a new one
        os.close(self.fd)


def _journal(target: Path) -> Path:
    return target.with_name(f".{target.name}.commit")


def _part(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}{PART}")
