"""Every message the playbook can send — each kind, audience, channel and language, corrections and the all-clear
included — rendered with the playbook's sample inputs (their defaults) and put through the pack checks."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from crisiscomms.communication.messages import PackContext, render_pack
from crisiscomms.playbook.communication import MESSAGE_KINDS
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.readiness.report import Item, where

SAMPLE_CLAIM = {"text": "(exemple) Une rumeur qui circule.", "truth": "(exemple) Ce qui est vrai.", "source": ""}


def message_items(loaded: LoadedPlaybook, templates_dir: Path, inputs: dict[str, Any]) -> list[Item]:
    playbook = loaded.playbook
    claims = playbook.communication.claims
    claim = {"text": claims[0].claim, "truth": claims[0].truth, "source": claims[0].source or ""} if claims \
        else SAMPLE_CLAIM
    pack = render_pack(playbook, templates_dir, PackContext(inputs=inputs, claim=claim, kinds=list(MESSAGE_KINDS)))
    items: list[Item] = []
    clean: dict[tuple[str, str], list[str]] = defaultdict(list)
    for variant in pack.variants:
        if variant.problems:
            index = next(i for i, spec in enumerate(playbook.communication.messages) if spec.kind == variant.kind
                         and variant.audience in spec.audiences and variant.channel in spec.channels)
            items.append(Item("templates", f"{variant.kind} for {variant.audience} on {variant.channel} "
                              f"({variant.language})", "red", "; ".join(variant.problems),
                              _fix(variant.problems, variant.template, variant.channel),
                              where(loaded, "communication", "messages", index)))
        else:
            clean[(variant.kind, variant.language)].append(f"{variant.audience}/{variant.channel}")
    for (kind, language), routes in clean.items():
        items.append(Item("templates", f"{kind} ({language})", "green",
                          f"{len(routes)} message(s) render and pass the checks: {', '.join(routes)}"))
    return items


def _fix(problems: list[str], template: str, channel: str) -> str:
    fixes = [f"fix {template or 'the template'} (rendered with the inputs' defaults)"]
    if any("the channel allows" in problem for problem in problems):
        fixes.append(f"or raise channel {channel}'s `max_length` if the channel takes more")
    return "; ".join(fixes)

