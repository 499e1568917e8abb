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

The promised next update is written into each message just before it is sent: the pack's texts carry the marker
`⟦next-update⟧` (approved and hashed as such) and a delay; the marker becomes the time of this pack's FIRST send
attempt + the delay, kept in the `releases` table (INSERT OR IGNORE), so a resumed or retried release promises the
same time in every message. A release halted before it sent anything fixes no time. A date and time given in the
fact sheet is written in as is.

Every send carries the key: HTTP `Idempotency-Key` header and `idempotency_key` body field (webhook; Apprise's
json/form/xml services), e-mail `Message-ID: <key@crisiscomms>`. A receiver that deduplicates on it closes the
last gap (a retry after a 5xx that the receiver had in fact processed).

Channels (SMTP, webhook, Apprise, file outbox) and their secrets: `crisiscomms.communication.channels`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

# Senders are re-exported: callers pick one (`file_sender` for drills) or give their own.
from crisiscomms import clock as product_clock
from crisiscomms.communication.channels import (  # noqa: F401
    InDoubt,
    SecretReader,
    Sender,
    TransientError,
    Verifiable,
    file_sender,
    send_apprise,
    send_email,
    send_webhook,
    sender_for,
)
from crisiscomms.communication.messages import (
    NEXT_UPDATE_MARKER,
    Variant,
    fill_next_update,
    parse_moment,
    read_variants,
)
from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.store import now_text
from crisiscomms.playbook.models import Channel, Playbook
from crisiscomms.state import Database, open_database, sqlite_database

RETRIES = 3
BACKOFF = 0.5  # seconds, doubled at each retry

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"

