"""Signed tokens for the approvers' personal links: who may decide, on which run, stage and pack, until when.

A token is `<base64url JSON payload>.<base64url HMAC-SHA256>` under a key only the stack holds
(`.crisis/approval.key`, mode 0600, made on first use; in the approvals' state when it is in PostgreSQL). Each
token carries its purpose (`k`), so a link can never serve as a receipt or an anti-forgery token, nor the other way
round. Verification is constant-time and says why a token is refused; it never trusts a field before the signature
has been checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from crisiscomms import clock
from crisiscomms.errors import CrisisError
from crisiscomms.state import database_url, open_in

KEY_FILE = "approval.key"
MAX_TOKEN = 2048  # characters: anything longer is not one of ours


class TokenError(CrisisError):
    """A token that cannot be used: malformed, forged, expired or made for something else."""


def load_key(state: Path) -> bytes:
    """The stack's signing key, created (random, 32 bytes) the first time it is needed: in `approval.key` (mode 0600)
    in the state folder; with the state in PostgreSQL, in the approvals' tables, shared by every worker (a key file
    already there is taken over: the links and evidence it signed stay valid)."""
    if database_url() is not None:
        return _checked(_shared_key(state), "the approval key in the state database")
    path = state / KEY_FILE
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    return _checked(path.read_text().strip(), f"{path}: the approval key")


def key_exists(state: Path) -> bool:
    """Whether the project has a key yet (checking makes none)."""
    if database_url() is None:
        return (state / KEY_FILE).is_file()
    with open_in(state, "approvals") as db:
        return db.execute("SELECT 1 FROM signing_keys WHERE name='approval'").fetchone() is not None


def where_key(state: Path) -> str:
    """Where the key is kept, for a message."""
    return "the approvals' state in PostgreSQL" if database_url() is not None else str(state / KEY_FILE)


def _shared_key(state: Path) -> str:
    with open_in(state, "approvals") as db:
        legacy = state / KEY_FILE
        made = legacy.read_text().strip() if legacy.is_file() else secrets.token_hex(32)
        db.execute("INSERT INTO signing_keys (name, value, at) VALUES ('approval', ?, ?) ON CONFLICT DO NOTHING",
                   (made, clock.now_text("seconds")))
        return str(db.execute("SELECT value FROM signing_keys WHERE name='approval'").fetchone()[0])


def _checked(text: str, what: str) -> bytes:
    key = bytes.fromhex(text)
    if len(key) < 32:
        raise CrisisError(f"{what} is too short; delete it to make a new one")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, purpose: str, fields: dict[str, Any]) -> str:
    payload = json.dumps({"k": purpose, **fields}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    body = _b64(payload.encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def verify(key: bytes, purpose: str, token: str, now: float | None = None) -> dict[str, Any]:
    """The token's fields if it is ours, for `purpose`, and not expired (`x`: seconds since the epoch)."""
    if not isinstance(token, str) or not 10 < len(token) <= MAX_TOKEN or token.count(".") != 1:
        raise TokenError("this link is not complete: copy the whole address from the message")
    body, mac = token.split(".")
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        raise TokenError("this link is not complete: copy the whole address from the message") from None
    if not hmac.compare_digest(given, hmac.new(key, body.encode(), hashlib.sha256).digest()):
        raise TokenError("this link was not issued by this crisis stack (or was altered)")
    fields = json.loads(_unb64(body))
    if fields.get("k") != purpose:
        raise TokenError(f"this token is not a {purpose}")
    if "x" in fields and (now if now is not None else time.time()) > float(fields["x"]):
        raise TokenError("this link has expired: the approval stage it was made for is over")
    return fields


def peek(token: str) -> dict[str, Any]:
    """A token's fields WITHOUT checking it: only to choose which check applies; never to trust."""
    try:
        return json.loads(_unb64(token.split(".")[0]))
    except (ValueError, binascii.Error, IndexError):
        raise TokenError("this token cannot be read") from None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
