"""Every channel the playbook sends on (messages and approval notices): configured, its secrets present, and
reachable by a check that publishes nothing — SMTP: connect, EHLO, STARTTLS when offered, login when a user is
set, NOOP, QUIT (no MAIL, no RCPT); a webhook: an HTTP HEAD (any answer means a server is there); Apprise: the
URL understood by Apprise (it has no check that sends nothing); the other kinds write to the file outbox, where a
person publishes from."""

from __future__ import annotations

import os
import smtplib
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from crisiscomms.communication import channels as send
from crisiscomms.communication.scrubbing import scrub
from crisiscomms.errors import CrisisError
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.models import Channel, Playbook
from crisiscomms.readiness.report import Item, where

PROBE_TIMEOUT = 5.0  # seconds per network operation: a check, not a delivery
PROBE_DEADLINE = 20.0  # seconds for a whole check: a server that answers a byte at a time is not reachable
UNAVAILABLE = (502, 503, 504)  # a gateway with nothing behind it; any other answer (405, 501 …) is a live server
Probe = Callable[[str, Channel], Item]


def channel_items(loaded: LoadedPlaybook, outbox: Path, secrets: send.SecretReader | None,
                  probe: bool = True) -> list[Item]:
    playbook = loaded.playbook
    items: list[Item] = []
    for name in _used(playbook):
        channel = playbook.channels[name]
        item = _check(name, channel, outbox, secrets, probe)
        items.append(item if item.status == "green" else _at(item, where(loaded, "channels", name)))
    if sends_packs(playbook) and any(person.notify in (None, "email") and person.email
                                     for role in playbook.team.values() for person in role.members):
        items.append(_smtp("approval requests by e-mail", secrets, probe))
    return items


def sends_packs(playbook: Playbook) -> bool:
    """Whether the playbook sends messages (and so asks for approvals): a checklist playbook does not."""
    return bool(playbook.communication.messages)


def _used(playbook: Playbook) -> list[str]:
    """Channels messages go out on, then channels approval notices go through, each once."""
    names = [name for spec in playbook.communication.messages for name in spec.channels]
    names += [person.notify for role in playbook.team.values() for person in role.members
              if person.notify and person.notify != "email"]
    return [name for name in dict.fromkeys(names) if name in playbook.channels]


def _check(name: str, channel: Channel, outbox: Path, secrets: send.SecretReader | None, probe: bool) -> Item:
    subject = f"channel {name} ({channel.kind})"
    if channel.kind == "email":
        if not channel.to:
            return Item("channels", subject, "red", "no recipient", "list the addresses in `to:`")
        return _smtp(subject, secrets, probe)
    if channel.kind in ("webhook", "apprise"):
        try:
            url, label = send.channel_url(name, channel, secrets)
        except CrisisError as exc:
            return Item("channels", subject, "red", f"secret missing: {exc}",
                        f"set {channel.url_env} in the environment" if channel.url_env
                        else f"create the Prefect Secret block {channel.url_secret}")
        return _webhook(subject, url, label, probe) if channel.kind == "webhook" else _apprise(subject, url, label)
    return _folder(subject, outbox / name)


def _at(item: Item, at: str) -> Item:
    return Item(item.area, item.subject, item.status, item.finding, item.fix, item.where or at)


def _smtp(subject: str, secrets: send.SecretReader | None, probe: bool) -> Item:
    host = os.environ.get("CRISIS_SMTP_HOST", "")
    try:
        port, password = send.smtp_port(), send.smtp_password(secrets)
    except CrisisError as exc:
        return Item("channels", subject, "red", str(exc), "fix the SMTP settings (README, Channels)")
    if not host:
        return Item("channels", subject, "red", "no SMTP server: CRISIS_SMTP_HOST is not set",
                    "set CRISIS_SMTP_HOST (and CRISIS_SMTP_PORT, CRISIS_SMTP_FROM, CRISIS_SMTP_USER if needed)")
    if not probe:
        return Item("channels", subject, "amber", f"SMTP {host}:{port} configured, not checked (--no-probe)")
    return _bounded(subject, f"SMTP {host}:{port}", lambda: _smtp_probe(subject, host, port, password), password)


