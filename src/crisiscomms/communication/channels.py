"""The channels a message leaves by: SMTP, JSON webhook, Apprise, the file outbox; and the secrets they need.

A sender takes (variant, channel, idempotency key) and returns a receipt text, or raises `TransientError` (the
channel certainly did not take the message: worth retrying), `InDoubt` (it may have: never resent automatically)
or `CrisisError` (refused for good). `crisiscomms.communication.release` decides what to do with each outcome.

Secrets are read at send time and never written to YAML, logs, receipts or error messages:
- a channel URL (webhook, apprise) from the environment variable named by `url_env`, or from the Prefect Secret
  block named by `url_secret` (exactly one of them; the playbook model checks it). This library does not import
  Prefect: the caller passes `secrets=` (block name → value, `Secret.load(name).get()` in the Prefect task).
- SMTP: CRISIS_SMTP_HOST, CRISIS_SMTP_PORT (25), CRISIS_SMTP_FROM, CRISIS_SMTP_USER; the password from
  CRISIS_SMTP_PASSWORD or from the Secret block named by CRISIS_SMTP_PASSWORD_SECRET (not both). STARTTLS is used
  whenever the server offers it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import smtplib
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, runtime_checkable

import httpx

from crisiscomms.communication.messages import Variant
from crisiscomms.errors import CrisisError
from crisiscomms.playbook.models import Channel

TIMEOUT = 10.0  # seconds to connect, and to wait for an answer


class TransientError(Exception):
    """A failure worth retrying, where the channel certainly did not take the message (refused, 5xx, 4xx SMTP)."""


class InDoubt(Exception):
    """The message may have reached the channel (connection lost or timed out after handing it over)."""


Sender = Callable[[Variant, Channel, str], str]
SecretReader = Callable[[str], str]  # Secret block name → value


@runtime_checkable
class Verifiable(Protocol):
    """A sender that can tell by itself whether a message with this key was delivered."""

    def delivered(self, variant: Variant, channel: Channel, key: str) -> bool: ...


# ── secrets ──────────────────────────────────────────────────────────────────────────────────────────────────

def _secret(block: str, secrets: SecretReader | None, what: str) -> str:
    if secrets is None:
        raise CrisisError(f"{what} is in the Prefect Secret block {block!r}, but no secret reader was given "
                          "(release inside a Prefect task, which reads Secret blocks)")
    try:
        value = secrets(block)
    except Exception as exc:  # the reader's message may quote the value: name only its type
        raise CrisisError(f"{what}: the Prefect Secret block {block!r} could not be read "
                          f"({type(exc).__name__})") from None
    if not value:
        raise CrisisError(f"{what}: the Prefect Secret block {block!r} is empty")
    return str(value)


def channel_url(name: str, channel: Channel, secrets: SecretReader | None) -> tuple[str, str]:
    """The channel's URL and a label safe to show (where it came from, never the URL)."""
    if channel.url_secret:
        label = f"secret block {channel.url_secret}"
        return _secret(channel.url_secret, secrets, f"channel {name}: the URL"), label
    variable = channel.url_env or ""
    url = os.environ.get(variable)
    if not url:
        raise CrisisError(f"channel {name}: environment variable {variable or '(url_env unset)'} holds no URL")
    return url, f"env {variable}"


def smtp_password(secrets: SecretReader | None) -> str:
    block = os.environ.get("CRISIS_SMTP_PASSWORD_SECRET")
    if block and os.environ.get("CRISIS_SMTP_PASSWORD"):
        raise CrisisError("SMTP password: set CRISIS_SMTP_PASSWORD or CRISIS_SMTP_PASSWORD_SECRET, not both")
    if block:
        return _secret(block, secrets, "the SMTP password")
    return os.environ.get("CRISIS_SMTP_PASSWORD", "")


def scrub(text: str, *secrets: str) -> str:
    """`text` without any secret in it (nor the parts of a URL that may carry a token)."""
    parts = set()
    for secret in filter(None, secrets):
        parts.add(secret)
        with suppress(Exception):
            url = httpx.URL(secret)
            parts |= {url.host, url.userinfo.decode(), url.path, url.query.decode(), *url.path.split("/"),
                      *url.params.values()}
    for part in sorted((p for p in parts if len(p) >= 4), key=len, reverse=True):
        text = text.replace(part, "***")
    return text


# ── senders ──────────────────────────────────────────────────────────────────────────────────────────────────

