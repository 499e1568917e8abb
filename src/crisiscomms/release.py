"""Release of an approved message pack to its channels, exactly once.

    approved hash ─▶ pack file re-hashed (texts changed since approval → refused, nothing sent)
      for each message: outbox record (key = hash of pack hash + message id) written BEFORE sending
        ─▶ already `sent` → skipped (a retried or re-run flow never sends twice)
        ─▶ send with the key as idempotency key (HTTP header / e-mail Message-ID) ─▶ `sent` + receipt
        ─▶ transient failure → retried with backoff; still failing → `failed`, reported; the others go on

Channels: `email` over SMTP (server from the environment: CRISIS_SMTP_HOST, CRISIS_SMTP_PORT, CRISIS_SMTP_FROM,
CRISIS_SMTP_USER, CRISIS_SMTP_PASSWORD), `webhook` (JSON POST to the URL held by the environment variable the
channel names), and every other kind to a file outbox (one JSON file a message, for a status page or for
manual posting). Secrets are read from the environment at send time: never from YAML, never logged.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from crisiscomms.errors import CrisisError
from crisiscomms.messages import Variant, read_variants
from crisiscomms.playbook.models import Channel, Playbook
from crisiscomms.store import connect, now_text, transaction

RETRIES = 3
BACKOFF = 0.5  # seconds, doubled at each retry

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY, playbook TEXT NOT NULL, pack TEXT NOT NULL, message TEXT NOT NULL, channel TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL, receipt TEXT, at TEXT NOT NULL);
"""


class ReleaseRefused(CrisisError):
    """The pack may not be released (not approved, or not what was approved)."""


class TransientError(Exception):
    """A failure worth retrying (connection refused, timeout, 5xx)."""


