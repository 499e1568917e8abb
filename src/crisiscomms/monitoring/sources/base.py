"""The boundary every mention source sits behind, and the helpers the adapters share.

A source frames records (lines, feed entries, JSON items) and maps their fields to ours; it does not
validate them — the Great Expectations gate does. What a source cannot frame is quarantined, with why.
"""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable
from urllib.parse import urljoin, urlsplit

import httpx

from crisiscomms.errors import CrisisError
from crisiscomms.mention import Quarantined

T = TypeVar("T")

MENTION_FIELDS = ("id", "created_at", "text", "author", "channel", "url", "lang", "reach")
RAW_LIMIT = 2000  # Quarantined.raw is documented as truncated to 2 000 characters
DEFAULT_BACKOFF = 0.25  # seconds before the first retry; doubled each time
MAX_BACKOFF = 4.0  # a read is on a schedule: never wait long between attempts
MAX_REDIRECTS = 5
MAX_BODY_BYTES = 20_000_000  # a feed or API page larger than this is not a page, it is a mistake


class SourceError(CrisisError):
    """A source could not be read (after its retries): the message names the source and the cause."""

    def __init__(self, source: str, cause: str, attempts: int = 1) -> None:
        self.source = source
        self.cause = cause
        self.attempts = attempts
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"source {source!r}: {cause}{tries}")


class Retryable(Exception):  # a signal between helpers: callers only ever see SourceError
    """A failure worth another attempt (network, HTTP status, malformed body, I/O); carries a readable cause."""


class RawRecord(NamedTuple):
    """A record as framed by the transport: our field names, the values as read, nothing validated."""

    position: str
    data: dict[str, Any]


@dataclass
class Batch:
    """What one read returned. `cursor` is the whole state needed to resume after it."""

    records: list[RawRecord] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Everything framed in this batch, good or not: the count that reconciles with the source."""
        return len(self.records) + len(self.quarantined)


@runtime_checkable
class Source(Protocol):
    """Reads mentions incrementally.

    Passing each batch's cursor to the next read returns every record exactly once, even if the
    source grows in between or the process restarts. A failure raises SourceError, never an empty batch.
    `limit` caps `batch.read` (None: all available); the cursor then resumes right after what was returned.
    """

    id: str

    def read(self, cursor: dict[str, Any] | None, limit: int | None = None) -> Batch: ...


def with_retries(
    source: str, retries: int, attempt: Callable[[], T], backoff: float = DEFAULT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `attempt` up to 1 + `retries` times while it raises Retryable; then raise SourceError."""
    for number in range(1, retries + 2):
        try:
            return attempt()
        except Retryable as failure:
            if number > retries:
                raise SourceError(source, str(failure), attempts=number) from failure
            sleep(min(backoff * 2 ** (number - 1), MAX_BACKOFF))
    raise AssertionError("unreachable: the loop returns or raises")


MAX_INT_DIGITS = 100  # no field of a mention needs more; Python refuses to read 4,300+ digits at all


def _bounded_int(digits: str) -> int | str:
    """A JSON integer as a number, or kept as its digits when longer than any field needs (then it reads as
    text: an id longer than ids are, a created_at that is not a date — each a reason, never a crash)."""
    return int(digits) if len(digits.lstrip("-")) <= MAX_INT_DIGITS else digits


def read_json(text: str | bytes) -> Any:
    """`json.loads` whatever the numbers in it: one huge integer anywhere cannot crash a read."""
    return json.loads(text, parse_int=_bounded_int)


def check_mapping(source: str, mapping: dict[str, str]) -> None:
    """A typo in a mapping key would silently leave a field empty on every record: refuse it up front."""
    unknown = sorted(set(mapping) - set(MENTION_FIELDS))
    if unknown:
        known = ", ".join(MENTION_FIELDS)
        raise SourceError(source, f"mapping names {', '.join(unknown)}, which are not mention fields ({known})")


def dig(value: Any, path: str) -> Any:
    """Follow a dotted path (`user.name`, `entities.0.url`) through dicts and lists; None when absent.

    A key that itself contains dots is tried whole first, so flat exports with dotted column names work.
    """
    if isinstance(value, dict) and path in value:
        return value[path]
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def pick(item: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Our fields from one item: mapped path or, unmapped, the same name; absent fields stay absent."""
    picked = {}
    for name in MENTION_FIELDS:
        value = dig(item, mapping.get(name, name))
        if value is not None:
            picked[name] = value
    return picked


def quarantine(source: str, position: str, reasons: list[str], raw: str | bytes) -> Quarantined:
    """A record set aside: raw kept (truncated) so a human can see what the source really sent."""
    text = raw.decode("utf-8", errors="backslashreplace") if isinstance(raw, bytes) else raw
    return Quarantined(source=source, position=position, reasons=reasons, raw=text[:RAW_LIMIT])


def iso(moment: datetime) -> str:
    """The one timestamp form sources write: UTC with a Z, so cursors compare and read the same everywhere."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Fetched(NamedTuple):
    """A successful GET: the final URL (after redirects, for resolving relative links) and the body."""

    url: str
    content_type: str
    body: bytes


@functools.cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # loading the CA bundle costs ~50 ms: once per process, not per read


def http_client() -> httpx.Client:
    """A client per read (nothing carried between reads but the cursor); redirects are handled by fetch."""
    return httpx.Client(verify=_tls(), follow_redirects=False)


def may_receive_secrets(target: str, configured: str) -> bool:
    """Credentials go to the configured origin, or to its host over HTTPS (an http→https upgrade), nowhere else."""
    a, b = urlsplit(configured), urlsplit(target)
    return a.hostname == b.hostname and ((a.scheme, a.port) == (b.scheme, b.port) or b.scheme == "https")


def fetch(client: httpx.Client, url: str, timeout: float, headers: dict[str, str] | None = None) -> Fetched:
    """GET `url`, following redirects, any failure as Retryable.

    `timeout` bounds the whole exchange, not each socket wait, so a server trickling one byte at a time
    cannot hold a read forever. Redirects are followed here rather than by httpx because httpx would
    forward custom secret headers (X-Api-Key…) to whatever host a redirect names.
    """
    deadline, first = time.monotonic() + timeout, url
    for _ in range(MAX_REDIRECTS + 1):
        sent = headers if may_receive_secrets(url, first) else None
        fetched, location = _get(client, url, timeout, deadline, sent)
        if fetched is not None:
            return fetched
        url = urljoin(url, location)
    raise Retryable(f"GET {first}: more than {MAX_REDIRECTS} redirects")


def _get(
    client: httpx.Client, url: str, timeout: float, deadline: float, headers: dict[str, str] | None,
) -> tuple[Fetched | None, str]:
    """One request: the body, or (None, where a redirect points)."""
    try:
        with client.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.is_redirect:
                return None, response.headers["location"]
            if response.status_code >= 400:
                raise Retryable(f"GET {url}: HTTP {response.status_code} {response.reason_phrase}".rstrip())
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if time.monotonic() > deadline:
                    raise Retryable(f"GET {url}: no complete response within {timeout:g}s")
                if len(body) > MAX_BODY_BYTES:
                    raise Retryable(f"GET {url}: response larger than {MAX_BODY_BYTES} bytes")
    except httpx.TimeoutException as failure:
        raise Retryable(f"GET {url}: timed out after {timeout:g}s ({type(failure).__name__})") from failure
    except httpx.HTTPError as failure:
        raise Retryable(f"GET {url}: {type(failure).__name__}: {failure}") from failure
    return Fetched(str(response.url), response.headers.get("content-type", ""), bytes(body)), ""