def email_message(variant: Variant, channel: Channel, key: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = os.environ.get("CRISIS_SMTP_FROM", "crisiscomms@localhost")
    message["To"] = ", ".join(channel.to)
    message["Subject"] = variant.subject or variant.kind
    message["Message-ID"] = f"<{key}@crisiscomms>"
    message.set_content(variant.text, cte="quoted-printable")  # 7-bit safe through any server
    return message


def send_email(variant: Variant, channel: Channel, key: str, secrets: SecretReader | None = None) -> str:
    host = os.environ.get("CRISIS_SMTP_HOST")
    if not host or not channel.to:
        raise CrisisError(f"channel {variant.channel}: set CRISIS_SMTP_HOST and the channel's `to`")
    user = os.environ.get("CRISIS_SMTP_USER")
    password = smtp_password(secrets) if user else ""
    message = email_message(variant, channel, key)
    try:
        smtp = smtplib.SMTP(host, int(os.environ.get("CRISIS_SMTP_PORT", "25")), timeout=TIMEOUT)
    except OSError as exc:  # nothing handed over yet
        raise TransientError(f"SMTP {host}: {scrub(str(exc), password)}") from None
    try:
        _smtp_envelope(smtp, host, user, password, message["From"], channel.to)
        _smtp_data(smtp, host, message)
    finally:
        with suppress(Exception):  # the message is handed over (or not) already: QUIT changes nothing
            smtp.quit()
        smtp.close()
    return f"smtp {host}: accepted for {len(channel.to)} recipient(s), Message-ID <{key}@crisiscomms>"


def _smtp_envelope(smtp: smtplib.SMTP, host: str, user: str | None, password: str, sender: str,
                   recipients: list[str]) -> None:
    """Greeting, login, MAIL FROM, RCPT TO: nothing is delivered whatever fails here."""
    try:
        smtp.ehlo_or_helo_if_needed()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=tls_context())
            smtp.ehlo()
        if user:
            smtp.login(user, password)
        _smtp_check(host, "MAIL FROM", *smtp.mail(sender))
        for recipient in recipients:  # one refused → none sent: all recipients get it, or none does
            _smtp_check(host, f"RCPT TO {recipient}", *smtp.rcpt(recipient))
    except smtplib.SMTPResponseException as exc:
        _smtp_check(host, "", exc.smtp_code, exc.smtp_error, password)
    except smtplib.SMTPNotSupportedError as exc:
        raise CrisisError(f"SMTP {host}: {exc}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientError(f"SMTP {host}: {scrub(str(exc), password)}") from None


def _smtp_data(smtp: smtplib.SMTP, host: str, message: EmailMessage) -> None:
    try:
        code, reply = smtp.data(message.as_bytes(policy=policy.SMTP))
    except smtplib.SMTPDataError as exc:  # DATA itself refused: the text was not sent
        _smtp_check(host, "DATA", exc.smtp_code, exc.smtp_error)
        return
    except (OSError, smtplib.SMTPException) as exc:  # cut off around the end of data: maybe accepted
        raise InDoubt(f"SMTP {host}: connection lost around the end of the message ({exc}); look for "
                      f"Message-ID {message['Message-ID']} in the recipients' mailboxes or the server's log") from None
    _smtp_check(host, "end of data", code, reply)


def _smtp_check(host: str, step: str, code: int, reply: bytes | str, *secrets: str) -> None:
    if 200 <= code < 300:
        return
    text = scrub(reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply), *secrets)
    detail = f"SMTP {host}: {step + ': ' if step else ''}{code} {text}"
    if 400 <= code < 500:
        raise TransientError(detail)
    raise CrisisError(detail)


def send_webhook(variant: Variant, channel: Channel, key: str, secrets: SecretReader | None = None) -> str:
    url, label = channel_url(variant.channel, channel, secrets)
    body = {"id": variant.id, "kind": variant.kind, "audience": variant.audience, "language": variant.language,
            "subject": variant.subject, "text": variant.text, "idempotency_key": key}
    try:
        with quiet_transport_logs():
            response = httpx.post(url, json=body, headers={"Idempotency-Key": key}, timeout=TIMEOUT,
                                  verify=tls_context())
    except (httpx.UnsupportedProtocol, httpx.InvalidURL):
        raise CrisisError(f"webhook ({label}): not an http(s) URL") from None
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # never reached the receiver
        raise TransientError(f"webhook ({label}): {type(exc).__name__} {scrub(str(exc), url)}") from None
    except httpx.TransportError as exc:  # sent, then no answer: the receiver may have it
        raise InDoubt(f"webhook ({label}): {type(exc).__name__} after sending; ask the receiver whether it has "
                      f"Idempotency-Key {key}") from None
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise TransientError(f"webhook ({label}): HTTP {response.status_code}")
    if response.status_code >= 400:
        raise CrisisError(f"webhook ({label}): HTTP {response.status_code} {scrub(response.text[:200], url)}")
    return f"webhook ({label}): HTTP {response.status_code}"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's defaults) for every send: building one costs ~25 ms (it loads the CA bundle)."""
    return httpx.create_ssl_context()


_KEYED_APPRISE = re.compile(r"^(json|form|xml)s?://", re.IGNORECASE)
_SAFE_APPRISE = re.compile(r"NewConnectionError|Failed to establish a new connection|ConnectTimeout|"
                           r"Connection refused")