def idempotency_key(pack_hash: str, message_id: str) -> str:
    return hashlib.sha256(f"{pack_hash}\n{message_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Receipt:
    message: str
    channel: str
    key: str
    status: str  # sent, already_sent, failed
    detail: str
    at: str


class Outbox:
    """One row per message ever attempted, in the project's state database (a transaction per change)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path, _SCHEMA)

    def close(self) -> None:
        self._db.close()

    def claim(self, key: str, playbook: str, pack: str, message: str, channel: str) -> str:
        """Record the attempt before sending; the current status (`pending` for a new one)."""
        with transaction(self._db) as db:
            row = db.execute("SELECT status FROM outbox WHERE key=?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            db.execute("INSERT INTO outbox VALUES (?,?,?,?,?,'pending',0,NULL,?)",
                       (key, playbook, pack, message, channel, now_text("seconds")))
        return "pending"

    def mark(self, key: str, status: str, receipt: str) -> None:
        self._db.execute("UPDATE outbox SET status=?, attempts=attempts+1, receipt=?, at=? WHERE key=?",
                         (status, receipt, now_text("seconds"), key))

    def rows(self, pack: str) -> list[dict[str, Any]]:
        cursor = self._db.execute("SELECT key, message, channel, status, attempts, receipt, at FROM outbox "
                                  "WHERE pack=? ORDER BY rowid", (pack,))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]


def approved_variants(pack: dict[str, Any], approved_hash: str) -> list[Variant]:
    """The pack's messages, only if their hash is the approved one."""
    variants, actual = read_variants(pack)
    if actual != approved_hash or pack.get("hash") != approved_hash:
        raise ReleaseRefused(f"the pack's content hash {actual[:16]}… is not the approved {approved_hash[:16]}…: "
                             "nothing released")
    return variants


Sender = Callable[[Variant, Channel, str], str]


def send_email(variant: Variant, channel: Channel, key: str) -> str:
    host = os.environ.get("CRISIS_SMTP_HOST")
    if not host or not channel.to:
        raise CrisisError(f"channel {variant.channel}: set CRISIS_SMTP_HOST and the channel's `to`")
    message = EmailMessage()
    message["From"] = os.environ.get("CRISIS_SMTP_FROM", "crisiscomms@localhost")
    message["To"] = ", ".join(channel.to)
    message["Subject"] = variant.subject or variant.kind
    message["Message-ID"] = f"<{key}@crisiscomms>"
    message.set_content(variant.text)
    try:
        with smtplib.SMTP(host, int(os.environ.get("CRISIS_SMTP_PORT", "25")), timeout=10) as smtp:
            if os.environ.get("CRISIS_SMTP_USER"):
                smtp.login(os.environ["CRISIS_SMTP_USER"], os.environ.get("CRISIS_SMTP_PASSWORD", ""))
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as exc:
        raise TransientError(f"SMTP {host}: {exc}") from exc
    if refused:
        raise CrisisError(f"SMTP refused {', '.join(refused)}")
    return f"smtp {host}: accepted for {len(channel.to)} recipient(s), Message-ID <{key}@crisiscomms>"


def send_webhook(variant: Variant, channel: Channel, key: str) -> str:
    variable = channel.url_env or ""
    url = os.environ.get(variable)
    if not url:
        raise CrisisError(f"channel {variant.channel}: environment variable {variable or '(url_env unset)'} "
                          "holds no URL")
    body = {"id": variant.id, "kind": variant.kind, "audience": variant.audience, "language": variant.language,
            "subject": variant.subject, "text": variant.text, "idempotency_key": key}
    try:
        response = httpx.post(url, json=body, headers={"Idempotency-Key": key}, timeout=10)
    except httpx.TransportError as exc:
        raise TransientError(f"webhook {variable}: {exc}") from exc
    if response.status_code >= 500:
        raise TransientError(f"webhook {variable}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise CrisisError(f"webhook {variable}: HTTP {response.status_code} {response.text[:200]}")
    return f"webhook {variable}: HTTP {response.status_code}"


def file_sender(outbox_dir: Path) -> Sender:
    def send(variant: Variant, channel: Channel, key: str) -> str:
        folder = outbox_dir / variant.channel
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{key}.json"
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps({**variant.model_dump(exclude={"problems"}), "idempotency_key": key},
                                        ensure_ascii=False, indent=1), encoding="utf-8")
        temporary.replace(target)  # atomic: a reader never sees half a message
        return f"file {target}"
    return send


def sender_for(channel: Channel, outbox_dir: Path) -> Sender:
    if channel.kind == "email":
        return send_email
    if channel.kind == "webhook":
        return send_webhook
    return file_sender(outbox_dir)


def release(playbook: Playbook, pack: dict[str, Any], approved_hash: str, outbox: Outbox, outbox_dir: Path,
            senders: dict[str, Sender] | None = None, sleep: Callable[[float], None] = time.sleep) -> list[Receipt]:
    """Send every approved message once; a message already sent is skipped, a failing one reported."""
    variants = approved_variants(pack, approved_hash)
    receipts = []
    for variant in variants:
        channel = playbook.channels[variant.channel]
        key = idempotency_key(approved_hash, variant.id)
        if outbox.claim(key, playbook.id, approved_hash, variant.id, variant.channel) == "sent":
            receipts.append(Receipt(variant.id, variant.channel, key, "already_sent", "sent by an earlier attempt",
                                    now_text("seconds")))
            continue
        send = (senders or {}).get(variant.channel) or sender_for(channel, outbox_dir)
        receipts.append(_deliver(send, variant, channel, key, outbox, sleep))
    return receipts


def _deliver(send: Sender, variant: Variant, channel: Channel, key: str, outbox: Outbox,
             sleep: Callable[[float], None]) -> Receipt:
    delay = BACKOFF
    for attempt in range(1, RETRIES + 1):
        try:
            detail = send(variant, channel, key)
        except TransientError as exc:
            if attempt == RETRIES:
                outbox.mark(key, "failed", str(exc))
                detail = f"{exc} (after {RETRIES} tries)"
                return Receipt(variant.id, variant.channel, key, "failed", detail, now_text("seconds"))
            sleep(delay)
            delay *= 2
            continue
        except CrisisError as exc:
            outbox.mark(key, "failed", str(exc))
            return Receipt(variant.id, variant.channel, key, "failed", str(exc), now_text("seconds"))
        outbox.mark(key, "sent", detail)
        return Receipt(variant.id, variant.channel, key, "sent", detail, now_text("seconds"))
    raise AssertionError("unreachable")
