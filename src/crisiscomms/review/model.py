"""What a post-mortem is made of: the crisis, its timeline, its figures, the lessons — plain records.

Built by `review/figures.py` from what collection found (`review/collect.py`); rendered by `review/markdown.py`
and `review/html.py`; sealed in the evidence pack by `review/evidence.py`. Every figure either has a value or
says why it has none (`missing`): a report never invents a number and never fails for a missing piece.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal[
    "signal",  # the onset of the rise in mentions (first window of the rise that ended in the alert)
    "alert",  # monitoring raised an alert (watch, alert, crisis)
    "assessment",  # an assessment was made (its priority)
    "pack",  # a message pack was prepared (its hash)
    "approval_requested",  # an approval stage opened
    "approval_decision",  # one approver's answer
    "approval_outcome",  # the chain's decision on a pack (approved, rejected, timed out, changes requested)
    "release",  # one message sent (or failed, or in doubt) on one channel for one audience
    "update_due",  # a promised update fell due (kept, late or missed)
    "claim",  # a false claim was found spreading
    "correction",  # a correction was released
    "all_clear",  # the all-clear was released: the crisis is over
    "halt",  # the kill switch stopped or resumed everything
    "run",  # a flow run of the crisis ended (its state), when that matters: crashed, failed, cancelled, paused
    "lessons",  # the team answered the review questions
]
Unit = Literal["seconds", "count", "share", "score", "money", "text"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(Model):
    """One line of the timeline."""

    at: datetime
    kind: EventKind
    title: str = Field(description="What happened, as a person reads it.")
    source: str = Field(description="Where it was read: `prefect:flow-run <id>`, `outbox`, `approvals`, "
                        "`monitoring`, `cadence`, `claims`, `crises`.")
    run: str | None = Field(None, description="The flow run it belongs to, when one does.")
    details: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


class Figure(Model):
    """One number of the post-mortem, or why there is none."""

    key: str = Field(description="Stable identifier: `time_to_detect`, `approval_wait.p1.s2.claire_martin` (pack 1, "
                     "stage 2) …")
    label: str
    value: float | int | str | None = None
    unit: Unit = "count"
    missing: str | None = Field(None, description="Why the figure cannot be computed (no release, crashed run, "
                                "pause never answered, monitoring off …).")
    group: str = Field("", description="Section of the report it belongs to: detection, statements, approvals, "
                       "cadence, messages, sentiment, claims, effort.")


class ApprovalWait(Model):
    """How long one approver took at one stage (None: never answered)."""

    pack: str
    stage: int
    role: str
    approver: str
    opened_at: datetime
    decided_at: datetime | None
    decision: str | None
    seconds: float | None


class Sent(Model):
    """One message as it went out (or did not)."""

    at: datetime | None
    kind: str
    audience: str
    channel: str
    language: str
    status: str  # sent, already_sent, failed, in_doubt, halted
    pack: str
    key: str
    receipt: str = ""


class WindowPoint(Model):
    """One monitoring window: volume, mean sentiment (None: no analysed mention), where it sits in the crisis."""

    start: datetime
    volume: int
    sentiment: float | None
    period: Literal["before", "during", "after"]


class Marker(Model):
    """A moment drawn on the charts."""

    at: datetime
    kind: Literal["alert", "statement", "update", "correction", "all_clear"]
    label: str


class Action(Model):
    what: str = Field(min_length=1, max_length=500)
    owner: str = Field(min_length=1, max_length=200)
    due: date


class Lessons(Model):
    """The team's answers to the playbook's review questions."""

    answered_by: str
    at: datetime
    answers: dict[str, str] = Field(description="Question → answer, in the playbook's order.")
    worked: str = ""
    not_worked: str = ""
    actions: list[Action] = Field(default_factory=list)


class RunSeen(Model):
    """A flow run of the crisis as Prefect recorded it."""

    id: str
    name: str
    flow: str
    state: str  # the state type: COMPLETED, FAILED, CRASHED, PAUSED, CANCELLED …
    state_name: str
    started: datetime | None
    ended: datetime | None
    tags: list[str] = Field(default_factory=list)
    task_runs: int = 0
    failed_task_runs: int = 0
    warnings: int = 0  # log lines at WARNING or above
    artifacts: list[str] = Field(default_factory=list)


class Crisis(Model):
    """A crisis as the registry keeps it."""

    id: str
    playbook: str
    title: str
    opened_at: datetime
    opened_by: str = Field(description="`monitoring` (an alert) or who started a playbook.")
    closed_at: datetime | None = None
    drill: bool = False


class PostMortem(Model):
    crisis: Crisis
    playbook_version: str
    playbook_sha256: str
    git_revision: str | None
    generated_at: datetime
    provisional: bool = Field(description="The crisis is still under way: the report so far.")
    timeline: list[Event]
    figures: list[Figure]
    approvals: list[ApprovalWait]
    sent: list[Sent]
    windows: list[WindowPoint]
    markers: list[Marker]
    runs: list[RunSeen]
    missing: list[str] = Field(description="Every piece that could not be collected or computed, and why.")
    lessons: Lessons | None = None

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)