def _smtp_probe(subject: str, host: str, port: int, password: str) -> Item:
    user = os.environ.get("CRISIS_SMTP_USER")
    try:
        with smtplib.SMTP(host, port, timeout=PROBE_TIMEOUT) as smtp:
            smtp.ehlo_or_helo_if_needed()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=send.tls_context())
                smtp.ehlo()
            if user:
                smtp.login(user, password)
            code, _ = smtp.noop()
    except smtplib.SMTPAuthenticationError as exc:
        return Item("channels", subject, "red", f"SMTP {host}:{port} refused the login of {user} ({exc.smtp_code})",
                    "check CRISIS_SMTP_USER and the password")
    except (OSError, smtplib.SMTPException) as exc:
        return Item("channels", subject, "red", f"SMTP {host}:{port} not reachable: {_reason(exc, password)}",
                    "check CRISIS_SMTP_HOST and CRISIS_SMTP_PORT, and that the server accepts this machine")
    if code != 250:
        return Item("channels", subject, "amber", f"SMTP {host}:{port} answered NOOP with {code}")
    return Item("channels", subject, "green", f"SMTP {host}:{port} answers"
                + (f", login of {user} accepted" if user else "") + " (nothing sent)")


def _webhook(subject: str, url: str, label: str, probe: bool) -> Item:
    if not probe:
        return Item("channels", subject, "amber", f"URL from {label}, not checked (--no-probe)")
    return _bounded(subject, f"the URL from {label}", lambda: _head(subject, url, label), url)


def _head(subject: str, url: str, label: str) -> Item:
    try:
        answer = httpx.head(url, timeout=PROBE_TIMEOUT, follow_redirects=False, verify=send.tls_context())
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return Item("channels", subject, "red", f"not reachable (URL from {label}): {_reason(exc, url)}",
                    f"check the URL in {label} and that this machine can reach it")
    if answer.status_code in UNAVAILABLE:
        return Item("channels", subject, "amber", f"the server answers HEAD with {answer.status_code}: the service "
                    f"behind it is down (URL from {label})", "check the receiving service")
    return Item("channels", subject, "green", f"a server answers (HEAD: {answer.status_code}; URL from {label}; "
                "nothing sent)")


def _apprise(subject: str, url: str, label: str) -> Item:
    import apprise  # late: heavy, and only needed for this kind

    if not apprise.Apprise().add(url):
        return Item("channels", subject, "red", f"Apprise does not understand the URL from {label}",
                    "check the URL against Apprise's list of services")
    return Item("channels", subject, "green", f"URL from {label} understood by Apprise (Apprise has no check that "
                "sends nothing: a drill tests the delivery)")


def _folder(subject: str, folder: Path) -> Item:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError as exc:
        return Item("channels", subject, "red", f"the outbox {folder} cannot be made: {exc.strerror}",
                    "check the project's .crisis folder")
    if not writable:
        return Item("channels", subject, "red", f"the outbox {folder} is not writable", "fix its permissions")
    return Item("channels", subject, "green", f"written to the outbox {folder}: a person publishes from there")


def _bounded(subject: str, what: str, check: Callable[[], Item], *hidden: str) -> Item:
    """`check` with a deadline for the whole of it, and whatever it raises as a red item (scrubbed of `hidden`)."""
    found: list[Item] = []

    def run() -> None:
        try:
            found.append(check())
        except Exception as exc:  # a host name IDNA refuses, a password SMTP cannot encode …: a finding, not a crash
            found.append(Item("channels", subject, "red", f"{what} could not be checked: {type(exc).__name__}: "
                              f"{_reason(exc, *hidden)}", "check the setting named"))

    worker = threading.Thread(target=run, name=f"probe {subject}", daemon=True)
    worker.start()
    worker.join(PROBE_DEADLINE)
    if found:
        return found[0]
    return Item("channels", subject, "red", f"{what}: no complete answer within {PROBE_DEADLINE:g} s",
                "check that the server answers promptly (a crisis will not wait for it either)")


def _reason(exc: BaseException, *hidden: str) -> str:
    return scrub(str(exc) or type(exc).__name__, *hidden)[:200]
