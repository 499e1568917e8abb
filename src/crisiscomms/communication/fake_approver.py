"""An `Approver` without Prefect, people or waiting: scripted answers on a clock of its own (tests, drills).

Each `Reply` comes `after` seconds after the previous event, by its clock (nothing sleeps); a `Silence` lets
the open stage reach its deadline, and so does the end of the script (nobody else answers). A reply scripted
after the deadline still comes, late, as a person answering a suspended run before its deadline run does:
the chain refuses it. Everything the fake was asked and told is kept, for the test or the drill's report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from crisiscomms.communication.answer import Answer, Timeout
from crisiscomms.communication.approval import StageRecord, Verdict
from crisiscomms.communication.chain import Ask, Prompt


@dataclass(frozen=True)
class Reply:
    name: str
    decision: str = "approve"  # approve | reject | request_changes
    comment: str = ""
    edits: str = ""
    via: str = "link"
    after: float = 60.0  # seconds after the previous event


@dataclass(frozen=True)
class Silence:
    """Nobody answers the open stage before its deadline."""


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def at_least(self, moment: datetime) -> None:
        self._now = max(self._now, moment)


class FakeApprover:
    """Opens stages as records of its own and answers from the script; keeps what it was asked and told."""

    def __init__(self, script: Iterable[Reply | Silence], clock: FakeClock | None = None, *,
                 run_id: str = "drill", playbook: str = "drill", title: str = "Drill", step: str = "approval",
                 drill: bool = True) -> None:
        self.clock = clock or FakeClock()
        self._script = iter(script)
        self.run_id, self.playbook, self.title, self.step, self.drill = run_id, playbook, title, step, drill
        self.opened: list[StageRecord] = []
        self.prompts: list[Prompt] = []
        self.verdicts: list[Verdict] = []

    def open(self, ask: Ask) -> StageRecord:
        fields = ask.fields(f"{self.run_id}/{self.step}/{ask.key}", self.run_id, self.playbook, self.title,
                            self.step, self.drill)
        record = StageRecord.opening(fields, ask.timeout, self.clock.now())
        self.opened.append(record)
        return record

    def answer(self, prompt: Prompt) -> Answer | Timeout:
        self.prompts.append(prompt)
        line = next(self._script, Silence())
        if isinstance(line, Silence):
            self.clock.at_least(prompt.stage.deadline_at)
            return Timeout(self.clock.now())
        self.clock.advance(line.after)
        return Answer(line.decision, line.name, self.clock.now(), line.comment, line.edits, line.via)

    def told(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)
