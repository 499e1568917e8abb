"""Real HTTP servers on 127.0.0.1 for the source tests: routes answer with canned replies, hits are counted.

    with LocalServer() as server:
        server.route("/feed.xml", Reply(body=rss(...), content_type="application/rss+xml"))
        RssReader("presse", server.url("/feed.xml")).read(None)
        assert server.hits["/feed.xml"] == 1
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from crisiscomms.stack.ports import free_port


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0  # seconds to wait before answering: a server slower than the client's timeout
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


Route = Reply | Callable[[Request], Reply]


@dataclass
class LocalServer:
    """A threaded HTTP server on a free port; stopped on exit even if handlers are still sleeping."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True  # a sleeping "slow" handler must not block shutdown
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    def route(self, path: str, reply: Route) -> None:
        self.routes[path] = reply

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = Request(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}, dict(self.headers))
            server.hits[parts.path] += 1
            server.requests.append(request)
            route = server.routes.get(parts.path, Reply(404, b"not found", "text/plain"))
            reply = route(request) if callable(route) else route
            time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): exactly what the slow route is for

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output about the tests, not about each request

    return Handler


def closed_port_url() -> str:
    """A URL nobody listens on (connection refused): a free port, reserved for a minute."""
    return f"http://127.0.0.1:{free_port()}/feed.xml"


@dataclass
class Entry:
    id: str | None
    title: str
    summary: str
    when: Any  # datetime
    link: str | None = None


def rss(entries: list[Entry]) -> bytes:
    items = []
    for entry in entries:
        guid = f'<guid isPermaLink="false">{escape(entry.id)}</guid>' if entry.id else ""
        link = f"<link>{escape(entry.link)}</link>" if entry.link else ""
        items.append(f"<item><title>{escape(entry.title)}</title>{guid}{link}"
                     f"<description>{escape(entry.summary)}</description>"
                     f"<pubDate>{format_datetime(entry.when)}</pubDate><author>desk@presse.example</author></item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Presse</title>'
            f"<link>https://presse.example/</link><language>fr</language>{''.join(items)}</channel></rss>").encode()


def atom(entries: list[Entry]) -> bytes:
    items = []
    for entry in entries:
        items.append(f"<entry><id>{escape(entry.id or '')}</id><title>{escape(entry.title)}</title>"
                     f'<link href="{escape(entry.link or "")}"/><updated>{entry.when.isoformat()}</updated>'
                     f'<summary type="html">{escape(entry.summary)}</summary></entry>')
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">'
            "<title>Wire</title><id>urn:wire</id><updated>2026-03-12T08:00:00Z</updated>"
            f"{''.join(items)}</feed>").encode()
