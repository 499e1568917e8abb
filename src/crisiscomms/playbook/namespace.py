"""What templates and conditions read: one typed model per namespace, used to render and to check.

    message templates  MessageNamespace  org, facts, audience, channel, message, assessment, claim, inputs, playbook
    step texts, `when:` StepNamespace     inputs, playbook, team, alert — and each earlier step's result by its id

Rendering builds these models (`communication.messages`, `StepContext.namespace()`), so a template can read
exactly the names validation knows of; validation resolves every dotted name a text or condition reads against
the same annotations (`{{ pack.nope }}`, `{{ playbook.nope }}`, `inputs.gone` are reported before a run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict

from crisiscomms.mention import Alert
from crisiscomms.playbook.communication import FactTexts, Organisation
from crisiscomms.playbook.expression import Kind
from crisiscomms.playbook.markers import Keys
from crisiscomms.playbook.models import Playbook, Role
from crisiscomms.playbook.step_types import step_type_name
from crisiscomms.playbook.steps import AssessmentRecord, Record


class _Names(BaseModel):
    """Built without validation at render time: results and inputs are data from runs, passed on as read."""

    model_config = ConfigDict(frozen=True)

    def values(self) -> dict[str, Any]:
        """The names a template is rendered with: exactly the model's fields."""
        return {name: getattr(self, name) for name in type(self).model_fields}


class PlaybookNames(BaseModel):
    id: str
    version: str


class MessagePlaybookNames(PlaybookNames):
    title: str


class AudienceNames(BaseModel):
    name: str
    title: str
    kind: str
    language: str


class ChannelNames(BaseModel):
    name: str
    title: str
    kind: str
    max_length: int | None


class MessageNames(BaseModel):
    kind: str
    language: str
    drill: bool
    next_update_longest: int


class RenderedFacts(FactTexts):
    """The fact sheet as a template sees it, in the message's language: `next_update` is the promise as spoken
    (`18 h 30 (heure de Paris)`), or the marker a release replaces with it — no longer the delay or date the playbook
    gives; no translations (the message's own language is already chosen)."""

    next_update: str = ""


class ClaimNames(BaseModel):
    text: str
    truth: str
    source: str


class MessageNamespace(_Names):
    """What a message template reads (communication.messages renders with exactly this)."""

    org: Organisation
    facts: RenderedFacts
    audience: AudienceNames
    channel: ChannelNames
    message: MessageNames
    assessment: AssessmentRecord | None
    claim: ClaimNames | None
    inputs: Annotated[dict[str, Any], Keys("input")]
    playbook: MessagePlaybookNames


class StepNamespace(_Names):
    """What a step's texts and `when:` read besides the results of earlier steps (StepContext.namespace())."""

    inputs: Annotated[dict[str, Any], Keys("input")]
    playbook: PlaybookNames
    team: Annotated[dict[str, Role], Keys("role")]
    alert: Alert | None


STEP_NAMES = frozenset(StepNamespace.model_fields)
# The top-level names that are mappings keyed by the playbook's names (inputs, team): a loop over one yields texts.
KEYED_NAMES = frozenset(
    name for model in (StepNamespace, MessageNamespace) for name, field in model.model_fields.items()
    if any(isinstance(m, Keys) for m in field.metadata))


@dataclass(frozen=True)
class Found:
    """What is known of the value a dotted name reads: its ordered values when it has some (a choice, a Literal)."""

    annotation: Any = Any
    ordered: tuple[str, ...] | None = None

    @property
    def kind(self) -> Kind | None:
        """Text, number, boolean, list or mapping, when the annotation says (a condition compares like kinds)."""
        base, keys = _unwrap(self.annotation)
        if keys is not None or get_origin(base) is dict or base is dict:
            return "mapping"
        if get_origin(base) is Literal:
            return "text" if all(isinstance(v, str) for v in get_args(base)) else None
        if get_origin(base) in (list, tuple) or base in (list, tuple):
            return "list"
        if not isinstance(base, type):
            return None
        return next((kind for types, kind in _KINDS if issubclass(base, types)), None)


# bool before numbers: a bool is an int to Python, not to a person writing a condition.
_KINDS: tuple[tuple[type | tuple[type, ...], Kind], ...] = (
    (bool, "boolean"), ((int, float), "number"), (str, "text"), (BaseModel, "mapping"))
# What an input holds in a run (inputs are resolved as JSON: a date and time is an ISO text).
_INPUT_TYPES: dict[str, Any] = {"integer": int, "number": float, "boolean": bool}


@dataclass(frozen=True)
class Head:
    annotation: Any
    what: str  # how problems name it: "step 'faits' (checklist.item)", "facts"


