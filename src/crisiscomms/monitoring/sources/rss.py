"""RSS and Atom feeds: fetched with httpx, parsed with feedparser, deduplicated by entry id.

A feed shows a sliding window of its latest entries, so the cursor remembers which ids were delivered:
{"seen": {key: created_at or ""}, "newest": created_at}. It keeps every id still in the feed (so an old
entry still listed is never delivered again) plus those dated within `horizon_days` of the newest,
capped at `max_seen` — the cursor stays small however long the feed is watched.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import feedparser

from crisiscomms.monitoring.record import parse_time
from crisiscomms.monitoring.sources.base import (
    DEFAULT_BACKOFF,
    Batch,
    RawRecord,
    Retryable,
    fetch,
    http_client,
    iso,
    quarantine,
    with_retries,
)

# Not malformations: the feed parsed fine, the server merely mislabelled its type or encoding.
_BENIGN = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_SPACES = re.compile(r"\s+")


class _TextOnly(HTMLParser):
    """Summaries are HTML; mentions are text. Scripts and styles hold no words a reader sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts.append(" ")  # <p>a</p><p>b</p> is two words, not "ab"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def strip_html(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return _SPACES.sub(" ", "".join(parser.parts)).strip()


def _plain(entry: Any, name: str) -> Any:
    """The field itself: feedparser's `get` maps updated↔published with a DeprecationWarning."""
    return dict.get(entry, name)


def _entry_time(entry: Any) -> str | None:
    """ISO 8601 UTC from the parsed date; the date as written when feedparser could not parse it (the gate
    will say so); None when the entry has no date at all."""
    parsed = _plain(entry, "published_parsed") or _plain(entry, "updated_parsed")
    if parsed:
        return iso(datetime(*parsed[:6], tzinfo=UTC))
    return _plain(entry, "published") or _plain(entry, "updated")


def _entry_text(entry: Any) -> str:
    title = strip_html(entry.get("title") or "")
    body = entry.get("summary") or next((c.get("value") for c in entry.get("content") or []), "") or ""
    summary = strip_html(body)
    return "\n".join(part for part in (title, summary if summary != title else "") if part)


def _entry_lang(entry: Any, feed: Any) -> str | None:
    detail = entry.get("title_detail") or {}
    return detail.get("language") or feed.get("language")


def _key(entry: Any) -> str:
    """What identifies an entry across reads: its id or link, else a hash of its content (so even an
    entry we must quarantine is reported once, not on every read)."""
    found = entry.get("id") or entry.get("link")
    if found:
        return str(found)
    content = "\x1f".join(str(_plain(entry, name) or "") for name in ("title", "summary", "published", "updated"))
    return "sha256:" + hashlib.sha256(content.encode()).hexdigest()


class RssReader:
    """An RSS or Atom feed at `url` (see the module docstring for the cursor)."""

    def __init__(
        self, id: str, url: str, *, timeout: float = 30, retries: int = 3, backoff: float = DEFAULT_BACKOFF,
        horizon_days: int = 7, max_seen: int = 5000,
    ) -> None:
        self.id = id
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.horizon = timedelta(days=horizon_days)
        self.max_seen = max_seen

    def read(self, cursor: dict[str, Any] | None, limit: int | None = None) -> Batch:
        parsed = with_retries(self.id, self.retries, self._fetch, self.backoff)
        return self._batch(parsed, cursor or {}, limit)

    def _fetch(self) -> Any:
        """The parsed feed; a body that is not a well-formed feed is a failure, never "no entries"."""
        with http_client() as client:
            page = fetch(client, self.url, self.timeout)
        headers = {"content-type": page.content_type, "content-location": page.url}
        # BytesIO, not bytes: feedparser opens a bare string that names an existing file
        parsed = feedparser.parse(io.BytesIO(page.body), response_headers=headers)
        problem = parsed.get("bozo_exception")
        if not parsed.get("version"):
            raise Retryable(f"GET {page.url}: not an RSS or Atom feed ({problem or 'unrecognised document'})")
        if parsed.get("bozo") and not isinstance(problem, _BENIGN):
            raise Retryable(f"GET {page.url}: malformed feed: {problem}")
        return parsed

    def _batch(self, parsed: Any, cursor: dict[str, Any], limit: int | None) -> Batch:
        seen: dict[str, str] = dict(cursor.get("seen") or {})
        listed: dict[str, str] = {}  # entries in this feed, delivered now or before: remembered whatever their age
        batch = Batch()
        for index, entry in enumerate(parsed.entries):
            key, created = _key(entry), _entry_time(entry)
            if key in listed or (key not in seen and limit is not None and batch.read >= limit):
                continue  # listed twice in the same feed; or over the limit: left unseen for the next read
            moment = parse_time(created)
            listed[key] = iso(moment) if moment else seen.get(key, "")
            if key not in seen:
                self._frame(entry, parsed.feed, (index, key), created, batch)
        batch.cursor = self._cursor(seen, listed, cursor.get("newest"))
        return batch

    def _frame(self, entry: Any, feed: Any, where: tuple[int, str], created: str | None, batch: Batch) -> None:
        index, key = where
        if not (entry.get("id") or entry.get("link")):
            reason = "feed entry has neither an id (guid) nor a link"
            raw = repr({name: value for name, value in entry.items() if not name.endswith("_parsed")})
            batch.quarantined.append(quarantine(self.id, f"{self.url} entry {index}", [reason], raw))
            return
        data = {"id": key, "created_at": created, "text": _entry_text(entry), "author": entry.get("author"),
                "channel": "rss", "url": entry.get("link"), "lang": _entry_lang(entry, feed)}
        batch.records.append(RawRecord(f"{self.url} {key}", {k: v for k, v in data.items() if v is not None}))

    def _cursor(self, seen: dict[str, str], listed: dict[str, str], newest: str | None) -> dict[str, Any]:
        """Ids still listed, plus recent ones, newest first up to max_seen (see the module docstring)."""
        top = max(filter(None, (parse_time(value) for value in (*listed.values(), newest))), default=None)
        recent = []
        for key, when in seen.items():
            moment = parse_time(when)
            if key not in listed and moment and top and moment >= top - self.horizon:
                recent.append((moment, key, when))
        recent.sort(reverse=True)
        kept = {key: when for _, key, when in recent[: max(0, self.max_seen - len(listed))]}
        return {"seen": {**listed, **kept}, "newest": iso(top) if top else None}
