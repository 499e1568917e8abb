"""Delivery faults found by a hostile tester (issue 14), each against the real receivers on 127.0.0.1: a 3xx taken
for a delivery, an error raised before anything left reported in doubt, secrets echoed back by a receiver, and
receivers that took half a request for a request."""

from __future__ import annotations

import base64
import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from crisiscomms.communication import channels, release, webhook
from crisiscomms.communication.messages import Variant
from crisiscomms.errors import CrisisError
from crisiscomms.playbook.models import Channel
from tests.unit.receivers import Answer, Delivery, HttpReceiver, SmtpReceiver
from tests.unit.release_packs import TEXT, pack, playbook, variant

HOOK, NEWS, MAIL, PAGE = (variant("alerte.clients.hook.fr", "hook"), variant("alerte.clients.news.fr", "news"),
                          variant("alerte.clients.mail.fr", "mail"), variant("alerte.clients.page.fr", "page"))
PLAYBOOK = playbook({"hook": {"kind": "webhook", "url_secret": "crisis-hook"},
                     "news": {"kind": "apprise", "url_secret": "crisis-news"},
                     "mail": {"kind": "email", "to": ["presse@exemple.fr"]},
                     "page": {"kind": "website"}})
USER, PASSWORD = "crisis", "p@ss w0rd!"
PATH_TOKEN, QUERY_TOKEN = "chemin-secret-7f3a", "jeton/très secret+42"

