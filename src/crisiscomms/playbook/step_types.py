"""Every step type, gathered in the discriminated union a phase's `steps:` are read with."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from crisiscomms.playbook.readiness_steps import ReadinessCheck
from crisiscomms.playbook.review_steps import ReviewActions, ReviewCollect, ReviewLessons
from crisiscomms.playbook.steps import (
    AssessmentRun,
    ChecklistItem,
    ClaimSpread,
    ClaimTrack,
    MessageApprove,
    MessagePack,
    MessageRelease,
    NoteLog,
    PlaybookCall,
    StepBase,
)

STEP_TYPES: tuple[type[StepBase], ...] = (
    ChecklistItem, NoteLog, PlaybookCall, AssessmentRun, MessagePack, MessageApprove, MessageRelease,
    ClaimSpread, ClaimTrack, ReviewActions, ReviewCollect, ReviewLessons, ReadinessCheck,
)
Step = Annotated[Union[STEP_TYPES], Field(discriminator="type")]  # noqa: UP007 - built from a tuple


def step_type_name(model: type[StepBase]) -> str:
    return model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
