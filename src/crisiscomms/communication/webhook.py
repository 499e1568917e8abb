"""One webhook POST: whether it may have reached the receiver when it fails, and which redirects it follows.

A receiver holds a request only once the whole of it arrived: a request cut in its headers or its body is no
request (a server waits for Content-Length bytes, or the last chunk). So an error raised before the request's last
byte was handed to the network (a URL or a header value httpx refuses, an IDNA error, a refused connection, a
write cut off) means the message was not delivered: `Unsent`. After it, the receiver may have it: `Unsettled`.
httpcore's `trace` extension (documented by httpx) says when the body of the POST went out completely.

A 3xx is not a delivery. Only a 307 or 308 keeps the method and the body, so only they are followed, and only to
the same origin (same scheme, host and port) or from http to https on the same host (port 443 or the same one):
the message and its key never go to a host the playbook does not name. At most MAX_REDIRECTS are followed.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx

MAX_REDIRECTS = 5
EXCERPT_BYTES = 4096  # of an error body: enough to say why, and a hostile receiver cannot make us read more
KEPT_ON_REDIRECT = (307, 308)


class Unsent(Exception):
    """Raised before the last byte of the request left: the receiver cannot hold the message (`__cause__`: why)."""


class Unsettled(Exception):
    """Raised after the whole request left: the receiver may hold the message (`__cause__`: why)."""


class RedirectRefused(Exception):
    """A redirect not followed; `location` is the receiver's Location header (it may quote a secret)."""

    def __init__(self, status: int, location: str, why: str) -> None:
        super().__init__(f"HTTP {status} to {location}: {why}")
        self.status, self.location, self.why = status, location, why


@dataclass(frozen=True)
class Answer:
    """The final answer: its status, and the beginning of its body (read only for a status that is no delivery)."""

    status: int
    body: bytes


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, verify: ssl.SSLContext) -> Answer:
    """POST `body` to `url`, following same-origin 307/308 redirects; raises Unsent, Unsettled or RedirectRefused."""
    try:
        client = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)
    except Exception as exc:  # proxy settings from the environment, for one: nothing was sent
        raise Unsent(str(exc)) from exc
    with client:
        target = url
        for hop in range(MAX_REDIRECTS + 1):
            answer, location = _post_once(client, target, body, headers)
            if location is None:
                return answer
            target = next_hop(target, answer.status, location)
            if hop == MAX_REDIRECTS:
                raise RedirectRefused(answer.status, location, f"more than {MAX_REDIRECTS} redirects")
    raise AssertionError("unreachable")


def next_hop(current: str, status: int, location: str) -> str:
    """The URL a redirect leads to, if it is one to follow; else RedirectRefused."""
    if status not in KEPT_ON_REDIRECT:
        raise RedirectRefused(status, location, "only a 307 or 308 redirect keeps the message (a 301, 302 or 303 "
                                                "turns the POST into a GET without it)")
    try:
        target = httpx.URL(current).join(location)
    except Exception as exc:  # an unparseable Location: nothing to follow
        raise RedirectRefused(status, location, f"not a URL ({type(exc).__name__})") from None
    if not same_origin(httpx.URL(current), target):
        raise RedirectRefused(status, location, "not the channel's host and port: the message would go elsewhere")
    return str(target)


def same_origin(origin: httpx.URL, target: httpx.URL) -> bool:
    """Same scheme, host and port; or the same host upgraded from http to https (port 443 or unchanged)."""
    if target.host != origin.host:
        return False
    if target.scheme == origin.scheme:
        return _port(target) == _port(origin)
    return (origin.scheme, target.scheme) == ("http", "https") and _port(target) in (443, _port(origin))


def _port(url: httpx.URL) -> int | None:
    return url.port or {"http": 80, "https": 443}.get(url.scheme)


def _post_once(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> tuple[Answer, str | None]:
    """One request: the answer, and the Location to go to next when it is a redirect."""
    left = _RequestLeft()
    try:
        request = client.build_request("POST", url, content=body, headers=headers, extensions={"trace": left})
        response = client.send(request, stream=True)
    except Exception as exc:  # httpx errors, and those it does not wrap (IDNA, a header it cannot encode)
        raise (Unsettled if left.whole else Unsent)(str(exc)) from exc
    try:
        if 300 <= response.status_code < 400 and "location" in response.headers:
            return Answer(response.status_code, b""), response.headers["location"]
        delivered = 200 <= response.status_code < 300
        return Answer(response.status_code, b"" if delivered else _beginning(response)), None
    finally:
        response.close()


def _beginning(response: httpx.Response) -> bytes:
    """Up to EXCERPT_BYTES of the body; what could be read if the receiver stops mid-way (the status is known)."""
    read = b""
    try:
        for chunk in response.iter_raw():  # not decoded: a small compressed body cannot swell in memory
            read += chunk
            if len(read) >= EXCERPT_BYTES:
                break
    except httpx.HTTPError:
        pass
    return read[:EXCERPT_BYTES]


class _RequestLeft:
    """httpcore's trace callback: `whole` once the POST's body (its last byte) was handed to the network. The
    `.complete` event carries no request: the body is the POST's when its `.started` event named one (a proxy's
    CONNECT request has a body too, an empty one)."""

    def __init__(self) -> None:
        self.whole = False
        self._posting = False

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(".send_request_body.started"):
            self._posting = getattr(info.get("request"), "method", None) == b"POST"
        elif event.endswith(".send_request_body.complete") and self._posting:
            self.whole = True