pytestmark = [pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")]


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


def release_one(tmp_path: Path, message: Variant, url: str = "", **options: Any) -> tuple[release.Receipt, dict]:
    """Release a pack of this one message (its channel's URL read from a secret block: any text can be given)."""
    one = pack(message)
    outbox = release.Outbox(tmp_path / "state.db")
    try:
        (receipt,) = release.release(PLAYBOOK, one, one["hash"], outbox, tmp_path / "outbox", sleep=lambda _: None,
                                     secrets=lambda block: url, **options)
        (row,) = outbox.rows()
    finally:
        outbox.close()
    return receipt, row


def request_line(delivery: Delivery) -> tuple[str, str]:
    method, target, _ = delivery.head.split(b"\r\n")[0].decode().split(" ")
    return method, target


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Wait for something another thread does (not a speed check: the bound only stops a broken test)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


# ── 1. a 3xx is no delivery; only same-origin 307/308 are followed ─────────────────────────────────────────────

@pytest.mark.parametrize("status", [307, 308])
def test_a_307_or_308_to_the_same_origin_is_followed_with_the_post_and_its_body(
        tmp_path: Path, hook: HttpReceiver, status: int) -> None:
    hook.answer = lambda d: Answer(status, location="/hook/moved") if request_line(d)[1] == "/hook/first" else Answer()
    receipt, row = release_one(tmp_path, HOOK, f"{hook.url}/first")
    assert (receipt.status, row["status"], hook.requests) == ("sent", "sent", 2)
    (delivery,) = hook.deliveries
    assert request_line(delivery) == ("POST", "/hook/moved") and delivery.json["text"] == TEXT


def test_a_redirect_to_another_host_is_failed_naming_the_location_and_nothing_goes_there(
        tmp_path: Path, hook: HttpReceiver) -> None:
    with HttpReceiver() as elsewhere:
        hook.answer = lambda d: Answer(307, location=f"{elsewhere.url}/{PATH_TOKEN}")
        receipt, row = release_one(tmp_path, HOOK, f"{hook.url}/{PATH_TOKEN}")
        again, _ = release_one(tmp_path, HOOK, f"{hook.url}/{PATH_TOKEN}")  # failed: the next release tries again
    port = httpx.URL(elsewhere.url).port
    assert (receipt.status, row["status"], again.status) == ("failed", "failed", "failed")
    assert (elsewhere.requests, hook.requests, hook.deliveries) == (0, 2, [])
    assert f"HTTP 307 redirect to http://***:{port}" in receipt.detail and "not followed" in receipt.detail
    assert PATH_TOKEN not in receipt.detail


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_would_turn_the_post_into_a_get_is_not_followed(
        tmp_path: Path, hook: HttpReceiver, status: int) -> None:
    hook.answer = lambda d: Answer(status, location="/hook/moved")
    receipt, row = release_one(tmp_path, HOOK, hook.url)
    assert (receipt.status, row["status"], hook.requests, hook.deliveries) == ("failed", "failed", 1, [])
    assert f"HTTP {status} redirect to ***/moved not followed" in receipt.detail  # the channel's path is hidden
    assert "only a 307 or 308 redirect keeps the message" in receipt.detail


@pytest.mark.parametrize("status", [300, 304, 307])
def test_a_3xx_without_a_location_is_not_a_delivery(tmp_path: Path, hook: HttpReceiver, status: int) -> None:
    hook.answer = lambda d: Answer(status)
    receipt, row = release_one(tmp_path, HOOK, hook.url)
    assert (receipt.status, row["status"], hook.deliveries) == ("failed", "failed", [])
    assert f"HTTP {status} without a redirect to follow, the message was not delivered" in receipt.detail


def test_redirects_are_followed_five_times_at_most(tmp_path: Path, hook: HttpReceiver) -> None:
    hook.answer = lambda d: Answer(307, location=request_line(d)[1])  # back to itself, for ever
    receipt, _ = release_one(tmp_path, HOOK, hook.url)
    assert receipt.status == "failed" and f"more than {webhook.MAX_REDIRECTS} redirects" in receipt.detail
    assert (hook.requests, hook.deliveries) == (webhook.MAX_REDIRECTS + 1, [])


def test_an_upgrade_to_https_on_the_same_host_and_port_is_followed(tmp_path: Path, hook: HttpReceiver) -> None:
    # The receiver speaks plain HTTP: the TLS handshake fails, a connection error (retried), not a refusal.
    hook.answer = lambda d: Answer(307, location=hook.url.replace("http://", "https://"))
    receipt, _ = release_one(tmp_path, HOOK, hook.url)
    assert receipt.status == "failed" and "ConnectError" in receipt.detail
    assert f"after {release.RETRIES} tries" in receipt.detail and "not followed" not in receipt.detail
    assert (hook.requests, hook.deliveries) == (release.RETRIES, [])


@pytest.mark.parametrize(("origin", "target", "followed"), [
    ("http://h.example/a", "http://h.example:80/b", True),
    ("http://h.example/a", "https://h.example/b", True),
    ("http://h.example:8080/a", "https://h.example:8080/b", True),
    ("http://h.example:8080/a", "https://h.example/b", True),
    ("http://h.example:8080/a", "https://h.example:8443/b", False),
    ("https://h.example/a", "http://h.example/b", False),
    ("http://h.example/a", "http://h.example:8080/a", False),
    ("http://h.example/a", "http://other.example/a", False),
    ("http://h.example/a", "http://h.example.other.example/a", False),
])
def test_only_the_same_origin_or_its_https_upgrade_is_followed(origin: str, target: str, followed: bool) -> None:
    assert webhook.same_origin(httpx.URL(origin), httpx.URL(target)) is followed


def test_apprise_follows_no_redirect_even_when_its_url_asks_for_it(tmp_path: Path, hook: HttpReceiver) -> None:
    with HttpReceiver() as elsewhere:
        hook.answer = lambda d: Answer(307, location=elsewhere.url)
        receipt, row = release_one(tmp_path, NEWS, f"json{hook.url.removeprefix('http')}?redirect=yes")
    assert (receipt.status, row["status"], elsewhere.requests, hook.deliveries) == ("failed", "failed", 0, [])
    assert "HTTP 307, a redirect, not followed: the message was not delivered" in receipt.detail


# ── 2. an error raised before anything left is `failed`, not `in_doubt` ─────────────────────────────────────────

@pytest.mark.parametrize("url", ["http://xn--a.example/hook", "http://a..b/hook", "http://[::1/hook",
                                 "http://127.0.0.1:1/hook\x00"], ids=["idna-xn", "idna-empty-label", "port", "nul"])
def test_a_url_the_client_cannot_use_fails_the_message_and_the_next_release_tries_again(
        tmp_path: Path, url: str) -> None:
    receipt, row = release_one(tmp_path, HOOK, url)
    assert (receipt.status, row["status"]) == ("failed", "failed")
    assert receipt.detail.startswith("webhook (secret block crisis-hook): the request could not be made, nothing was sent")
    again, row = release_one(tmp_path, HOOK, url)
    assert (again.status, row["status"], row["attempts"]) == ("failed", "failed", 2)


@pytest.mark.parametrize("key", ["clé-hors-ascii", "cle\r\nX-Injected: 1"], ids=["non-ascii", "line-break"])
def test_a_header_value_the_client_refuses_fails_before_the_request_leaves(
        hook: HttpReceiver, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("CRISIS_TEST_HOOK", hook.url)
    channel = Channel(kind="webhook", url_env="CRISIS_TEST_HOOK")
    with pytest.raises(CrisisError, match="the request could not be made, nothing was sent"):
        channels.send_webhook(HOOK, channel, key)
    channels.send_webhook(HOOK, channel, "cle-valide")  # the receiver works: only the refused request is missing
    assert ([d.key for d in hook.deliveries], hook.incomplete) == (["cle-valide"], 0)


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        for name, value in {"CRISIS_SMTP_HOST": server.host, "CRISIS_SMTP_PORT": str(server.port),
                            "CRISIS_SMTP_FROM": "crise@exemple.fr"}.items():
            monkeypatch.setenv(name, value)
        for name in ("CRISIS_SMTP_USER", "CRISIS_SMTP_PASSWORD", "CRISIS_SMTP_PASSWORD_SECRET"):
            monkeypatch.delenv(name, raising=False)
        yield server


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("CRISIS_SMTP_HOST", "a..b", "SMTP a..b: cannot connect (UnicodeError"),
    ("CRISIS_SMTP_PORT", "vingt-cinq", "CRISIS_SMTP_PORT is not a port number (1 to 65535): 'vingt-cinq'"),
])
def test_an_smtp_server_setting_that_cannot_be_used_fails_the_message_without_doubt(
        tmp_path: Path, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
        said: str) -> None:
    monkeypatch.setenv(variable, value)
    receipt, row = release_one(tmp_path, MAIL)
    assert (receipt.status, row["status"], smtp.requests) == ("failed", "failed", 0)
    assert receipt.detail.startswith(said)


