"""Markers on playbook fields: what a value names or holds, read by the one walker over the spec.

    pack: Annotated[StepId, Ref(MessagePack)]          # another step, of this type
    owner: Annotated[Name, Names("role")]               # a key of `team`
    template: Annotated[str, TemplateFile("step")]      # a file under templates/, rendered with the step names
    when: Annotated[str, Condition()]                   # a `when:` expression

The models stay plain pydantic (markers change neither validation nor the JSON Schema); `walker.py` reads them
from the annotations, so a new field that points somewhere is checked and ordered the day it is typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What a template or text is rendered with: the step names (inputs, results…) or a message's (org, facts…).
Namespace = Literal["step", "message"]
NameKind = Literal["role", "channel", "audience", "playbook"]


@dataclass(frozen=True, init=False)
class Ref:
    """The value is the id of another step, of one of `types` (no type given: any step)."""

    types: tuple[type, ...]

    def __init__(self, *types: type) -> None:
        object.__setattr__(self, "types", types)


@dataclass(frozen=True)
class Names:
    """The value names something the playbook declares elsewhere (a role of `team`, a channel …)."""

    kind: NameKind


@dataclass(frozen=True)
class TemplateFile:
    """The value is a path under templates/, rendered with `namespace`."""

    namespace: Namespace


@dataclass(frozen=True)
class Text:
    """The value is inline Jinja text, rendered with `namespace`."""

    namespace: Namespace = "step"


@dataclass(frozen=True)
class Condition:
    """The value is a `when:` condition (crisiscomms.playbook.expression)."""


@dataclass(frozen=True)
class Keys:
    """A mapping of a template namespace whose keys are the playbook's declared `input`s or `role`s."""

    kind: Literal["input", "role"]


MARKERS: tuple[type, ...] = (Ref, Names, TemplateFile, Text, Condition)
