"""Load playbook files: YAML → located plain data → strict models, every problem reported at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from crisiscomms.errors import Issue, PlaybookError
from crisiscomms.playbook.models import Phases, Playbook
from crisiscomms.playbook.steps import STEP_TYPES, step_type_name
from crisiscomms.playbook.yamlfile import Document, Loc, read_document

_STEP_TYPE_NAMES = {step_type_name(model) for model in STEP_TYPES}


@dataclass(frozen=True)
class LoadedPlaybook:
    """A playbook with what the audit trail needs: where it came from and its exact content hash."""

    playbook: Playbook
    document: Document
    path: Path
    sha256: str


def load_playbook(path: Path, display: str | None = None) -> LoadedPlaybook:
    """Parse and validate the models of one file; raise PlaybookError with every issue found."""
    doc = read_document(path, display)
    if not isinstance(doc.data, dict):
        raise PlaybookError([doc.issue((), "a playbook is a mapping of keys (id, version, phases …)")])
    try:
        playbook = Playbook.model_validate(doc.data)
    except ValidationError as exc:
        raise PlaybookError([_issue(doc, error) for error in exc.errors()]) from None
    return LoadedPlaybook(playbook, doc, path, hashlib.sha256(path.read_bytes()).hexdigest())


def _issue(doc: Document, error: Any) -> Issue:
    located = _data_loc(doc.data, tuple(error["loc"]))
    loc = located.loc
    if error["type"] in ("union_tag_invalid", "literal_error") and isinstance(error["input"], dict):
        loc = (*loc, "type")
    return doc.issue(loc, _message(error, located.missing), at_key=error["type"] == "extra_forbidden")


@dataclass(frozen=True)
class _Located:
    loc: Loc
    missing: str | None  # the last key of the error's loc when it is absent from the file


def _has(container: Any, part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and part < len(container)


def _data_loc(data: Any, loc: tuple[Any, ...]) -> _Located:
    """Keep the parts of a pydantic loc that exist in the data (drops union tags like 'note.log')."""
    kept: list[Any] = []
    current = data
    for i, part in enumerate(loc):
        if _has(current, part):
            current = current[part]
        elif part in _STEP_TYPE_NAMES or (isinstance(part, str) and "[" in part):
            continue
        else:
            return _Located(tuple(kept), str(part) if i == len(loc) - 1 else None)
        kept.append(part)
    return _Located(tuple(kept), None)


_PATTERNS = {
    r"^[a-z][a-z0-9_]{0,62}$": "is not a valid name: lowercase letters, digits and _, starting with a letter",
    r"^[a-z][a-z0-9-]{0,62}$": "is not a valid playbook id: lowercase letters, digits and -, starting with a letter",
    r"^[a-z]{2}$": "is not a language code: two lowercase letters (ISO 639-1: fr, en …)",
}


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    """`(allowed: …)` for an unknown key, when the model at its place is known."""
    fields: Any = None
    if len(loc) == 1:
        fields = Playbook.model_fields
    elif len(loc) == 2 and loc[0] == "phases":
        fields = Phases.model_fields
    elif len(loc) == 6 and loc[0] == "phases" and loc[2] == "steps":
        fields = next((m.model_fields for m in STEP_TYPES if step_type_name(m) == loc[4]), None)
    if not fields:
        return ""
    names = [f.alias or name for name, f in fields.items()]
    return f" (allowed: {', '.join(names)})"


def _message(error: Any, missing: str | None) -> str:
    kind = error["type"]
    if kind == "missing":
        return f"missing required field '{missing}'"
    if kind == "extra_forbidden":
        return f"unknown key '{error['loc'][-1]}'{_allowed_keys(tuple(error['loc']))}"
    if kind == "union_tag_invalid":
        known = ", ".join(sorted(_STEP_TYPE_NAMES))
        return f"unknown step type {error['input'].get('type')!r} (known: {known})"
    if kind == "union_tag_not_found":
        return "missing required field 'type' (the step type, e.g. checklist.item)"
    if kind == "literal_error":
        return f"{error['input']!r} is not allowed: expected {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} {_PATTERNS.get(error['ctx']['pattern'], 'has the wrong form')}"
    message = error["msg"].removeprefix("Value error, ")
    return message[0].lower() + message[1:] if message else kind