def test_a_subject_with_a_line_break_fails_the_email_before_connecting(tmp_path: Path, smtp: SmtpReceiver) -> None:
    injected = variant("alerte.clients.mail.fr", "mail", subject="Rappel\r\nBcc: tous@exemple.fr")
    receipt, row = release_one(tmp_path, injected)
    assert (receipt.status, row["status"], smtp.requests) == ("failed", "failed", 0)
    assert "the message cannot be written as an e-mail (ValueError" in receipt.detail


def test_an_apprise_request_the_request_library_refuses_is_failed_not_in_doubt(
        tmp_path: Path, hook: HttpReceiver) -> None:
    receipt, row = release_one(tmp_path, NEWS, f"json{hook.url.removeprefix('http')}?+X-Cle=a%0Ab")
    assert (receipt.status, row["status"], hook.requests) == ("failed", "failed", 0)
    assert receipt.detail == ("apprise (secret block crisis-news): the request could not be made (a URL or header "
                              "value the request library refuses); nothing was sent")


def test_an_apprise_host_that_does_not_resolve_is_retried_then_failed(tmp_path: Path) -> None:
    receipt, row = release_one(tmp_path, NEWS, "json://xn--a.example/hook")
    assert (receipt.status, row["status"]) == ("failed", "failed")
    assert receipt.detail == f"apprise (secret block crisis-news): could not connect (after {release.RETRIES} tries)"


