"""The explicit map from step type to the one Prefect task that executes it."""

from __future__ import annotations

from prefect import Task

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
    Record,
    StepBase,
)
from tasks.approval import record_approval
from tasks.assessment import run_assessment
from tasks.checklist import record_checklist_item
from tasks.claims import measure_claim_spread, track_correction
from tasks.messages import render_message_pack
from tasks.note import log_note
from tasks.readiness import check_readiness
from tasks.release import release_pack
from tasks.review import collect_review, list_open_actions, record_lessons
from tasks.subplaybook import record_call

REGISTRY: dict[type[StepBase], Task[..., Record]] = {
    ChecklistItem: record_checklist_item,
    NoteLog: log_note,
    PlaybookCall: record_call,  # after flows/steps.py walked the callee in the run
    AssessmentRun: run_assessment,
    MessagePack: render_message_pack,
    MessageRelease: release_pack,
    MessageApprove: record_approval,  # after flows/approval.py decided (a pause belongs to the flow)
    ClaimSpread: measure_claim_spread,
    ClaimTrack: track_correction,
    ReviewCollect: collect_review,
    ReviewLessons: record_lessons,  # after flows/lessons.py asked the team (a pause belongs to the flow)
    ReviewActions: list_open_actions,
    ReadinessCheck: check_readiness,
}


def task_for(step: StepBase) -> Task[..., Record]:
    return REGISTRY[type(step)]
