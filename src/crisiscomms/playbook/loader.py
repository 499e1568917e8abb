"""Load playbook files: YAML → located plain data → strict models, every problem reported at once."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from crisiscomms.errors import Issue, PlaybookError, show
from crisiscomms.playbook.models import Phases, Playbook
from crisiscomms.playbook.step_types import STEP_TYPES, step_type_name
from crisiscomms.playbook.yamlfile import Document, Loc, read_document


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
        raise PlaybookError(issues_of(doc, exc)) from None
    return LoadedPlaybook(playbook, doc, path, hashlib.sha256(doc.raw).hexdigest())  # the bytes parsed


def issues_of(doc: Document, exc: ValidationError) -> list[Issue]:
    """A model's validation errors as issues of the YAML document it was read from: file, line, path, message."""
    return [_issue(doc, error) for error in exc.errors()]


def _issue(doc: Document, error: Any) -> Issue:
    located = _data_loc(doc.data, tuple(error["loc"]))
    loc = located.loc
    if error["type"] == "union_tag_invalid" and isinstance(error["input"], dict) and loc[-1:] != ("type",):
        loc = (*loc, "type")  # the wrong word is the value of `type:`, not the whole step
    return doc.issue(loc, _message(error, located), at_key=error["type"] == "extra_forbidden")


@dataclass(frozen=True)
class _Located:
    loc: Loc
    missing: str | None  # the last key of the error's loc when it is absent from the file


def _has(container: Any, part: Any) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _data_loc(data: Any, loc: tuple[Any, ...]) -> _Located:
    """Keep the parts of a pydantic loc that exist in the data. The others name a member of a union
    (`checklist.item`, `file`, `str`, `[key]`), except the last part of a missing field, which is its name."""
    kept: list[Any] = []
    current = data
    for i, part in enumerate(loc):
        if _has(current, part):
            current = current[part]
            kept.append(part)
        elif i == len(loc) - 1 and isinstance(part, str) and isinstance(current, dict):
            return _Located(tuple(kept), part)
    return _Located(tuple(kept), None)


_PATTERNS = {
    r"^[a-z][a-z0-9_]{0,62}$": "is not a valid name: lowercase letters, digits and _, starting with a letter",
    r"^[a-z][a-z0-9-]{0,62}$": "is not a valid playbook id: lowercase letters, digits and -, starting with a letter",
    r"^[a-z]{2}$": "is not a language code: two lowercase letters (ISO 639-1: fr, en …)",
}
# What a value should have been, by pydantic error type: said in the words of YAML, not of Python.
_EXPECTED = {
    "model_type": "a mapping (key: value lines)", "model_attributes_type": "a mapping (key: value lines)",
    "dict_type": "a mapping (key: value lines)", "list_type": "a list", "string_type": "a text",
    "int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false",
}
# Which union a `type:` picks a member of, by the list holding it.
_UNIONS = {"steps": ("step type", "e.g. checklist.item"), "sources": ("source type", "file, rss or http")}


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


def _union(loc: tuple[Any, ...]) -> tuple[str, str]:
    holder = next((part for part in reversed(loc) if part in _UNIONS), None)
    return _UNIONS[holder] if holder else ("type", "")


def _message(error: Any, located: _Located) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return f"missing required field {show(located.missing or str(error['loc'][-1]))}"
    if kind == "extra_forbidden":
        return f"unknown key {show(str(error['loc'][-1]))}{_allowed_keys(tuple(error['loc']))}"
    if kind == "union_tag_invalid":
        known = ", ".join(sorted(re.findall(r"'([^']*)'", error["ctx"]["expected_tags"])))
        tag = value.get("type") if isinstance(value, dict) else error["ctx"]["tag"]
        return f"unknown {_union(error['loc'])[0]} {show(tag)} (known: {known})"
    if kind == "union_tag_not_found":
        noun, example = _union(error["loc"])
        return f"missing required field 'type' (the {noun}{', ' if example.startswith('e.g') else ': '}{example})"
    if kind == "literal_error" and isinstance(value, dict | list):
        return f"should be {error['ctx']['expected']}, not {_described(value)}"
    if kind == "literal_error":
        return f"{show(value)} is not allowed: expected {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        return f"{show(value)} {_PATTERNS.get(error['ctx']['pattern'], 'has the wrong form')}"
    if kind in _EXPECTED:
        return f"should be {_EXPECTED[kind]}, not {_described(value)}"
    message = error["msg"].removeprefix("Value error, ")
    return message[0].lower() + message[1:] if message else kind


def _described(value: Any) -> str:
    """What YAML made of a value, with a hint when YAML read a text as something else."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty (null)"
    if isinstance(value, bool | int | float | date):
        what = "date" if isinstance(value, date) else "number" if not isinstance(value, bool) else "boolean"
        return f"the {what} {show(value)} (put it in quotes to make it a text)"
    return show(value)
