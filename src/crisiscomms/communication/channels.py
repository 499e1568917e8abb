"""The channels a message leaves by: SMTP, JSON webhook, Apprise, the file outbox; and the secrets they need.

A sender takes (variant, channel, idempotency key) and returns a receipt text, or raises `TransientError` (the
channel certainly did not take the message: worth retrying), `InDoubt` (it may have: never resent automatically)
or `CrisisError` (refused, or the request could not even be made: nothing was sent). An error raised before the
message could have left is never `InDoubt`. `crisiscomms.communication.release` decides what to do with each outcome.
The webhook's HTTP exchange (redirects, when a request may have arrived) is in `webhook`; hiding secrets in the
texts of errors, in every form a receiver may echo them, in `scrubbing`.

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
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx

from crisiscomms import clock
from crisiscomms.communication import webhook
from crisiscomms.communication.messages import Variant
from crisiscomms.communication.scrubbing import credentials, excerpt, scrub
from crisiscomms.communication.transport_log import apprise_log, quiet_transport_logs
from crisiscomms.errors import CrisisError, printable
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
    port = smtp_port()
    user = os.environ.get("CRISIS_SMTP_USER")
    password = smtp_password(secrets) if user else ""
    hidden = (password, *credentials(user or "", password))  # AUTH PLAIN carries both, base64-encoded
    message, data = email_data(variant, channel, key)
    smtp = _smtp_connect(host, port, hidden)
    try:
        _smtp_envelope(smtp, host, user, password, message["From"], channel.to, hidden)
        _smtp_data(smtp, host, data, message["Message-ID"])
    finally:
        with suppress(Exception):  # the message is handed over (or not) already: QUIT changes nothing
            smtp.quit()
        smtp.close()
    return f"smtp {host}: accepted for {len(channel.to)} recipient(s), Message-ID <{key}@crisiscomms>"


def smtp_port() -> int:
    text = os.environ.get("CRISIS_SMTP_PORT", "25")
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise CrisisError(f"CRISIS_SMTP_PORT is not a port number (1 to 65535): {printable(text)[:20]!r}")
    return int(text)


def email_data(variant: Variant, channel: Channel, key: str) -> tuple[EmailMessage, bytes]:
    """The e-mail and the bytes DATA carries: a line starting with a dot doubled, ended by a line of one dot."""
    try:
        message = email_message(variant, channel, key)
        text = message.as_bytes(policy=policy.SMTP)
    except Exception as exc:  # a line break in the subject or an address, for one: nothing was sent
        raise CrisisError(f"channel {variant.channel}: the message cannot be written as an e-mail "
                          f"({type(exc).__name__}: {printable(str(exc))[:200]}); nothing was sent") from None
    stuffed = re.sub(rb"(?m)^\.", b"..", text)
    return message, stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def _smtp_connect(host: str, port: int, hidden: tuple[str, ...]) -> smtplib.SMTP:
    try:
        return smtplib.SMTP(host, port, timeout=TIMEOUT)
    except OSError as exc:  # refused, unreachable, no greeting: nothing handed over yet
        raise TransientError(f"SMTP {host}: {scrub(str(exc), *hidden)}") from None
    except Exception as exc:  # an IDNA error for the host name, for one: nothing handed over either
        raise CrisisError(f"SMTP {host}: cannot connect ({type(exc).__name__}: {excerpt(str(exc), 200, *hidden)}); "
                          "nothing was sent") from None


def _smtp_envelope(smtp: smtplib.SMTP, host: str, user: str | None, password: str, sender: str,
                   recipients: list[str], hidden: tuple[str, ...]) -> None:
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
        _smtp_check(host, "", exc.smtp_code, exc.smtp_error, *hidden)
    except smtplib.SMTPNotSupportedError as exc:
        raise CrisisError(f"SMTP {host}: {exc}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientError(f"SMTP {host}: {scrub(str(exc), *hidden)}") from None
    except Exception as exc:  # a non-ASCII address the server cannot take, for one: the text never left
        raise CrisisError(f"SMTP {host}: {type(exc).__name__} before the message was sent: "
                          f"{excerpt(str(exc), 200, *hidden)}") from None


def _smtp_data(smtp: smtplib.SMTP, host: str, data: bytes, message_id: str) -> None:
    """DATA, the text, the server's answer. The server takes a message only with its final dot line, so until
    the last byte of `data` left, nothing is delivered; after it, a lost answer leaves the message in doubt."""
    try:
        code, reply = smtp.docmd("DATA")
    except (OSError, smtplib.SMTPException) as exc:
        raise TransientError(f"SMTP {host}: DATA: {exc}") from None
    if code != 354:
        _smtp_check(host, "DATA", code, reply)
        raise CrisisError(f"SMTP {host}: DATA: answered {code} instead of 354, the text was not sent")
    try:
        smtp.send(data)
    except (OSError, smtplib.SMTPException) as exc:  # cut before the final dot line: the server drops the text
        raise TransientError(f"SMTP {host}: connection lost while sending the text ({exc})") from None
    try:
        code, reply = smtp.getreply()
    except Exception as exc:  # the whole text left: the server may have accepted it
        raise InDoubt(f"SMTP {host}: no answer after the end of the message ({type(exc).__name__}); look for "
                      f"Message-ID {message_id} in the recipients' mailboxes or the server's log") from None
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
    where = f"webhook ({label})"
    body = {"id": variant.id, "kind": variant.kind, "audience": variant.audience, "language": variant.language,
            "subject": variant.subject, "text": variant.text, "idempotency_key": key}
    headers = {"Content-Type": "application/json", "Idempotency-Key": key,
               "Accept-Encoding": "identity"}  # an error body is read raw, a few KiB at most
    try:
        with quiet_transport_logs():
            answer = webhook.post(url, json.dumps(body, ensure_ascii=False).encode(), headers, TIMEOUT,
                                  tls_context())
    except webhook.Unsent as exc:
        raise _unsent(where, exc.__cause__, url) from None
    except webhook.Unsettled as exc:  # the whole request left, then no answer: the receiver may have it
        raise InDoubt(f"{where}: {type(exc.__cause__).__name__} after sending; ask the receiver whether it has "
                      f"Idempotency-Key {key}") from None
    except webhook.RedirectRefused as exc:
        raise CrisisError(f"{where}: HTTP {exc.status} redirect to {printable(excerpt(exc.location, 200, url))} "
                          f"not followed, the message was not delivered: {exc.why}") from None
    return _answered(where, answer, url)


def _unsent(where: str, cause: BaseException | None, url: str) -> Exception:
    """Nothing left: worth retrying when the network failed, refused for good when the request cannot be made."""
    if isinstance(cause, httpx.UnsupportedProtocol):
        return CrisisError(f"{where}: not an http(s) URL")
    why = f"{type(cause).__name__} {printable(excerpt(str(cause), 200, url))}"
    if isinstance(cause, httpx.TransportError) and not isinstance(cause, httpx.LocalProtocolError):
        return TransientError(f"{where}: {why}")
    return CrisisError(f"{where}: the request could not be made, nothing was sent ({why})")


def _answered(where: str, answer: webhook.Answer, url: str) -> str:
    """A 2xx is a delivery; any other status is not (a 3xx without a Location to follow included)."""
    status = answer.status
    if 200 <= status < 300:
        return f"{where}: HTTP {status}"
    if status >= 500 or status in (408, 429):
        raise TransientError(f"{where}: HTTP {status}")
    said = printable(excerpt(answer.body.decode("utf-8", errors="replace"), 200, url))
    if 300 <= status < 400:
        raise CrisisError(f"{where}: HTTP {status} without a redirect to follow, the message was not delivered "
                          f"{said}".rstrip())
    raise CrisisError(f"{where}: HTTP {status} {said}".rstrip())


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context (httpx's defaults) for every send: building one costs ~25 ms (it loads the CA bundle)."""
    return httpx.create_ssl_context()


