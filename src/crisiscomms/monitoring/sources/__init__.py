"""Where mentions come from: files, feeds, JSON APIs — one `Source` protocol, one factory.

    source = build_source(spec, root)        # spec: an item of a playbook's monitoring.sources
    batch = source.read(cursor)               # cursor: the previous batch's, or None the first time
    batch.records, batch.quarantined, batch.notes, batch.cursor   # persist batch.cursor to resume

Records are framed and mapped to our field names but not validated: the gate does that.
Plain Python: no Prefect here.
"""

from __future__ import annotations

from pathlib import Path

from crisiscomms.monitoring.sources.base import MENTION_FIELDS, Batch, RawRecord, Source, SourceError
from crisiscomms.monitoring.sources.drill import ReplaySource
from crisiscomms.monitoring.sources.files import Clock, FileReader, SystemClock, record_time, replay
from crisiscomms.monitoring.sources.http import HttpReader
from crisiscomms.monitoring.sources.memory import MemorySource
from crisiscomms.monitoring.sources.rss import RssReader
from crisiscomms.playbook.monitoring import FileSource, HttpSource, RssSource

__all__ = [
    "MENTION_FIELDS",
    "Batch",
    "Clock",
    "FileReader",
    "HttpReader",
    "MemorySource",
    "RawRecord",
    "RssReader",
    "Source",
    "SourceError",
    "SystemClock",
    "build_source",
    "record_time",
    "replay",
]


def build_source(spec: FileSource | RssSource | HttpSource, root: Path) -> Source:
    """The adapter a playbook's source spec describes; file paths are relative to the project `root`."""
    if isinstance(spec, FileSource):
        reader = FileReader(spec.id, root / spec.path, spec.format, spec.mapping, display=spec.path,
                            retries=spec.retries, settle=spec.settle)
        return ReplaySource(reader, spec.replay_speed) if spec.replay_speed else reader
    if isinstance(spec, RssSource):
        return RssReader(spec.id, spec.url, timeout=spec.timeout, retries=spec.retries)
    if isinstance(spec, HttpSource):
        return HttpReader(spec.id, spec.url, items=spec.items, mapping=spec.mapping, next=spec.next,
                          headers_env=spec.headers_env, max_pages=spec.max_pages, timeout=spec.timeout,
                          retries=spec.retries)
    raise TypeError(f"no adapter for source spec {type(spec).__name__}")
