"""Real receivers on 127.0.0.1 for release tests and benches: an HTTP webhook receiver and an SMTP server
(aiosmtpd), both recording every message they accept, keyed by its idempotency key.

    with HttpReceiver() as hook, SmtpReceiver(auth=("crisis", "pw")) as smtp:
        hook.answer = lambda delivery: Answer(503)       # script faults: status, delay, per message
        ... release to hook.url and to smtp.host / smtp.port ...
        assert hook.counts()[key] == 1 and smtp.deliveries[0].text == approved_text

A message is recorded only when the receiver accepts it (HTTP 2xx, SMTP 250): a 5xx or a 4xx SMTP answer means
"not taken", and so does a 3xx. A `delay` is slept AFTER recording and before answering: the receiver has the
message, the sender may time out — the case a sender must report as in doubt. `on_receive(delivery)` runs at that
moment too (a test can kill the sender there). Both are context managers and safe to share across tests (`reset()`).

Like a real server, neither takes half a request for a request: the HTTP receiver reads a request only once its
head ended (the blank line) and its whole body arrived (Content-Length bytes, or every chunk up to the last one),
and counts a request cut before that in `incomplete`; aiosmtpd hands over a message only after the final dot line.
The HTTP receiver can answer a redirect (`Answer(307, location=...)`) or echo the request back in its answer
(`Answer(400, echo=True)`), as some servers do in their error pages.
"""

from __future__ import annotations

import asyncio
import base64
import email
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from crisiscomms.stack.ports import free_port


@dataclass(frozen=True)
class Answer:
    status: int = 200  # HTTP status, or SMTP code answering the end of data (250, 451, 554…)
    delay: float = 0.0  # seconds slept after recording (2xx) and before answering
    location: str | None = None  # HTTP: a Location header (for a 3xx)
    body: bytes = b""  # HTTP: the answer's body
    echo: bool = False  # HTTP: the request as received (head and body) put before `body`


