"""What a released message's text is, given the approved one: the approved bytes, with the next-update marker (a
delay in the fact sheet) replaced by the time the release promised. Nothing else may differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crisiscomms.communication import release
from crisiscomms.communication.messages import NEXT_UPDATE_MARKER, fill_next_update
from crisiscomms.state import open_in


def as_sent(state: Path, pack: dict[str, Any], variant: dict[str, Any]) -> str:
    if NEXT_UPDATE_MARKER not in variant["text"]:
        return variant["text"]
    outbox = release.Outbox(open_in(state, "outbox"))  # the stack's: its file, or its PostgreSQL
    try:
        when = release.promised_time(pack, outbox)
    finally:
        outbox.close()
    assert when is not None, "a pack with the marker was released without a promised time"
    return fill_next_update(variant["text"], when, variant["language"])
