"""Telling an approver it is their turn: one message per person per stage, with their own link.

It goes by the person's `notify` (their `email` over SMTP — the default when they have an address — or a playbook
channel of kind apprise or webhook); in a drill, to the drill outbox only (`.crisis/outbox/exercice/approvals/`),
whatever the playbook says. The message carries the link, the stage and its deadline, never the pack itself:
the page the link opens shows the pack.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from crisiscomms import drillmode
from crisiscomms.communication import channels
from crisiscomms.communication.approval import Member, StageRecord
from crisiscomms.communication.messages import Variant, spoken_time
from crisiscomms.errors import CrisisError
from crisiscomms.playbook.models import Channel, Playbook

DRILL_FOLDER = "exercice"
CHANNEL = "approvals"  # the channel name notifications carry in receipts and the drill outbox


@dataclass(frozen=True)
class Notice:
    person: str
    status: str  # sent | failed | skipped
    detail: str


_TEXT = {
    "fr": ("{drill}Validation attendue : {title} — étape {number}/{of}",
           "Bonjour {name},\n\n{drill}Une validation vous attend : {title}, étape {number}/{of} ({roles}).\n"
           "À décider avant le {deadline}.\n\nLire le pack tel qu'il partira, et décider :\n{link}\n\n"
           "Ce lien est personnel : il vous identifie. Ne le transférez pas. Il expire avec l'étape.\n"
           "Empreinte du pack (SHA-256) : {hash}\n"),
    "en": ("{drill}Approval needed: {title} — stage {number}/{of}",
           "Hello {name},\n\n{drill}An approval is waiting for you: {title}, stage {number}/{of} ({roles}).\n"
           "Decide before {deadline}.\n\nRead the pack exactly as it will leave, and decide:\n{link}\n\n"
           "This link is personal: it identifies you. Do not forward it. It expires with the stage.\n"
           "Pack fingerprint (SHA-256): {hash}\n"),
}


def request_message(stage: StageRecord, approver: Member, link: str, language: str) -> tuple[str, str]:
    """(subject, text) of the approval request, in the playbook's language (French or English)."""
    subject, text = _TEXT.get(language, _TEXT["en"])
    drill = ("[EXERCICE] " if language == "fr" else "[DRILL] ") if stage.drill else ""
    values = {"drill": drill, "title": stage.title, "number": stage.number, "of": stage.of, "name": approver.name,
              "roles": ", ".join(stage.roles), "deadline": spoken_time(stage.deadline_at, language),
              "link": link, "hash": stage.hash}
    return subject.format(**values), text.format(**values)


def notice_key(stage_id: str, person: str) -> str:
    """One key per person per stage: the e-mail Message-ID and the drill file name; a resend is the same message."""
    return "approval-" + hashlib.sha256(f"{stage_id}\n{person}".encode()).hexdigest()[:32]


def route(playbook: Playbook, approver: Member) -> Channel | None:
    """The channel that reaches this person, or None when the playbook gives none."""
    if approver.notify in (None, "email"):
        return Channel(kind="email", to=[approver.email]) if approver.email else None
    return playbook.channels.get(approver.notify)


def send_request(playbook: Playbook, stage: StageRecord, approver: Member, link: str, outbox: Path,
                 secrets: channels.SecretReader | None = None) -> Notice:
    subject, text = request_message(stage, approver, link, playbook.language)
    key = notice_key(stage.stage_id, approver.name)
    variant = Variant(id=f"approval/{approver.name}", kind="approval_request", audience=approver.role,
                      channel=CHANNEL, language=playbook.language, template="", subject=subject, text=text)
    if stage.drill or drillmode.current():
        return Notice(approver.name, "sent", channels.file_sender(outbox / DRILL_FOLDER)(variant, Channel(
            kind="file"), key))
    channel = route(playbook, approver)
    if channel is None:
        return Notice(approver.name, "skipped", "no e-mail address or `notify` channel in the playbook")
    send = channels.sender_for(channel, outbox, secrets)
    try:
        return Notice(approver.name, "sent", send(variant, channel, key))
    except (CrisisError, channels.TransientError, channels.InDoubt) as exc:
        return Notice(approver.name, "failed", f"{type(exc).__name__}: {exc}"[:300])
