"""Writing a file whole: what the scripted clock, the readiness report, the clearances and monitoring's outputs share.

The text goes to a temporary file beside the target (hidden, named for the writing process so that two writers
never share one, ending `.new`) and is renamed over it: a reader sees the old file or the new one, never half of either.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_whole(path: Path, text: str, synced: bool = False) -> None:
    """`text` at `path`, replaced whole; with `synced`, on disk before this returns (its folder's entry too)."""
    hidden = path.name if path.name.startswith(".") else f".{path.name}"
    partial = path.with_name(f"{hidden}.{os.getpid()}.new")
    try:
        with partial.open("w", encoding="utf-8") as handle:
            handle.write(text)
            if synced:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if synced:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
