"""Release of an approved message pack to its channels, exactly once, with an honest crash window.

    approved hash ─▶ pack file re-hashed (texts changed since approval → refused, nothing sent)
      for each message: outbox row, key = idempotency_key(pack hash, message id) (the message id names the kind,
      audience, channel and language), written BEFORE anything is sent:

        pending ──▶ sending ──▶ sent            `sending` is committed right before the send
           ▲           │  └───▶ failed           (permanent refusal, or transient failures RETRIES times)
           └───────────┘  transient failure the channel certainly did not take → backoff, tried again

      A row found in `sending` by a later attempt is IN DOUBT: the process died (or the connection broke) after
      the message may have reached the channel. It is never resent automatically: its receipt says `in_doubt`
      and what to check, until an operator settles it (`Outbox.settle(key, "sent" | "retry")`). The file outbox
      checks by itself (the file with the key exists → `sent`; absent → sent now).
      `halted()` is asked right before every send: a reason → not sent, the row stays claimable, receipt `halted`.

Every send carries the key: HTTP `Idempotency-Key` header and `idempotency_key` body field (webhook; Apprise's
json/form/xml services), e-mail `Message-ID: <key@crisiscomms>`. A receiver that deduplicates on it closes the
last gap (a retry after a 5xx that the receiver had in fact processed).

Channels: `email` over SMTP, `webhook` (JSON POST), `apprise` (any Apprise URL: Slack, Teams, Mattermost, ntfy,
json://…), and every other kind to a file outbox (one JSON file a message, for a status page or manual posting).

Secrets are read at send time and never written to YAML, logs, receipts, outbox rows or error messages:
- a channel URL (webhook, apprise) from the environment variable named by `url_env`, or from the Prefect Secret
  block named by `url_secret` (exactly one of them; the playbook model checks it). This library does not import
  Prefect: the caller passes `secrets=` (block name → value, `Secret.load(name).get()` in the Prefect task).
- SMTP: CRISIS_SMTP_HOST, CRISIS_SMTP_PORT (25), CRISIS_SMTP_FROM, CRISIS_SMTP_USER; the password from
  CRISIS_SMTP_PASSWORD or from the Secret block named by CRISIS_SMTP_PASSWORD_SECRET (not both). STARTTLS is used
  whenever the server offers it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import httpx

from crisiscomms.errors import CrisisError
from crisiscomms.messages import Variant, read_variants
from crisiscomms.playbook.models import Channel, Playbook
from crisiscomms.store import connect, now_text, transaction

RETRIES = 3
BACKOFF = 0.5  # seconds, doubled at each retry
TIMEOUT = 10.0  # seconds to connect, and to wait for an answer

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY, playbook TEXT NOT NULL, pack TEXT NOT NULL, message TEXT NOT NULL, channel TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL, receipt TEXT, at TEXT NOT NULL);
"""


class ReleaseRefused(CrisisError):
    """The pack may not be released (not approved, or not what was approved)."""


class TransientError(Exception):
    """A failure worth retrying, where the channel certainly did not take the message (refused, 5xx, 4xx SMTP)."""


class InDoubt(Exception):
    """The message may have reached the channel (connection lost or timed out after handing it over)."""


def idempotency_key(pack_hash: str, message_id: str) -> str:
    return hashlib.sha256(f"{pack_hash}\n{message_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Receipt:
    message: str
    channel: str
    key: str
    status: str  # sent, already_sent, failed, in_doubt, halted
    detail: str
    at: str


class Outbox:
    """One row per message ever attempted, in the project's state database (a transaction per change)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def claim(self, key: str, playbook: str, pack: str, message: str, channel: str) -> str:
        """Record the message before anything is sent; its current status (`pending` for a new one)."""
        with transaction(self._db) as db:
            row = db.execute("SELECT status FROM outbox WHERE key=?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            db.execute("INSERT INTO outbox VALUES (?,?,?,?,?,?,0,NULL,?)",
                       (key, playbook, pack, message, channel, PENDING, now_text("seconds")))
        return PENDING

    def begin_send(self, key: str) -> bool:
        """`pending`/`failed` → `sending`, committed; False if another attempt holds or finished the row."""
        cursor = self._db.execute("UPDATE outbox SET status=?, attempts=attempts+1, at=? WHERE key=? AND status IN "
                                  "(?, ?)", (SENDING, now_text("seconds"), key, PENDING, FAILED))
        return cursor.rowcount == 1

    def mark(self, key: str, status: str, receipt: str) -> None:
        self._db.execute("UPDATE outbox SET status=?, receipt=?, at=? WHERE key=?",
                         (status, receipt, now_text("seconds"), key))

    def status(self, key: str) -> str | None:
        row = self._db.execute("SELECT status FROM outbox WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def settle(self, key: str, outcome: Literal["sent", "retry"], note: str = "") -> None:
        """An operator's verdict on an in-doubt message: it arrived (`sent`), or it did not (`retry`: sent again
        by the next release)."""
        if outcome not in ("sent", "retry"):
            raise CrisisError(f"settle {key}: the outcome is `sent` or `retry`, not {outcome!r}")
        status, receipt = (SENT, "settled by an operator: delivered") if outcome == "sent" else \
            (PENDING, "settled by an operator: not delivered, to send again")
        with transaction(self._db) as db:
            row = db.execute("SELECT status FROM outbox WHERE key=?", (key,)).fetchone()
            if row is None or row[0] != SENDING:
                found = "no such message" if row is None else f"its status is {row[0]}"
                raise CrisisError(f"settle {key}: only an in-doubt message can be settled ({found})")
            db.execute("UPDATE outbox SET status=?, receipt=?, at=? WHERE key=?",
                       (status, f"{receipt}{': ' + note if note else ''}", now_text("seconds"), key))

    def rows(self, pack: str | None = None) -> list[dict[str, Any]]:
        """Every row of a pack (all packs when None), in the order they were claimed."""
        where, args = ("WHERE pack=?", (pack,)) if pack else ("", ())
        cursor = self._db.execute("SELECT key, playbook, pack, message, channel, status, attempts, receipt, at "
                                  f"FROM outbox {where} ORDER BY rowid", args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def in_doubt(self, pack: str | None = None) -> list[dict[str, Any]]:
        return [row for row in self.rows(pack) if row["status"] == SENDING]


def approved_variants(pack: dict[str, Any], approved_hash: str) -> list[Variant]:
    """The pack's messages, only if their hash is the approved one."""
    variants, actual = read_variants(pack)
    if actual != approved_hash or pack.get("hash") != approved_hash:
        raise ReleaseRefused(f"the pack's content hash {actual[:16]}… is not the approved {approved_hash[:16]}…: "
                             "nothing released")
    return variants


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