_KEYED_APPRISE = re.compile(r"^(json|form|xml)s?://", re.IGNORECASE)
# Why Apprise failed, read only where Apprise says it (its payload lines quote the message, which may say anything):
# the HTTP code in a warning's first line, the request library's error in a "Socket Exception" line.
_APPRISE_CODE = re.compile(r"[^\n]*\berror=(\d{3})\b")
_UNCONNECTED = re.compile(r"Socket Exception: [^\n]*(NewConnectionError|Failed to establish a new connection|"
                          r"ConnectTimeout|Connection refused|NameResolutionError|Failed to resolve)")
_UNBUILT = re.compile(r"Socket Exception: [^\n]*(Invalid leading whitespace, reserved character|Invalid URL|"
                      r"URL has an invalid label|No connection adapters were found|Failed to parse)")


def send_apprise(variant: Variant, channel: Channel, key: str, secrets: SecretReader | None = None) -> str:
    import apprise  # here: ~0.2 s and a DeprecationWarning at import, for apprise channels only

    url, label = channel_url(variant.channel, channel, secrets)
    notifier = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
    with apprise_log() as records:
        if not _added(notifier, _keyed_apprise_url(url, key)):
            raise CrisisError(f"apprise ({label}): not a URL Apprise knows")
        notifier[0].redirects = False  # even with `redirect=yes` in the URL: it would follow one to any host
        longest = notifier[0].body_maxlen
        if len(variant.text) > longest:  # Apprise or the service would cut or split it: not the approved text
            raise CrisisError(f"apprise ({label}): the text has {len(variant.text)} characters, the service takes "
                              f"{longest}")
        if notifier.notify(body=variant.text, title=variant.subject):
            return f"apprise ({label}): accepted"
    raise apprise_failure(label, key, records)


