"""What comes back from the people of an approval stage, as the chain judges it: an answer or a timeout.

An `Answer` says who decided what, when, and by which path: `link` when it carries a receipt the approver page
signed for exactly this answer, stage and pack, else `ui` (the Prefect UI's form, `crisis approve`). An answer
whose receipt fails is still an answer, marked `void`: the chain refuses it and records why. A `Timeout` says
nobody answered in time: the wait ended (`flow`), or the deadline run resumed the run with its signed receipt
(`deadline`). Reading a form is the only place receipts are checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError

from crisiscomms.communication import signing
from crisiscomms.playbook.communication import FactSheet


@dataclass(frozen=True)
class Answer:
    decision: str  # approve | reject | request_changes
    name: str
    at: datetime
    comment: str = ""
    edits: str = ""  # fact-sheet fields as YAML, with request_changes only
    via: str = "ui"  # link | ui
    void: str = ""  # why the path it came by cannot be trusted: it cannot count


@dataclass(frozen=True)
class Timeout:
    at: datetime
    via: str = "flow"  # flow: the wait ended; deadline: the deadline run's receipt
    void: str = ""  # why the receipt cannot be trusted: nothing times out


def read(stage_id: str, pack_hash: str, form: dict[str, Any] | None, key: bytes, now: datetime) -> Answer | Timeout:
    """The form's fields as given at a stage (None: the wait ended without one). A `link_receipt` is either the
    approver page's (an answer through a personal link) or the deadline run's (nobody answered in time)."""
    if form is None:
        return Timeout(now)
    receipt = form.get("link_receipt", "") or ""
    if receipt and _purpose(receipt) == "deadline":
        return Timeout(now, "deadline", _deadline_problem(stage_id, receipt, key))
    via, void = _path(stage_id, pack_hash, form, key)
    return Answer(form["decision"], form["name"], now, form.get("comment", "") or "", form.get("edits", "") or "",
                  via, void)


def _purpose(token: str) -> str:
    try:
        return str(signing.peek(token).get("k", ""))
    except signing.TokenError:
        return ""


def _deadline_problem(stage_id: str, receipt: str, key: bytes) -> str:
    try:
        fields = signing.verify(key, "deadline", receipt)
    except signing.TokenError as exc:
        return f"the deadline receipt is not valid ({exc})"
    return "" if fields.get("s") == stage_id else "the deadline receipt is for another stage"


def _path(stage_id: str, pack_hash: str, form: dict[str, Any], key: bytes) -> tuple[str, str]:
    """("link", "") with a valid receipt for exactly this answer, ("ui", "") without one, else why it is void."""
    receipt = form.get("link_receipt", "") or ""
    if not receipt:
        return "ui", ""
    try:
        fields = signing.verify(key, "receipt", receipt)
    except signing.TokenError as exc:
        return "link", f"the link receipt is not valid ({exc}): nothing was decided"
    expected = {"s": stage_id, "p": form["name"], "h": pack_hash, "d": form["decision"],
                "c": signing.digest(form.get("comment", "") or "")}
    if any(fields.get(k) != v for k, v in expected.items()):
        return "link", "the link receipt does not match this answer, stage or pack: nothing was decided"
    return "link", ""


Languages = tuple[str, Sequence[str]]  # the playbook's language (top-level fields), the languages of the pack


def parse_edits(decision: str, text: str, languages: Languages = ("", ())
                ) -> tuple[dict[str, Any] | None, str | None]:
    """The fact-sheet edits of a request for changes, or why they cannot be used (the stage asks again)."""
    if not text.strip():
        return None, None
    if decision != "request_changes":
        return None, "edits come with request_changes only: nothing was decided, answer again"
    try:
        edits = yaml.safe_load(text)
        if not isinstance(edits, dict):
            raise ValueError("write fact-sheet fields as `field: value` lines")
        FactSheet.model_validate(edits)
        uncovered = uncovered_edits(edits, *languages)
        if uncovered:
            raise ValueError(uncovered)
    except ValidationError as exc:
        wrong = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return None, f"edits not usable, nothing was decided: {wrong[:300]}"
    except (yaml.YAMLError, ValueError) as exc:
        return None, f"edits not usable, nothing was decided: {str(exc).splitlines()[0][:300]}"
    return edits, None


def uncovered_edits(edits: dict[str, Any], own: str, languages: Sequence[str]) -> str:
    """Why the edits would leave messages of one language with the facts they replace in another ("" if they do not):
    each field edited (but `next_update`, one promise) must be edited in every language the pack is written in.
    Top-level fields are the playbook's language (`own`), `translations: {en: {…}}` the others, as in the playbook."""
    translations = edits.get("translations") or {}
    if own in translations:
        return f"translations.{own}: {own} is the playbook's language: give its fields at the top level"
    given = {own: set(edits) - {"translations", "next_update"}}
    given |= {language: set(words) for language, words in translations.items()}
    edited = set().union(*given.values())
    for language in languages:
        missing = sorted(edited - given.get(language, set()))
        if missing:
            where = "as top-level fields" if language == own else f"under `translations: {{{language}: …}}`"
            return (f"{', '.join(missing)} edited but not in {language}: its messages would keep the old facts; "
                    f"give the {language} version too, {where}")
    return ""