class ReleaseRefused(CrisisError):
    """The pack may not be released (not approved, or not what was approved)."""


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

    def __init__(self, db: Database | Path) -> None:
        """The outbox in this state database (a path: a SQLite file of its own)."""
        self._db = db if isinstance(db, Database) else sqlite_database(db, "outbox")

    def close(self) -> None:
        self._db.close()

    def claim(self, key: str, playbook: str, pack: str, message: str, channel: str) -> str:
        """Record the message before anything is sent; its current status (`pending` for a new one)."""
        with self._db.transaction() as db:
            row = db.execute("SELECT status FROM outbox WHERE key=?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            db.execute("INSERT INTO outbox (key, playbook, pack, message, channel, status, attempts, receipt, at) "
                       "VALUES (?,?,?,?,?,?,0,NULL,?)",
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
        with self._db.transaction() as db:
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
                                  f"FROM outbox {where} ORDER BY seq", args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def in_doubt(self, pack: str | None = None) -> list[dict[str, Any]]:
        return [row for row in self.rows(pack) if row["status"] == SENDING]

    def first_attempt(self, pack: str, now: datetime | None = None) -> datetime | None:
        """When a message of this pack was first about to be sent; with `now`, recorded if there was none."""
        if now is not None:
            self._db.execute("INSERT INTO releases (pack, first_attempt) VALUES (?, ?) ON CONFLICT DO NOTHING",
                             (pack, now.astimezone(UTC).isoformat(timespec="seconds")))
        row = self._db.execute("SELECT first_attempt FROM releases WHERE pack=?", (pack,)).fetchone()
        return None if row is None else datetime.fromisoformat(row[0])


def open_outbox(root: Path) -> Outbox:
    """The project's outbox (crisiscomms.state: `.crisis/outbox.db`, or PostgreSQL)."""
    return Outbox(open_database(root, "outbox"))


def promised_time(pack: dict[str, Any], outbox: Outbox, now: datetime | None = None) -> datetime | None:
    """The next update this pack's messages promise: the fact sheet's date and time, else its first send attempt
    + the delay (None while nothing was attempted, or when the pack promises nothing). `now` records a first
    attempt if there was none."""
    if pack.get("next_update"):
        return parse_moment(pack["next_update"])
    delay = pack.get("next_update_after")
    first = outbox.first_attempt(pack["hash"], now) if delay is not None else None
    return None if first is None or delay is None else first + timedelta(seconds=delay)


def approved_variants(pack: dict[str, Any], approved_hash: str) -> list[Variant]:
    """The pack's messages, only if their hash is the approved one."""
    variants, actual = read_variants(pack)
    if actual != approved_hash or pack.get("hash") != approved_hash:
        raise ReleaseRefused(f"the pack's content hash {actual[:16]}… is not the approved {approved_hash[:16]}…: "
                             "nothing released")
    marked = [v.id for v in variants if NEXT_UPDATE_MARKER in v.subject + v.text]
    if marked and not (pack.get("next_update") or pack.get("next_update_after")):
        raise ReleaseRefused(f"{marked[0]} leaves the next update to the release ({NEXT_UPDATE_MARKER}) but the pack "
                             "gives neither a delay nor a time: nothing released")
    return variants


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
    pack: dict[str, Any]
    clock: Callable[[], datetime]
    built: dict[str, Sender] = field(default_factory=dict)
    promised: datetime | None = None

    def sender(self, name: str) -> Sender:
        if name not in self.built:
            self.built[name] = self.senders.get(name) or sender_for(self.playbook.channels[name], self.outbox_dir,
                                                                     self.secrets)
        return self.built[name]

    def outgoing(self, variant: Variant) -> Variant:
        """The message as it leaves: the promised time written in place of the marker (the first time a message
        of the pack is about to leave fixes that time for all of them, in this run and any later one)."""
        if NEXT_UPDATE_MARKER not in variant.subject + variant.text:
            return variant
        if self.promised is None:
            self.promised = promised_time(self.pack, self.outbox, self.clock())
        assert self.promised is not None  # approved_variants refused a marked pack that promises nothing
        return variant.model_copy(update={"subject": fill_next_update(variant.subject, self.promised, variant.language),
                                          "text": fill_next_update(variant.text, self.promised, variant.language)})


def release(playbook: Playbook, pack: dict[str, Any], approved_hash: str, outbox: Outbox, outbox_dir: Path,
            senders: dict[str, Sender] | None = None, sleep: Callable[[float], None] = time.sleep, *,
            halted: Callable[[], str | None] | None = None, secrets: SecretReader | None = None,
            clock: Callable[[], datetime] = product_clock.now) -> list[Receipt]:
    """Send every approved message once: one receipt a message, `sent`, `already_sent`, `failed` (reported,
    tried again by the next release), `in_doubt` (never resent until settled) or `halted` (claimable).
    The hash is checked on the stored texts (with the next-update marker); the time goes in just before sending."""
    variants = approved_variants(pack, approved_hash)
    run = _Run(playbook, approved_hash, outbox, outbox_dir, senders or {}, sleep, halted, secrets,
               {**pack, "hash": approved_hash}, clock)
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
        if send.delivered(run.outgoing(variant), channel, key):
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
        outgoing = run.outgoing(variant)  # before `sending` is committed: nothing here may leave a row in doubt
        if not run.outbox.begin_send(key):  # another release took it between our claim and now
            return _receipt(variant, key, "already_sent" if run.outbox.status(key) == SENT else "in_doubt",
                            "taken by another release running at the same time")
        try:
            detail = send(outgoing, channel, key)
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
        except Exception as exc:  # a sender's own bug or an error it did not foresee: it cannot say when it came
            detail = _doubt(channel, key, f"the sender failed unexpectedly ({type(exc).__name__}) while sending")
            run.outbox.mark(key, SENDING, detail)  # its text may quote a secret: only its type is kept
            return _receipt(variant, key, "in_doubt", detail)
        run.outbox.mark(key, SENT, detail)
        return _receipt(variant, key, "sent", detail)
    raise AssertionError("unreachable")


def _fail(run: _Run, variant: Variant, key: str, detail: str) -> Receipt:
    run.outbox.mark(key, FAILED, detail)
    return _receipt(variant, key, "failed", detail)


def _doubt(channel: Channel, key: str, what: str = "an earlier attempt was interrupted while sending") -> str:
    where = {"email": f"the recipients' mailboxes or the SMTP server's log for Message-ID <{key}@crisiscomms>",
             "webhook": f"the receiver for Idempotency-Key {key}",
             "apprise": f"the {channel.title or 'Apprise'} channel for the message"}.get(channel.kind, "the channel")
    return (f"{what}: check {where}, then settle it "
            f"(Outbox.settle(key, 'sent' | 'retry')); it is not resent until then")


def _receipt(variant: Variant, key: str, status: str, detail: str) -> Receipt:
    return Receipt(variant.id, variant.channel, key, status, detail, now_text("seconds"))