def _added(notifier: Any, url: str) -> bool:
    try:
        return bool(notifier.add(url))
    except Exception:  # Apprise's parser failing on a URL: it is not one it knows, and nothing was sent
        return False


def _keyed_apprise_url(url: str, key: str) -> str:
    """The generic HTTP services take the key as header and body field; the others carry only the text."""
    if not _KEYED_APPRISE.match(url):
        return url
    return f"{url}{'&' if '?' in url else '?'}+Idempotency-Key={key}&:idempotency_key={key}"


def apprise_failure(label: str, key: str, records: list[tuple[int, str]]) -> Exception:
    """Apprise answers False and says why only in its log: the HTTP code, or an error the request library raised
    before connecting or while connecting. The log may quote the URL, so none of it goes into the error. Anything
    else (a read timeout, an exception Apprise did not expect) may have happened after the service got the text."""
    codes = [m[1] for level, text in records if level >= logging.WARNING and (m := _APPRISE_CODE.match(text))]
    code = codes[-1] if codes else ""
    if code.startswith("3"):
        return CrisisError(f"apprise ({label}): HTTP {code}, a redirect, not followed: the message was not delivered "
                           "(point the channel at the final URL)")
    if code.startswith("4") and code not in ("408", "429"):
        return CrisisError(f"apprise ({label}): refused, HTTP {code}")
    if code:
        return TransientError(f"apprise ({label}): HTTP {code}")
    if any(_UNBUILT.match(text) for _, text in records):
        return CrisisError(f"apprise ({label}): the request could not be made (a URL or header value the request "
                           "library refuses); nothing was sent")
    if any(_UNCONNECTED.match(text) for _, text in records):
        return TransientError(f"apprise ({label}): could not connect")
    return InDoubt(f"apprise ({label}): failed without saying whether the service got it; check the channel for "
                   f"the message (key {key})")


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


DRILL_DOWN = "drill-down.json"  # in a drill's state: {channel: [from, until]}, times on the drill's clock


def drill_sender(outbox_dir: Path, downs: Path) -> Sender:
    """The drill outbox. A channel a drill's inject takes down fails there as the real one would (TransientError:
    retried, then reported failed) while the drill's clock is inside the outage."""
    keep = file_sender(outbox_dir)

    def send(variant: Variant, channel: Channel, key: str) -> str:
        until = _down_until(downs, variant.channel)
        if until is not None:
            raise TransientError(f"drill: channel {variant.channel} is down until {until.isoformat()}")
        return keep(variant, channel, key)

    return send


def _down_until(downs: Path, channel: str) -> datetime | None:
    try:
        span = json.loads(downs.read_text(encoding="utf-8")).get(channel)
    except (OSError, ValueError):
        return None
    if not span:
        return None
    start, until = (datetime.fromisoformat(value.replace("Z", "+00:00")) for value in span)
    return until if start <= clock.now() < until else None


def sender_for(channel: Channel, outbox_dir: Path, secrets: SecretReader | None = None) -> Sender:
    network = {"email": send_email, "webhook": send_webhook, "apprise": send_apprise}.get(channel.kind)
    if network is None:
        return file_sender(outbox_dir)
    return lambda variant, chan, key: network(variant, chan, key, secrets)