# ── the release ──────────────────────────────────────────────────────────────────────────────────────────────

@dataclass
class _Run:
    playbook: Playbook
    pack_hash: str
    outbox: Outbox
    outbox_dir: Path
    senders: dict[str, Sender]
    sleep: Callable[[float], None]
    halted: Callable[[], str | None] | None
    secrets: SecretReader | None
    built: dict[str, Sender] = field(default_factory=dict)

    def sender(self, name: str) -> Sender:
        if name not in self.built:
            self.built[name] = self.senders.get(name) or sender_for(self.playbook.channels[name], self.outbox_dir,
                                                                     self.secrets)
        return self.built[name]


def release(playbook: Playbook, pack: dict[str, Any], approved_hash: str, outbox: Outbox, outbox_dir: Path,
            senders: dict[str, Sender] | None = None, sleep: Callable[[float], None] = time.sleep, *,
            halted: Callable[[], str | None] | None = None, secrets: SecretReader | None = None) -> list[Receipt]:
    """Send every approved message once: one receipt a message, `sent`, `already_sent`, `failed` (reported,
    tried again by the next release), `in_doubt` (never resent until settled) or `halted` (claimable)."""
    variants = approved_variants(pack, approved_hash)
    run = _Run(playbook, approved_hash, outbox, outbox_dir, senders or {}, sleep, halted, secrets)
    return [_release_one(run, variant) for variant in variants]


def _release_one(run: _Run, variant: Variant) -> Receipt:
    channel = run.playbook.channels[variant.channel]
    key = idempotency_key(run.pack_hash, variant.id)
    status = run.outbox.claim(key, run.playbook.id, run.pack_hash, variant.id, variant.channel)
    if status == SENT:
        return _receipt(variant, key, "already_sent", "sent by an earlier attempt")
    send = run.sender(variant.channel)
    if status == SENDING:
        if not isinstance(send, Verifiable):
            return _receipt(variant, key, "in_doubt", _doubt(channel, key))
        if send.delivered(variant, channel, key):
            run.outbox.mark(key, SENT, "found delivered after an interrupted attempt")
            return _receipt(variant, key, "sent", "found delivered after an interrupted attempt")
        run.outbox.mark(key, PENDING, "not delivered by an interrupted attempt")
    return _deliver(run, send, variant, channel, key)


def _deliver(run: _Run, send: Sender, variant: Variant, channel: Channel, key: str) -> Receipt:
    delay = BACKOFF
    for attempt in range(1, RETRIES + 1):
        reason = run.halted() if run.halted else None
        if reason:
            return _receipt(variant, key, "halted", reason)
        if not run.outbox.begin_send(key):  # another release took it between our claim and now
            return _receipt(variant, key, "already_sent" if run.outbox.status(key) == SENT else "in_doubt",
                            "taken by another release running at the same time")
        try:
            detail = send(variant, channel, key)
        except TransientError as exc:
            if attempt == RETRIES:
                return _fail(run, variant, key, f"{exc} (after {RETRIES} tries)")
            run.outbox.mark(key, PENDING, str(exc))
            run.sleep(delay)
            delay *= 2
            continue
        except InDoubt as exc:  # the row stays `sending`: no later attempt resends it on its own
            run.outbox.mark(key, SENDING, str(exc))
            return _receipt(variant, key, "in_doubt", str(exc))
        except CrisisError as exc:
            return _fail(run, variant, key, str(exc))
        run.outbox.mark(key, SENT, detail)
        return _receipt(variant, key, "sent", detail)
    raise AssertionError("unreachable")


def _fail(run: _Run, variant: Variant, key: str, detail: str) -> Receipt:
    run.outbox.mark(key, FAILED, detail)
    return _receipt(variant, key, "failed", detail)


def _doubt(channel: Channel, key: str) -> str:
    where = {"email": f"the recipients' mailboxes or the SMTP server's log for Message-ID <{key}@crisiscomms>",
             "webhook": f"the receiver for Idempotency-Key {key}",
             "apprise": f"the {channel.title or 'Apprise'} channel for the message"}.get(channel.kind, "the channel")
    return (f"an earlier attempt was interrupted while sending: check {where}, then settle it "
            f"(Outbox.settle(key, 'sent' | 'retry')); it is not resent until then")


def _receipt(variant: Variant, key: str, status: str, detail: str) -> Receipt:
    return Receipt(variant.id, variant.channel, key, status, detail, now_text("seconds"))
