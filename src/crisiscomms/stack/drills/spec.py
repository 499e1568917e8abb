"""The drill file: which playbook, which recorded crisis, what the team and the scripted approvers do, what is
injected when, and the targets the score is held to. Every duration is drill time, from the replay's first
mention (`at`) or from the event it follows (`after`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from crisiscomms.communication.approval import who
from crisiscomms.errors import CrisisError, PlaybookError
from crisiscomms.playbook.loader import issues_of
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.steps import Duration, Name, Spec
from crisiscomms.playbook.yamlfile import read_document
from crisiscomms.stack.drills.curve import Shape


class Scripted(Spec):
    """A scripted approver: answers every stage they may decide at, this long after it opened."""

    after: Duration
    decision: Literal["approve", "reject"] = "approve"


class AllClear(Spec):
    after: Duration = Field(6 * 3600, description="After the first release: the team sends the all-clear.")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Inputs that make the all-clear pack "
                                   "(`{fin_de_crise: true}` for the demo).")


class Team(Spec):
    """What the crisis team does, on the drill's clock (the drill plays them when no person does)."""

    inputs: dict[str, Any] = Field(default_factory=dict, description="Inputs of every communication run.")
    communicate_after: Duration = Field(600, description="After the automated assessment: the first pack.")
    update_lead: Duration = Field(1200, description="How long before a promised update the team starts it.")
    all_clear: AllClear | None = Field(default_factory=AllClear)
    lessons_after: Duration = Field(1800, description="After the all-clear: the review questions answered.")


class Inject(Spec):
    """One thing that happens to the team during the drill: exactly one of claim, question, channel_down."""

    at: Duration = Field(description="Drill time from the replay's first mention.")
    claim: Name | None = Field(None, description="A claim the playbook declares: mentions carrying it appear.")
    mentions: int = Field(6, ge=1, le=10_000, description="How many (one a minute) for a claim or a question.")
    question: str | None = Field(None, min_length=3, max_length=500, description="A journalist's question.")
    author: str = Field("@journaliste", min_length=2, max_length=100)
    channel_down: Name | None = Field(None, description="A channel of the playbook that fails to send …")
    lasting: Duration = Field(1800, description="… for this long.")

    @model_validator(mode="after")
    def _one_kind(self) -> Inject:
        if sum(x is not None for x in (self.claim, self.question, self.channel_down)) != 1:
            raise ValueError("an inject is exactly one of claim, question, channel_down")
        return self

    @property
    def kind(self) -> str:
        return "claim" if self.claim else "question" if self.question else "channel_down"


class Targets(Spec):
    time_to_detect: Duration = Field(900, description="Onset → alert.")
    time_to_first_statement: Duration = Field(3600, description="Alert → first release.")
    approval_stage: Duration = Field(1800, description="Longest wait at one approval stage.")
    correction: Duration = Field(3600, description="A false claim's first mention → its correction released.")


class DrillSpec(Spec):
    playbook: str = Field(min_length=1)
    replay: str = Field(min_length=1, description="Mentions of the recorded crisis (JSONL or CSV), relative to the "
                        "project, with their recorded times; or a volume curve (CSV of minute_utc,tweets), "
                        "replayed as mentions in its shape (`curve`).")
    curve: Shape = Field(default_factory=Shape, description="How a volume curve becomes mentions: the scenario's "
                         "posts, minutes before the onset and after it, the peak (scripts/drill_replay.py's options).")
    monitor_every: Duration = Field(300, ge=60, description="A monitoring pass every (drill time), as the "
                                    "scheduled deployment does, until the crisis opens …")
    monitor_during: Duration = Field(1800, ge=60, description="… then every (claims spreading are seen at "
                                     "that pace; volume and sentiment are read whole by the review).")
    approvers: dict[str, Scripted] | None = Field(None, description="Scripted approvers by name; without them, "
                                                  "people answer in the drill's UI and the drill runs at --speed.")
    team: Team = Field(default_factory=Team)
    injects: list[Inject] = Field(default_factory=list, max_length=100)
    targets: Targets = Field(default_factory=Targets)


def read_drill(path: Path, display: str | None = None) -> DrillSpec:
    """The drill file, or PlaybookError with every problem at its line."""
    doc = read_document(path, display)
    if not isinstance(doc.data, dict):
        raise PlaybookError([doc.issue((), "a drill file is a mapping of keys (playbook, replay, …)")])
    try:
        return DrillSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise PlaybookError(issues_of(doc, exc)) from None


def read_approvers(path: Path) -> dict[str, Scripted]:
    """A file of scripted approvers (`Sophie Lefèvre: {after: 12m}`), or PlaybookError at its line."""
    doc = read_document(path, str(path))
    if not isinstance(doc.data, dict):
        raise PlaybookError([doc.issue((), "scripted approvers are a mapping: Name: {after: 12m}")])
    try:
        return DrillSpec.model_validate({"playbook": "-", "replay": "-", "approvers": doc.data}).approvers or {}
    except ValidationError as exc:
        raise PlaybookError([doc.issue(tuple(str(p) for p in e["loc"][1:]), e["msg"].removeprefix("Value error, "))
                             for e in exc.errors()]) from None


def spec_for(base: DrillSpec | None, playbook: str | None, replay: str | None,
             approvers: dict[str, Scripted] | None) -> DrillSpec:
    """The drill file's spec with the command line's choices over it; without a file, the defaults."""
    if base is None:
        if not playbook or not replay:
            raise CrisisError("say what to drill: `crisis drill PLAYBOOK --replay FILE` (drills/<playbook>.yaml "
                              "gives the rest when it exists), or `crisis drill --drill FILE`")
        base = DrillSpec(playbook=playbook, replay=replay)
    if playbook and playbook != base.playbook:
        raise CrisisError(f"the drill file is for playbook {base.playbook}, not {playbook}")
    update: dict[str, Any] = {}
    if replay:
        update["replay"] = replay
    if approvers is not None:
        update["approvers"] = approvers
    return base.model_copy(update=update)


def check_against(spec: DrillSpec, playbook: Playbook) -> None:
    """What the drill file names must exist in the playbook: scripted approvers in its team, channels taken down
    among its channels (claims are checked when the replay is prepared)."""
    people = {who(person.name) for role in playbook.team.values() for person in role.members}
    strangers = [name for name in spec.approvers or {} if who(name) not in people]
    if strangers:
        raise CrisisError(f"scripted approver(s) not in playbook {playbook.id}'s team: {', '.join(strangers)} "
                          f"(its people: {', '.join(p.name for r in playbook.team.values() for p in r.members)})")
    unknown = [i.channel_down for i in spec.injects if i.channel_down and i.channel_down not in playbook.channels]
    if unknown:
        raise CrisisError(f"inject(s) take down channel(s) playbook {playbook.id} does not have: "
                          f"{', '.join(map(str, unknown))} (its channels: {', '.join(playbook.channels)})")