def test_an_exception_apprise_did_not_expect_leaves_the_message_in_doubt(tmp_path: Path, hook: HttpReceiver) -> None:
    # Apprise swallows it and logs no more than "Unhandled Notification Exception": whether it came before or after
    # the request left cannot be told, so the message is not resent on a guess (here: a header value in é€).
    receipt, row = release_one(tmp_path, NEWS, f"json{hook.url.removeprefix('http')}?+X-Cle=%C3%A9%E2%82%AC")
    assert (receipt.status, row["status"]) == ("in_doubt", "sending")
    assert "failed without saying whether the service got it" in receipt.detail


def test_a_sender_raising_what_it_did_not_foresee_leaves_only_that_message_in_doubt(
        tmp_path: Path, hook: HttpReceiver) -> None:
    def broken(message: Variant, channel: Channel, key: str) -> str:
        raise ValueError(f"bug quoting {PATH_TOKEN}")

    two = pack(HOOK, PAGE)
    outbox = release.Outbox(tmp_path / "state.db")
    first = release.release(PLAYBOOK, two, two["hash"], outbox, tmp_path / "outbox", senders={"hook": broken})
    second = release.release(PLAYBOOK, two, two["hash"], outbox, tmp_path / "outbox")
    outbox.close()
    assert [(r.channel, r.status) for r in first] == [("hook", "in_doubt"), ("page", "sent")]
    assert [(r.channel, r.status) for r in second] == [("hook", "in_doubt"), ("page", "already_sent")]
    assert "the sender failed unexpectedly (ValueError) while sending" in first[0].detail
    assert PATH_TOKEN not in first[0].detail and hook.requests == 0


# ── 3. a receiver echoing the request back leaks no secret, in any form ────────────────────────────────────────

def secret_url(hook: HttpReceiver) -> str:
    return (f"http://{USER}:{quote(PASSWORD, safe='')}@{hook.url.removeprefix('http://')}/{PATH_TOKEN}"
            f"?cle={quote(QUERY_TOKEN, safe='')}")


def leaked(text: str) -> list[str]:
    """Every form of a secret found in `text`, and a secret's beginning (4+ characters) left at its end."""
    secrets = [PASSWORD, PATH_TOKEN, QUERY_TOKEN, f"{USER}:{PASSWORD}", f"\0{USER}\0{PASSWORD}"]
    forms = set()
    for secret in secrets:
        encoded = base64.b64encode(secret.encode()).decode()
        forms |= {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), encoded, encoded.rstrip("=")}
    found = [form for form in forms if form.lower() in text.lower()]
    return found + [s[:n] for s in secrets for n in range(4, len(s)) if text.endswith(s[:n])]


def _header(delivery: Delivery, name: str) -> str:
    return {key.lower(): value for key, value in delivery.headers.items()}[name]


ECHOES: dict[str, Callable[[Delivery], Answer]] = {
    "the whole request": lambda d: Answer(400, echo=True),
    "the Basic authorization": lambda d: Answer(400, body=_header(d, "authorization").encode()),
    "the authorization unpadded": lambda d: Answer(400, body=_header(d, "authorization").rstrip("=").encode()),
    "the request line": lambda d: Answer(400, body=d.head.split(b"\r\n")[0]),
    "the query form-encoded": lambda d: Answer(400, body=f"cle={quote_plus(QUERY_TOKEN)}".encode()),
    "the query decoded": lambda d: Answer(400, body=f"cle={QUERY_TOKEN}".encode()),
    "a token across the 200th character": lambda d: Answer(400, body=b"x" * 195 + PATH_TOKEN.encode() + b" fin"),
    "a token the receiver cut": lambda d: Answer(400, body=b"x" * 150 + PATH_TOKEN[:9].encode()),
}


@pytest.mark.parametrize("echo", ECHOES)
def test_a_receiver_echoing_the_request_back_leaks_no_secret(tmp_path: Path, hook: HttpReceiver, echo: str) -> None:
    hook.answer = ECHOES[echo]
    receipt, row = release_one(tmp_path, HOOK, secret_url(hook))
    assert (receipt.status, hook.requests) == ("failed", 1)
    assert "HTTP 400" in receipt.detail and "***" in receipt.detail  # something was echoed, and hidden
    assert leaked(receipt.detail) == [] and leaked(str(row)) == []


