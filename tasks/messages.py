"""message.pack: render and check every message of the communication phase, keep the pack for approval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from crisiscomms import drillmode
from crisiscomms.communication import messages
from crisiscomms.errors import CrisisError, show
from crisiscomms.monitoring.store import state_dir
from crisiscomms.playbook.communication import FactSheet
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.steps import ClaimSpreadRecord, MessagePack, PackRecord, yes_no
from crisiscomms.report import reporting
from crisiscomms.review import crises


def _text(source: str | None, context: StepContext) -> str:
    return context.render(source).strip() if source else ""


def _drill(step: MessagePack, context: StepContext) -> bool:
    """`drill:` as rendered: a yes/no word, or the step fails — an unclear answer is never taken as "not a drill".
    In a drill's stack every pack is a drill pack, whatever the step says."""
    if drillmode.current():
        return True
    if isinstance(step.drill, bool):
        return step.drill
    rendered = _text(step.drill, context)
    found = yes_no(rendered)
    if found is None:
        raise CrisisError(f"step '{step.id}': drill renders to {show(rendered)}, not a yes/no word (true/false, "
                          "yes/no, oui/non, vrai/faux, 1/0): the pack is not rendered rather than sent as no drill")
    return found


def pack_context(step: MessagePack, context: StepContext) -> messages.PackContext:
    drill = _drill(step, context)
    spread = _spread(step, context)
    claim = None
    if step.claim:
        claim = {"text": _text(step.claim, context), "truth": _text(step.truth, context), "source": ""}
    elif spread is not None:  # the claim as measured: its words, its truth, where to check
        claim = {"text": spread.claim, "truth": spread.truth, "source": spread.source}
    assessment = context.results.get(step.assessment) if step.assessment else None
    return messages.PackContext(inputs=context.inputs, assessment=assessment, claim=claim, drill=drill,
                                kinds=step.kinds, audiences=spread.audiences if spread is not None else None,
                                claim_id=spread.claim_id if spread is not None else "")


def _spread(step: MessagePack, context: StepContext) -> ClaimSpreadRecord | None:
    if not step.audiences_from:
        return None
    if not context.has_result(step.audiences_from):
        raise CrisisError(f"step '{step.id}': no result from claim.spread step '{step.audiences_from}'")
    return context.result(step.audiences_from, ClaimSpreadRecord)


def _left_out(spread: ClaimSpreadRecord | None, pack: messages.Pack) -> str:
    """Audiences where the claim spreads that the pack does not reach: no message of its kinds for them."""
    missing = sorted(set(spread.audiences) - {v.audience for v in pack.variants}) if spread else []
    if not missing:
        return ""
    return f"the claim also spreads in {', '.join(missing)}, but no message of these kinds is declared for them"


def _nothing_to_send(step: MessagePack, spread: ClaimSpreadRecord | None, note: str) -> PackRecord:
    if spread is not None:
        where = ", ".join(spread.audiences) or "no audience"
        reason = (f"nothing to correct: « {spread.claim} » spreads in {where} "
                  f"({spread.mentions} mention(s) carrying it, {spread.denials} denying it)")
    else:
        reason = "no message of the kinds asked is declared"
    reason += f"; {note}" if note else ""
    get_run_logger().warning("%s: %s — no pack kept, nothing to approve", step.id, reason)
    return PackRecord(hash="", variants=[], problems=[], path="", next_update="", status="nothing_to_send",
                      note=reason)


@task(name="message.pack")
def render_message_pack(step: MessagePack, context: StepContext, edits: dict[str, Any] | None = None
                        ) -> PackRecord:
    """`edits`: fact-sheet fields an approver changed (a re-render asked from the approval step), in the sheet's
    shape: every language is rendered again from its own sheet."""
    playbook, root = context.playbook, Path(context.root)
    settings = pack_context(step, context)
    if edits:
        edited: FactSheet = playbook.communication.facts.edited(edits)
        settings.facts = edited
        get_run_logger().info("re-rendered with edited fact-sheet fields: %s", ", ".join(sorted(edits)))
    pack = messages.render_pack(playbook, root / "templates", settings)
    spread = _spread(step, context)
    note = _left_out(spread, pack)
    if not pack.variants:
        return _nothing_to_send(step, spread, note)
    if note:
        get_run_logger().warning("%s: %s", step.id, note)
    folder = state_dir(root) / "packs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{playbook.id}-{pack.hash[:16]}.json"
    path.write_text(pack.model_dump_json(indent=1), encoding="utf-8")
    create_markdown_artifact(reporting.pack_markdown(playbook, pack.model_dump()),
                             key=f"{playbook.id}-message-pack", description=f"{playbook.id}: messages to approve")
    if settings.drill and context.crisis:  # a drill's figures stay out of real-crisis comparisons
        crises.mark_drill(root, context.crisis)
    if pack.problems:
        raise CrisisError(f"message pack refused, {len(pack.problems)} problem(s):\n- " + "\n- ".join(pack.problems))
    get_run_logger().info("message pack %s: %d message(s), no problem", pack.hash[:16], len(pack.variants))
    return PackRecord(hash=pack.hash, variants=[v.id for v in pack.variants], problems=[], path=str(path),
                      next_update=pack.next_update, author=_text(step.author, context), note=note)
