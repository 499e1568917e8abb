"""The typed parameters of the Run form: the playbook as a choice, its crisis inputs as fields.

Prefect builds the Run form and the server-side parameter check from the flow's signature. The
signature is built here from the playbooks of the project, so that editing a playbook's `inputs:`
changes the form at the next `prefect deploy` — no code to touch.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from crisiscomms.errors import InputError, show
from crisiscomms.playbook.models import PHASES, InputSpec, Playbook

_SIMPLE: dict[str, Any] = {"string": str, "text": str, "integer": int, "number": float, "boolean": bool,
                           "datetime": datetime}
PhaseChoice = Literal[("all", *PHASES)]  # type: ignore[valid-type]


def playbook_choice(ids: list[str]) -> Any:
    """`Literal[...]` of the playbook ids: a select in the UI, enforced by the server."""
    return Literal[tuple(ids)] if ids else str  # type: ignore[valid-type]


def inputs_model(playbooks: list[Playbook]) -> type[BaseModel]:
    """One optional field per distinct input name across playbooks (types must agree)."""
    declared: dict[str, list[tuple[Playbook, InputSpec]]] = {}
    for playbook in playbooks:
        for name, spec in playbook.inputs.items():
            declared.setdefault(name, []).append((playbook, spec))
    fields = {name: _field(name, uses) for name, uses in sorted(declared.items())}
    config = ConfigDict(extra="forbid", title="Crisis inputs")
    return create_model("CrisisInputs", __config__=config, **fields)  # type: ignore[call-overload]


def _field(name: str, uses: list[tuple[Playbook, InputSpec]]) -> tuple[Any, Any]:
    specs = [spec for _, spec in uses]
    if len({spec.type for spec in specs}) > 1:
        where = ", ".join(f"{pb.id}: {spec.type}" for pb, spec in uses)
        raise InputError(f"input '{name}' has different types across playbooks ({where})")
    first = specs[0]
    if first.type == "choice":
        choices = list(dict.fromkeys(c for spec in specs for c in spec.choices or []))
        annotation: Any = Literal[tuple(choices)]  # type: ignore[valid-type]
    else:
        annotation = input_annotation(first)
    users = ", ".join(f"{pb.id}" + (f" = {spec.default}" if spec.default is not None else " (required)")
                      for pb, spec in uses)
    description = f"{first.description} — {users}. Empty: the playbook's default.".lstrip(" —")
    # No default here: a value is sent only when someone fills the field, so the chosen playbook's
    # own default applies otherwise, and a field meant for another playbook is never sent by accident.
    return (annotation | None, Field(None, title=first.title or name, description=description))


def input_annotation(spec: InputSpec) -> Any:
    """The Python type of one input in a form: a `Literal` of its choices (a select), or its simple type."""
    if spec.type == "choice":
        return Literal[tuple(spec.choices or ())]  # type: ignore[valid-type]
    return _SIMPLE[spec.type]


def playbook_inputs(playbook: Playbook) -> type[BaseModel]:
    """The playbook's inputs as one strict model: typed fields, its defaults, required ones required, text from the
    command line converted (`"7"`, `"oui"`) — the one place inputs are checked, whoever starts the run."""
    fields: dict[str, Any] = {
        name: (Annotated[input_annotation(spec), BeforeValidator(_checked(spec))],
               Field(... if spec.required else spec.default, description=spec.description))
        for name, spec in playbook.inputs.items()
    }
    config = ConfigDict(extra="forbid", title=f"Inputs of {playbook.id}")
    return create_model(f"Inputs_{playbook.id.replace('-', '_')}", __config__=config, **fields)  # type: ignore[call-overload]


def _checked(spec: InputSpec) -> Any:
    return lambda value: spec.check_value(_coerce(spec, value))


def resolve_inputs(playbook: Playbook, given: dict[str, Any]) -> dict[str, Any]:
    """The playbook's inputs: given values checked, defaults filled, unknown or missing ones refused (all at once).
    An empty value (None) means "the playbook's default"."""
    try:
        values = playbook_inputs(playbook).model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problems = [_problem(playbook, error) for error in exc.errors()]
        raise InputError(f"inputs of playbook '{playbook.id}':\n" + "\n".join(f"  - {p}" for p in problems)) from None
    return values.model_dump(mode="json")  # what a flow parameter holds: dates as ISO text


def _problem(playbook: Playbook, error: Any) -> str:
    name = str(error["loc"][0]) if error["loc"] else "?"
    if error["type"] == "extra_forbidden":
        return f"'{name}' is not an input of playbook '{playbook.id}'"
    if error["type"] == "missing":
        spec = playbook.inputs[name]
        return f"input '{name}' is required ({spec.description or spec.type})"
    return f"input '{name}': {str(error['msg']).removeprefix('Value error, ')}"


def _coerce(spec: InputSpec, value: Any) -> Any:
    """Command-line values arrive as text: turn them into the input's type."""
    if not isinstance(value, str):
        return float(value) if spec.type == "number" and isinstance(value, int) else value
    try:
        if spec.type == "integer":
            return int(value)
        if spec.type == "number":
            return float(value)
    except ValueError:
        raise ValueError(f"{show(value)} is not of type {spec.type}") from None
    if spec.type == "boolean":
        lowered = value.strip().lower()
        if lowered in {"true", "yes", "oui", "1", "vrai"}:
            return True
        if lowered in {"false", "no", "non", "0", "faux"}:
            return False
        raise ValueError(f"{show(value)} is not of type boolean (true/false)")
    return value