@dataclass(frozen=True)
class Scope:
    """The top-level names a text or condition may read, and the playbook's inputs and roles below them."""

    heads: Mapping[str, Head]
    keys: Mapping[str, Mapping[str, Found]]

    def resolve(self, ref: tuple[str, ...], leaf: bool = False) -> Found | str:
        """What `ref` reads, or why the run would not have it. `leaf`: a condition, which compares values, may not
        read past one; a template may (a text's methods, an input's characters are not checked)."""
        head = self.heads.get(ref[0])
        if head is None:
            return f"unknown name '{ref[0]}'"
        found, what = Found(head.annotation), head.what
        for part in ref[1:]:
            name, each = (part[:-len(ELEMENT)], True) if part.endswith(ELEMENT) else (part, False)
            below = self._member(found.annotation, what, name)
            if below is None:
                past = f"'{'.'.join(ref)}' reads past a value: {what} has no fields"
                below = past if leaf and not _is_mapping(found.annotation) else _scalar_member(found, what, name)
            if isinstance(below, str):
                return below
            found, what = below, f"{what}.{name}"
            if each:
                found, what = _element(found), f"{what}{ELEMENT}"
        return found

    def _member(self, annotation: Any, what: str, part: str) -> Found | str | None:
        base, keys = _unwrap(annotation)
        if keys is not None:
            known = self.keys.get(keys.kind, {})
            return known.get(part) or unknown(keys.kind, part, known)
        if isinstance(base, type) and issubclass(base, BaseModel):
            fields = base.model_fields
            if part not in fields:
                noun = "result field" if issubclass(base, Record) else "field"
                return f"{what} has no {noun} '{part}' (fields: {', '.join(fields)})"
            field_type = fields[part].annotation
            return Found(field_type, _literal_values(field_type))
        return None


_SCALARS = {str: "a text", int: "a whole number", float: "a number", bool: "true or false"}
# A part of a read ending so stands for any element of the list it names: `{% for v in pack.variants %}{{ v.x }}`
# reads `pack.variants[].x`.
ELEMENT = "[]"
_SEQUENCES = (list, tuple, set, frozenset, Sequence)


def _element(found: Found) -> Found:
    """What a loop over `found` yields: the list's item type when the annotation says, a text's characters, a
    mapping's keys; anything else (data of unknown shape) is not checked."""
    base, keys = _unwrap(found.annotation)
    args = get_args(base)
    if get_origin(base) in _SEQUENCES and (len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis)):
        return Found(args[0], _literal_values(args[0]))
    if keys is not None or base is str:
        return Found(str)
    return Found(args[0]) if get_origin(base) is dict and args else Found()


def literal_member(kind: type, what: str, part: str) -> str | None:
    """Why a template cannot read `part` below a literal it set (`{% set x = "texte" %}{{ x.nope }}`), or None."""
    found = _scalar_member(Found(kind), what, part)
    return found if isinstance(found, str) else None


def _scalar_member(found: Found, what: str, part: str) -> Found | str:
    """Below a typed text or number a template may call its methods (`inputs.marque.upper()`), nothing else."""
    base, _ = _unwrap(found.annotation)
    if base not in _SCALARS or (hasattr(base, part) and not part.startswith("_")):
        return Found()
    return f"{what} is {_SCALARS[base]}: it has no field '{part}'"


def step_scope(playbook: Playbook) -> Scope:
    """Every name a step could read: the step namespace and every step's result (which steps are earlier is the
    caller's rule)."""
    heads = _heads(StepNamespace)
    for _, _, step in playbook.steps():
        heads.setdefault(step.id, Head(type(step).Result, f"step '{step.id}' ({step_type_name(type(step))})"))
    return Scope(heads, _keys(playbook))


def message_scope(playbook: Playbook) -> Scope:
    return Scope(_heads(MessageNamespace), _keys(playbook))


def _heads(model: type[BaseModel]) -> dict[str, Head]:
    """The model's fields as top-level names (pydantic keeps a field's Annotated markers apart: put them back)."""
    return {name: Head(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation, name)
            for name, field in model.model_fields.items()}


def _keys(playbook: Playbook) -> dict[str, dict[str, Found]]:
    inputs = {name: Found(_INPUT_TYPES.get(spec.type, str), tuple(spec.choices) if spec.choices else None)
              for name, spec in playbook.inputs.items()}
    return {"input": inputs, "role": {name: Found(Role) for name in playbook.team}}


def _unwrap(annotation: Any) -> tuple[Any, Keys | None]:
    """The type under Optional[...] and Annotated[...], and its Keys marker if any."""
    keys = None
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *meta = get_args(annotation)
            keys = next((m for m in meta if isinstance(m, Keys)), keys)
        elif origin in (Union, UnionType):
            rest = [a for a in get_args(annotation) if a is not NoneType]
            if len(rest) != 1:
                return annotation, keys
            annotation = rest[0]
        else:
            return annotation, keys


def _is_mapping(annotation: Any) -> bool:
    base, keys = _unwrap(annotation)
    return keys is not None or get_origin(base) is dict


def _literal_values(annotation: Any) -> tuple[str, ...] | None:
    base, _ = _unwrap(annotation)
    return tuple(get_args(base)) if get_origin(base) is Literal else None


def unknown(kind: str, name: str, known: Any) -> str:
    names = ", ".join(sorted(known)) or "none declared"
    return f"unknown {kind} '{name}' (known: {names})"