@dataclass(frozen=True)
class Delivery:
    key: str  # Idempotency-Key header (HTTP) or the Message-ID's local part (SMTP)
    body: bytes  # exactly the bytes received
    headers: dict[str, str]
    head: bytes = b""  # HTTP: the request line and headers exactly as received
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        """The e-mail's text as its reader sees it (line ends as written, the transfer encoding undone)."""
        message = email.message_from_bytes(self.body, policy=policy.default)
        return str(message.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


class _Recorder:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.answer: Callable[[Delivery], Answer] = lambda delivery: Answer()
        self.on_receive: Callable[[Delivery], None] | None = None
        self.requests = 0  # every message seen whole, accepted or not
        self.incomplete = 0  # requests cut before their end (HTTP): no message, not counted in `requests`
        self._lock = threading.Lock()
        self._busy = 0

    def begin(self) -> None:
        with self._lock:
            self._busy += 1

    def receive(self, delivery: Delivery, accepted: Callable[[int], bool]) -> Answer:
        with self._lock:
            self.requests += 1
        answer = self.answer(delivery)
        if accepted(answer.status):
            with self._lock:
                self.deliveries.append(delivery)
        if self.on_receive:
            self.on_receive(delivery)
        return answer

    def cut(self) -> None:
        with self._lock:
            self.incomplete += 1

    def done(self) -> None:
        with self._lock:
            self._busy -= 1

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(d.key for d in self.deliveries)

    def reset(self) -> None:
        with self._lock:
            self.deliveries, self.requests, self.incomplete = [], 0, 0
        self.answer, self.on_receive = (lambda delivery: Answer()), None

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Until no message is being received or answered (a sender killed mid-request may leave one)."""
        deadline = time.monotonic() + timeout
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.005)


class HttpReceiver(_Recorder):
    """A threaded HTTP server taking POSTs on any path; `url` ends in /hook."""

    def __init__(self) -> None:
        super().__init__()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(self))
        self._server.daemon_threads = True  # a handler sleeping on a "slow" answer must not block shutdown
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _http_handler(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        rfile: _HeadReader  # type: ignore[assignment]

        def setup(self) -> None:
            super().setup()
            self.rfile = _HeadReader(self.rfile)

        def handle_one_request(self) -> None:
            self.rfile.lines.clear()
            super().handle_one_request()

        def do_POST(self) -> None:
            receiver.begin()
            try:
                self._take()
            except OSError:  # the sender went away (killed, timed out): nothing to answer
                self.close_connection = True
            finally:
                receiver.done()

        def _take(self) -> None:
            head, ended = b"".join(self.rfile.lines), self.rfile.lines[-1] in (b"\r\n", b"\n")
            try:
                body = _whole_body(self.rfile, self.headers) if ended else None
            except ValueError:  # a Content-Length or chunk size that is no number: refused, not taken
                self._answer(Answer(400), b"")
                return
            if body is None:  # the connection ended before the request did: no request
                receiver.cut()
                self.close_connection = True
                return
            delivery = Delivery(self.headers.get("Idempotency-Key", ""), body, dict(self.headers.items()), head)
            answer = receiver.receive(delivery, lambda status: 200 <= status < 300)
            time.sleep(answer.delay)
            self._answer(answer, head + body if answer.echo else b"")

        def _answer(self, answer: Answer, echoed: bytes) -> None:
            self.send_response(answer.status)
            if answer.location is not None:
                self.send_header("Location", answer.location)
            self.send_header("Content-Length", str(len(echoed) + len(answer.body)))
            self.end_headers()
            self.wfile.write(echoed + answer.body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class _HeadReader:
    """The request stream, keeping the lines read for the request head: a head ends with an empty line, and one
    cut by the connection's end does not (the standard library reads both alike)."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.lines = stream, list[bytes]()

    def readline(self, limit: int = -1) -> bytes:
        line: bytes = self.stream.readline(limit)
        self.lines.append(line)
        return line

    def read(self, size: int = -1) -> bytes:
        return bytes(self.stream.read(size))

    def close(self) -> None:
        self.stream.close()


def _whole_body(stream: _HeadReader, headers: Any) -> bytes | None:
    """The body once all of it arrived (Content-Length bytes, or chunks up to the last), None if the connection
    ended first; ValueError for a length that is no number."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return _chunks(stream.stream)
    length = int(headers.get("Content-Length", "0"))
    if length < 0:
        raise ValueError(f"negative Content-Length {length}")
    body = stream.read(length)
    return body if len(body) == length else None


def _chunks(stream: Any) -> bytes | None:
    body = b""
    while True:
        line = stream.readline(1024)
        if not line.endswith(b"\n"):
            return None
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            break
        chunk = stream.read(size + 2)  # the data and its CRLF
        if len(chunk) < size + 2:
            return None
        body += chunk[:size]
    while True:  # trailer fields, up to the empty line that ends the request
        line = stream.readline(8192)
        if not line.endswith(b"\n"):
            return None
        if line in (b"\r\n", b"\n"):
            return body


class SmtpReceiver(_Recorder):
    """An aiosmtpd server on 127.0.0.1; with `auth=(user, password)` it requires AUTH LOGIN/PLAIN (no TLS). With
    `echo_login`, a refused login is answered with what the client sent (AUTH PLAIN's base64), as some servers do."""

    def __init__(self, auth: tuple[str, str] | None = None, echo_login: bool = False) -> None:
        super().__init__()
        self.auth, self.echo_login = auth, echo_login
        self.logins: list[str] = []
        self.port = free_port()
        self.host = "127.0.0.1"
        options: dict[str, Any] = {}
        if auth:
            options = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self._controller = Controller(_SmtpHandler(self), hostname=self.host, port=self.port, **options)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.auth
        if ok:
            self.logins.append(data.login.decode())
        if not ok and self.echo_login and isinstance(data, LoginPassword):
            sent = base64.b64encode(b"\0" + data.login + b"\0" + data.password).decode()
            return AuthResult(success=False, handled=False, message=f"535 5.7.8 Refused: AUTH PLAIN {sent}")
        return AuthResult(success=ok, handled=False)

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


class _SmtpHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = bytes(envelope.original_content or envelope.content)
        message = email.message_from_bytes(content, policy=policy.default)
        key = str(message.get("Message-ID", "")).strip("<>").split("@")[0]
        headers = {name: str(value) for name, value in message.items()}
        headers["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.receiver.begin()
        try:
            answer = self.receiver.receive(Delivery(key, content, headers), lambda status: 200 <= status < 300)
            await asyncio.sleep(answer.delay)
        finally:
            self.receiver.done()
        return _SMTP_REPLIES.get(answer.status, f"{answer.status} answer scripted by the test")


_SMTP_REPLIES = {250: "250 OK", 451: "451 4.3.0 Local error, try again later",
                 554: "554 5.6.0 Message rejected"}