def send_apprise(variant: Variant, channel: Channel, key: str, secrets: SecretReader | None = None) -> str:
    import apprise  # here: ~0.2 s and a DeprecationWarning at import, for apprise channels only

    url, label = channel_url(variant.channel, channel, secrets)
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    with apprise_log() as lines:
        if not notifier.add(_keyed_apprise_url(url, key)):
            raise CrisisError(f"apprise ({label}): not a URL Apprise knows")
        longest = notifier[0].body_maxlen
        if len(variant.text) > longest:  # Apprise or the service would cut or split it: not the approved text
            raise CrisisError(f"apprise ({label}): the text has {len(variant.text)} characters, the service takes "
                              f"{longest}")
        if notifier.notify(body=variant.text, title=variant.subject):
            return f"apprise ({label}): accepted"
    raise apprise_failure(label, key, "\n".join(lines))


def _keyed_apprise_url(url: str, key: str) -> str:
    """The generic HTTP services take the key as header and body field; the others carry only the text."""
    if not _KEYED_APPRISE.match(url):
        return url
    return f"{url}{'&' if '?' in url else '?'}+Idempotency-Key={key}&:idempotency_key={key}"


def apprise_failure(label: str, key: str, log: str) -> Exception:
    """Apprise answers False and says why only in its log: read the HTTP code or the kind of connection error
    there. The log may quote the URL, so none of it goes into the error."""
    code = re.search(r"error=(\d{3})", log)
    if code and code[1].startswith("4") and code[1] not in ("408", "429"):
        return CrisisError(f"apprise ({label}): refused, HTTP {code[1]}")
    if code:
        return TransientError(f"apprise ({label}): HTTP {code[1]}")
    if _SAFE_APPRISE.search(log):
        return TransientError(f"apprise ({label}): could not connect")
    return InDoubt(f"apprise ({label}): failed without saying whether the service got it; check the channel for "
                   f"the message (key {key})")


# Libraries under the senders log the request URL (httpx at INFO, urllib3 and Apprise at DEBUG), and the URL is a
# secret: while a send runs they log nothing above ERROR, and Apprise's lines go to the sender only.
_QUIETED = ("httpx", "httpcore", "urllib3", "requests")
_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_levels: dict[str, int] = {}


@contextmanager
def quiet_transport_logs() -> Iterator[None]:
    """Nested and concurrent sends share one quiet period: the first in saves the levels, the last out restores."""
    global _quiet_depth
    with _quiet_lock:
        if _quiet_depth == 0:
            for name in (*_QUIETED, "apprise"):
                _saved_levels[name] = logging.getLogger(name).level
            for name in _QUIETED:
                logging.getLogger(name).setLevel(logging.ERROR)
            logging.getLogger("apprise").propagate = False
            logging.getLogger("apprise").setLevel(logging.DEBUG)  # setLevel: it also clears the enabled-for cache
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                for name, level in _saved_levels.items():
                    logging.getLogger(name).setLevel(level)
                logging.getLogger("apprise").propagate = True


@contextmanager
def apprise_log() -> Iterator[list[str]]:
    """Apprise's log lines of this thread during a send, kept from every other handler."""
    lines: list[str] = []
    handler = _ListHandler(lines, threading.get_ident())
    logger = logging.getLogger("apprise")
    with quiet_transport_logs():
        logger.addHandler(handler)
        try:
            yield lines
        finally:
            logger.removeHandler(handler)


class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str], thread: int) -> None:
        super().__init__(logging.DEBUG)
        self.lines, self.thread = lines, thread

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.lines.append(record.getMessage())


@dataclass(frozen=True)
class FileSender:
    """One JSON file a message under `<folder>/<channel>/<key>.json`; it can tell whether a key was delivered."""

    folder: Path

    def target(self, variant: Variant, key: str) -> Path:
        return self.folder / variant.channel / f"{key}.json"

    def __call__(self, variant: Variant, channel: Channel, key: str) -> str:
        target = self.target(variant, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps({**variant.model_dump(exclude={"problems"}), "idempotency_key": key},
                                        ensure_ascii=False, indent=1), encoding="utf-8")
        temporary.replace(target)  # atomic: a reader never sees half a message, a crash leaves none or all
        return f"file {target}"

    def delivered(self, variant: Variant, channel: Channel, key: str) -> bool:
        return self.target(variant, key).is_file()


def file_sender(outbox_dir: Path) -> FileSender:
    return FileSender(outbox_dir)


def sender_for(channel: Channel, outbox_dir: Path, secrets: SecretReader | None = None) -> Sender:
    network = {"email": send_email, "webhook": send_webhook, "apprise": send_apprise}.get(channel.kind)
    if network is None:
        return file_sender(outbox_dir)
    return lambda variant, chan, key: network(variant, chan, key, secrets)
