"""Small approved packs and playbooks for the release tests, written here so a test reads whole on one screen."""

from __future__ import annotations

from typing import Any

from crisiscomms.communication.messages import Variant, content_hash
from crisiscomms.playbook.models import Playbook

# Accents, a line starting with a dot (SMTP dot-stuffing), a long line (quoted-printable soft breaks).
TEXT = ("Rappel de précaution : lot L-2406 de yaourts « Nature ».\n"
        ".Ne consommez pas les pots concernés ; rapportez-les en magasin pour remboursement intégral, "
        "même entamés, jusqu'au 30 avril inclus.\n"
        "Information : 0 800 00 00 00 (appel gratuit).\n")

# The demo's (rappel-produit) fact sheet in English, for tests that write its messages in English too.
DEMO_FACTS_EN = {
    "subject": "Organic plain yoghurt 4 × 125 g",
    "summary": "Consumers have reported an unusual taste in organic plain yoghurts sold in Auvergne-Rhône-Alpes.",
    "known": ["The reports concern batches L26061 and L26062 (use by 28/03/2026).",
              "No other product is affected at this stage."],
    "doing": ["The batches concerned are being withdrawn from sale.",
              "Tests are under way with an independent laboratory and the health authorities."],
    "advice": ["Do not eat yoghurts from batches L26061 and L26062; return them to the shop for a refund."],
}


def playbook(channels: dict[str, dict[str, Any]]) -> Playbook:
    return Playbook.model_validate({"id": "essai-release", "version": "1.0", "title": "Essai", "phases": {},
                                    "channels": channels})


def variant(ident: str, channel: str, text: str = TEXT, subject: str = "Rappel de précaution") -> Variant:
    return Variant(id=ident, kind="holding_statement", audience="clients", channel=channel, language="fr",
                   template="messages/holding_statement.fr.md.j2", subject=subject, text=text)


def pack(*variants: Variant) -> dict[str, Any]:
    """A kept pack as the approval sees it (JSON-ready), with the hash of its texts."""
    return {"playbook": "essai-release", "variants": [v.model_dump() for v in variants],
            "hash": content_hash(list(variants))}
