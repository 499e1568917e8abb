"""Secrets kept out of error texts and receipts, in every form a receiver may echo them back in.

A receiver's error body can quote the request it got, and the request carries the secrets transformed: the URL
%-encoded (or with `+` for spaces), the user and password of a URL as HTTP Basic authorization (base64 of
`user:password`), an SMTP login as AUTH PLAIN (base64 of `\\0user\\0password`) or AUTH LOGIN (base64 of each).
So each secret is hidden raw, %-encoded, %-decoded and base64-encoded (padded or not, standard or URL-safe, and
the characters it owns when it sits inside a longer base64 blob), case-insensitively (`%2f` is `%2F`).

An excerpt is scrubbed before it is cut, and a secret's beginning (4 characters or more) left at its end is dropped:
cut mid-way, a token is no longer whole, so a plain replacement would not find it.
"""

from __future__ import annotations

import base64
import re
from contextlib import suppress
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import httpx

HIDDEN = "***"
MIN_PART = 4  # shorter pieces of a URL (a port, `/a/`) hide nothing and would blank ordinary words
MIN_FRAGMENT = 8  # a secret's share of a longer base64 blob: shorter ones would blank ordinary base64


def scrub(text: str, *secrets: str) -> str:
    """`text` without any secret in it (nor the parts of a URL that may carry a token), in any of their forms."""
    return _hide(text, secret_forms(*secrets))


def excerpt(text: str, limit: int, *secrets: str) -> str:
    """At most `limit` characters of `text` (plus the mark of what was hidden), scrubbed before the cut, and without
    the beginning of a secret left at the end."""
    forms = secret_forms(*secrets)
    cut = _hide(text, forms)[:limit]
    return _without_trailing_prefix(cut, forms)


def credentials(user: str, password: str) -> tuple[str, ...]:
    """How a user name and a password travel together: HTTP Basic (`user:password`), SMTP AUTH PLAIN."""
    return (f"{user}:{password}", f"\0{user}\0{password}") if user and password else ()


def secret_forms(*secrets: str) -> list[str]:
    """Every form of every secret worth hiding, longest first (a longer form is replaced before its pieces)."""
    forms: set[str] = set()
    for part in {piece for secret in secrets if secret for piece in _pieces(secret)}:
        if len(part) >= MIN_PART:
            forms |= {part, *_percent_forms(part), *_base64_forms(part)}
    return sorted(forms, key=lambda form: (-len(form), form))


def _pieces(secret: str) -> set[str]:
    """The secret, and when it is a URL the parts of it that may carry a token (each also %-decoded)."""
    pieces = {secret}
    with suppress(Exception):  # not a URL: the secret alone
        url = httpx.URL(secret)
        raw_path = url.raw_path.decode("ascii", errors="replace")
        pieces |= {str(url), url.host, url.userinfo.decode(errors="replace"), url.password or "", url.path,
                   raw_path, url.query.decode(errors="replace"), *raw_path.split("/"), *url.path.split("/"),
                   *url.params.values()}
        if url.username and url.password:  # what the Basic authorization header is made of
            pieces.add(f"{url.username}:{url.password}")
    return {form for piece in pieces for form in (piece, unquote(piece), unquote_plus(piece))}


def _percent_forms(part: str) -> set[str]:
    return {quote(part, safe=""), quote(part), quote_plus(part), quote_plus(part, safe="/")}


def _base64_forms(part: str) -> set[str]:
    data = part.encode("utf-8", errors="replace")
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(data).decode("ascii")
        forms |= {whole, whole.rstrip("=")}
        for offset in (1, 2):  # the secret starting 1 or 2 bytes into a 3-byte group of a longer blob
            fragment = _owned_characters(encode(b"\0" * offset + data + b"\0\0").decode("ascii"), offset, len(data))
            if len(fragment) >= MIN_FRAGMENT:
                forms.add(fragment)
    return forms


def _owned_characters(encoded: str, offset: int, length: int) -> str:
    """The base64 characters whose 6 bits all come from the `length` bytes that start `offset` bytes in."""
    first = -(-8 * offset // 6)  # ceiling: a character that starts before the secret also holds a byte before it
    end = 8 * (offset + length) // 6
    return encoded[first:end]


def _hide(text: str, forms: list[str]) -> str:
    if not forms or not text:
        return text
    return re.sub("|".join(map(re.escape, forms)), HIDDEN, text, flags=re.IGNORECASE)


def _without_trailing_prefix(text: str, forms: list[str]) -> str:
    """`text` without the longest beginning (≥ MIN_PART characters) of a secret's form it ends with."""
    longest = 0
    for form in forms:
        for size in range(min(len(form) - 1, len(text)), max(MIN_PART, longest + 1) - 1, -1):  # whole: hidden already
            if text[len(text) - size:].lower() == form[:size].lower():
                longest = size
                break
    return text[: len(text) - longest] + HIDDEN if longest else text