def test_an_smtp_server_echoing_a_refused_login_leaks_no_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpReceiver(auth=(USER, "le-bon-mot-de-passe"), echo_login=True) as server:
        for name, value in {"CRISIS_SMTP_HOST": server.host, "CRISIS_SMTP_PORT": str(server.port),
                            "CRISIS_SMTP_USER": USER, "CRISIS_SMTP_PASSWORD": PASSWORD}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("CRISIS_SMTP_PASSWORD_SECRET", raising=False)
        receipt, row = release_one(tmp_path, MAIL)
    assert (receipt.status, server.requests) == ("failed", 0)
    assert "535 5.7.8 Refused: AUTH PLAIN ***" in receipt.detail
    assert leaked(receipt.detail) == [] and leaked(str(row)) == []


# ── 4. the receivers take no half request for a request ──────────────────────────────────────────────────────────

HEAD = b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nIdempotency-Key: k-1\r\nContent-Type: application/json\r\n"
BODY = b'{"text": "Rappel de precaution"}'
LENGTH = b"Content-Length: %d\r\n\r\n" % len(BODY)
CHUNKED = b"Transfer-Encoding: chunked\r\n\r\n"
CUT = {"in the head": HEAD,
       "in the body": HEAD + LENGTH + BODY[:9],
       "before the last chunk": HEAD + CHUNKED + b"%x\r\n" % len(BODY) + BODY + b"\r\n"}
WHOLE = {"with a Content-Length": HEAD + LENGTH + BODY,
         "in chunks": HEAD + CHUNKED + b"9\r\n" + BODY[:9] + b"\r\n%x;ext=1\r\n" % len(BODY[9:]) + BODY[9:]
         + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"}


def _send_raw(receiver: HttpReceiver, data: bytes) -> bytes:
    """Send `data`, close the sending side, return whatever was answered."""
    with socket.create_connection(("127.0.0.1", httpx.URL(receiver.url).port), timeout=5) as connection:
        connection.sendall(data)
        connection.shutdown(socket.SHUT_WR)
        return connection.makefile("rb").read()


@pytest.mark.parametrize("cut", CUT)
def test_the_http_receiver_takes_no_request_cut_before_its_end(hook: HttpReceiver, cut: str) -> None:
    answered = _send_raw(hook, CUT[cut])
    assert wait_until(lambda: hook.incomplete == 1)
    assert (answered, hook.requests, hook.deliveries) == (b"", 0, [])


@pytest.mark.parametrize("whole", WHOLE)
def test_the_http_receiver_takes_a_request_whose_body_arrived_whole(hook: HttpReceiver, whole: str) -> None:
    answered = _send_raw(hook, WHOLE[whole])
    assert answered.startswith(b"HTTP/1.1 200")
    (delivery,) = hook.deliveries
    assert (delivery.key, delivery.body, hook.incomplete) == ("k-1", BODY, 0)


def test_the_smtp_receiver_takes_no_message_whose_data_never_ended() -> None:
    with SmtpReceiver() as server:
        server.answer = lambda delivery: Answer(250)
        with socket.create_connection((server.host, server.port), timeout=5) as connection:
            replies = connection.makefile("rb")
            replies.readline()  # the greeting
            for command in (b"HELO test", b"MAIL FROM:<crise@exemple.fr>", b"RCPT TO:<presse@exemple.fr>", b"DATA"):
                connection.sendall(command + b"\r\n")
                replies.readline()
            connection.sendall(b"Message-ID: <coupe@crisiscomms>\r\nSubject: Rappel\r\n\r\nTexte sans point final\r\n")
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:  # then a whole one, on a new connection
            client.sendmail("crise@exemple.fr", ["presse@exemple.fr"],
                            b"Message-ID: <entier@crisiscomms>\r\nSubject: Rappel\r\n\r\nTexte entier\r\n")
    assert ([d.key for d in server.deliveries], server.requests) == (["entier"], 1)
