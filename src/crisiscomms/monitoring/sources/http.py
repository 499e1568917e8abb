"""JSON APIs: GET a URL, take the list at `items`, map fields by dotted paths, follow `next` pages.

Cursor: {"newest": the latest created_at delivered, "ids": ids delivered AT that instant, "quarantined":
keys of items already set aside}. An item is new when it is later than `newest`, or at `newest` with an
id not in `ids` — so items sharing a timestamp are neither skipped nor delivered twice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

import httpx

from crisiscomms.mention import Quarantined
from crisiscomms.monitoring.record import parse_time
from crisiscomms.monitoring.sources.base import (
    DEFAULT_BACKOFF,
    Batch,
    RawRecord,
    Retryable,
    SourceError,
    check_mapping,
    dig,
    fetch,
    http_client,
    iso,
    may_receive_secrets,
    pick,
    quarantine,
    read_json,
    with_retries,
)

MAX_QUARANTINE_KEYS = 1000  # enough to not re-report a bad item still listed; bounded like every cursor


@dataclass
class _Page:
    url: str
    number: int
    items: list[Any]


@dataclass
class _Found:
    """What the pages held that this read may deliver, before `limit` is applied."""

    fresh: list[tuple[datetime, str, RawRecord]] = field(default_factory=list)
    bad: list[tuple[str, Quarantined]] = field(default_factory=list)


@dataclass
class _Watermark:
    """The cursor while a batch is being built: judged against the previous read's, advanced separately
    (a newest-first page must not hide its own older, still unread items)."""

    since: datetime | None
    since_ids: set[str]
    quarantined: list[str]
    newest: datetime | None = None
    ids: set[str] = field(default_factory=set)
    this_read: set[str] = field(default_factory=set)  # offset pagination shifts items across pages mid-walk

    def __post_init__(self) -> None:
        self.newest, self.ids = self.since, set(self.since_ids)

    def is_new(self, moment: datetime, item_id: str) -> bool:
        if item_id in self.this_read:
            return False
        self.this_read.add(item_id)
        return self.since is None or moment > self.since or (moment == self.since and item_id not in self.since_ids)

    def advance(self, moment: datetime, item_id: str) -> None:
        if self.newest is None or moment > self.newest:
            self.newest, self.ids = moment, {item_id}
        elif moment == self.newest:
            self.ids.add(item_id)

    def as_cursor(self) -> dict[str, Any]:
        return {"newest": iso(self.newest) if self.newest else None, "ids": sorted(self.ids),
                "quarantined": self.quarantined[-MAX_QUARANTINE_KEYS:]}


def _fingerprint(item: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()


class HttpReader:
    """A paginated JSON endpoint (see the module docstring for the cursor)."""

    def __init__(
        self, id: str, url: str, *, items: str = "items", mapping: dict[str, str] | None = None,
        next: str | None = None, headers_env: dict[str, str] | None = None, max_pages: int = 50,
        timeout: float = 30, retries: int = 3, backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        self.id = id
        self.url = url
        self.items = items
        self.mapping = dict(mapping or {})
        self.next = next
        self.headers_env = dict(headers_env or {})
        self.max_pages = max_pages
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        check_mapping(id, self.mapping)

    def read(self, cursor: dict[str, Any] | None, limit: int | None = None) -> Batch:
        cursor = cursor or {}
        mark = _Watermark(parse_time(cursor.get("newest")), set(cursor.get("ids") or []),
                          list(cursor.get("quarantined") or []))
        batch, found = Batch(), _Found()
        for page in self._pages(self._headers(), mark, batch.notes):
            for index, item in enumerate(page.items):
                self._frame(item, f"{page.url} page {page.number} item {index}", mark, found)
        return self._deliver(found, mark, batch, limit)

    def _deliver(self, found: _Found, mark: _Watermark, batch: Batch, limit: int | None) -> Batch:
        """Set-asides first, then records oldest first, up to `limit`: the watermark only moves past what is
        returned, so whatever the limit leaves out is still new on the next read."""
        budget = len(found.fresh) + len(found.bad) if limit is None else limit
        for key, set_aside in found.bad[:budget]:
            mark.quarantined.append(key)
            batch.quarantined.append(set_aside)
        for moment, item_id, record in sorted(found.fresh, key=lambda each: each[0])[: budget - batch.read]:
            mark.advance(moment, item_id)
            batch.records.append(record)
        batch.cursor = mark.as_cursor()
        return batch

    def _headers(self) -> dict[str, str]:
        """Secrets come from the environment at each read, so rotating a token needs no restart."""
        headers = {}
        for header, variable in self.headers_env.items():
            value = os.environ.get(variable)
            if not value:
                raise SourceError(self.id, f"environment variable {variable} (for header {header}) is not set")
            headers[header] = value
        return headers

    def _pages(self, headers: dict[str, str], mark: _Watermark, notes: list[str]) -> list[_Page]:
        """Every page up to max_pages, each retried on its own (a flaky page 7 does not refetch pages 1–6)."""
        pages: list[_Page] = []
        url: str | None = self.url
        with http_client() as client:
            while url is not None and len(pages) < self.max_pages:
                # credentials go to the configured origin only, never to a host a `next` link names
                sent = headers if may_receive_secrets(url, self.url) else {}
                page, url = with_retries(self.id, self.retries, lambda u=url, h=sent: self._page(client, u, h),
                                         self.backoff)
                pages.append(_Page(page.url, len(pages) + 1, page.items))
                url = self._follow(url, pages, mark, notes)
        if url is not None:
            notes.append(f"stopped at max_pages={self.max_pages} with more pages to read: items beyond "
                         f"{pages[-1].url} were not read and, if newer than the cursor, are lost")
        return pages

    def _follow(self, url: str | None, pages: list[_Page], mark: _Watermark, notes: list[str]) -> str | None:
        """The next page to read, or None: last page, a loop, or only already-read items on a newest-first page."""
        if url is None:
            return None
        if url in {page.url for page in pages}:
            notes.append(f"pagination loops back to {url}: stopped there")
            return None
        if self._only_old(pages[-1].items, mark):
            return None  # newest-first API: every later page is older still
        return url

    def _only_old(self, items: list[Any], mark: _Watermark) -> bool:
        """True when the page is sorted newest first and all of it is before the cursor."""
        if mark.since is None or not items:
            return False
        path = self.mapping.get("created_at", "created_at")
        moments = [moment for item in items if (moment := parse_time(dig(item, path))) is not None]
        if len(moments) < len(items):
            return False  # undated items: cannot tell, keep reading
        ordered = all(a >= b for a, b in itertools.pairwise(moments))
        return ordered and moments[0] < mark.since

    def _page(self, client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[_Page, str | None]:
        """One page and the absolute URL of the next; a body without a list at `items` is a failure."""
        fetched = fetch(client, url, self.timeout, headers)
        try:
            body = read_json(fetched.body)
        except (ValueError, RecursionError) as failure:  # JSONDecodeError and UnicodeDecodeError among them
            raise Retryable(f"GET {url}: the body is not JSON ({failure})") from failure
        items = body if self.items in ("", ".") else dig(body, self.items)
        if not isinstance(items, list):
            found = "nothing" if items is None else f"a {type(items).__name__}"
            raise Retryable(f"GET {url}: expected a list at {self.items!r} in the response, found {found}")
        following = dig(body, self.next) if self.next else None
        if following is not None and not isinstance(following, str):
            raise Retryable(f"GET {url}: the next-page link at {self.next!r} is not a URL: {following!r}")
        return _Page(fetched.url, 0, items), urljoin(fetched.url, following) if following else None

    def _frame(self, item: Any, position: str, mark: _Watermark, found: _Found) -> None:
        if not isinstance(item, dict):
            self._set_aside(item, position, f"item is a JSON {type(item).__name__}, not an object", mark, found)
            return
        data = pick(item, self.mapping)
        item_id, moment = data.get("id"), parse_time(data.get("created_at"))
        if item_id is None or isinstance(item_id, dict | list):
            self._set_aside(item, position, f"item has no usable id at {self.mapping.get('id', 'id')!r}", mark, found)
        elif moment is None:
            where = self.mapping.get("created_at", "created_at")
            reason = f"created_at at {where!r} is missing or not a timestamp: the cursor cannot place the item"
            self._set_aside(item, position, reason, mark, found)
        elif mark.is_new(moment, str(item_id)):
            found.fresh.append((moment, str(item_id), RawRecord(position, data)))

    def _set_aside(self, item: Any, position: str, reason: str, mark: _Watermark, found: _Found) -> None:
        """Quarantine once: a bad item still listed on later reads is not reported again."""
        key = _fingerprint(item)
        if key in mark.quarantined or key in mark.this_read:
            return
        mark.this_read.add(key)
        found.bad.append((key, quarantine(self.id, position, [reason], json.dumps(item, default=str))))
