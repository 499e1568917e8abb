"""An approval chain as a plain object: which stages apply, who decides at each, and what the answers decide.

`ApprovalChain` is built from the playbook's `communication.approval` (the stages for the assessment's priority),
its team and the pack's record. It is fed events (an `Answer`, a `Timeout`) and says what each does; it never
waits, sends or stores anything. An `Approver` asks the people and brings their answers back: the Prefect one
(flows/approval.py: pause or suspend, forms, signed links) or `FakeApprover` (tests, drills). `decide` walks a
chain through an approver until there is a decision.

- The stages run in order; each needs `quorum` different people among its roles' members, the author never.
- A refused answer does not count; the stage asks again, with the same deadline.
- reject or request_changes ends the chain with that decision; the last stage's quorum approves the pack.
- A stage that times out is asked once more of its `escalate_to` role (approvals it already had still count),
  else the decision is `timed_out`. A timeout never approves anything.
- request_changes with edits, when the pack can be re-rendered with them: the whole chain again on the new
  texts (a new round), so nobody approves what they did not see. Edits change a field in every language the pack
  is written in, or are refused (the stage asks again): a message is never left with the facts an edit replaced
  in its sister messages of another language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Protocol, cast

from crisiscomms.communication.answer import Answer, Timeout
from crisiscomms.communication.approval import Member, StageRecord, Verdict, members, timed_out, verdict, who
from crisiscomms.errors import CrisisError
from crisiscomms.playbook.communication import Stage
from crisiscomms.playbook.models import Playbook, Role

Decision = Literal["approved", "rejected", "changes_requested", "timed_out"]
Rerender = Callable[[dict[str, Any]], Mapping[str, Any]]  # fact-sheet edits → the new pack's record


@dataclass(frozen=True)
class Ask:
    """One stage (or its escalation) of one round, to be put to its people."""

    round: int
    number: int
    of: int
    roles: list[str]
    people: list[Member]
    timeout: int
    escalated: bool
    hash: str
    pack_path: str
    via: list[str]
    decisions: list[dict[str, Any]]  # the chain so far

    @property
    def key(self) -> str:
        """Unique in the chain: "<round>/<stage>", "e" appended for the escalation."""
        return f"{self.round}/{self.number}{'e' if self.escalated else ''}"

    def fields(self, stage_id: str, run_id: str, playbook: str, title: str, step: str, drill: bool
               ) -> dict[str, Any]:
        """The stage's record but its times (`StageRecord.opening` adds them when it opens)."""
        return {"stage_id": stage_id, "run_id": run_id, "playbook": playbook, "title": title, "step": step,
                "number": self.number, "of": self.of, "roles": list(self.roles),
                "approvers": [asdict(p) for p in self.people], "hash": self.hash, "pack_path": self.pack_path,
                "via": list(self.via), "drill": drill, "decisions": list(self.decisions)}


@dataclass(frozen=True)
class Prompt:
    """What the open stage asks now: of whom (not those who approved), after which refusal, in which chain."""

    stage: StageRecord
    people: list[str]
    refused: str  # why the previous answer did not count, "" if it did
    decisions: list[dict[str, Any]]
    changed: str  # what is new in this version of the pack, "" in the first round


class Approver(Protocol):
    """Asks the people of a stage for a decision on a pack, and gives their answers as they come."""

    def open(self, ask: Ask) -> StageRecord:
        """Tell each of its people it is their turn; the stage as opened, with its deadline (fixed once)."""
        ...

    def answer(self, prompt: Prompt) -> Answer | Timeout:
        """The next answer given at the open stage, or a Timeout when none came before its deadline."""
        ...

    def told(self, verdict: Verdict) -> None:
        """What became of the last answer, said where it was given; `verdict.closes`: the stage is over."""
        ...


class ApprovalChain:
    """One approval of one pack: its stages, the open one, the answers so far and the decision."""

    def __init__(self, stages: Sequence[Stage], team: Mapping[str, Role], via: Sequence[str],
                 pack: Mapping[str, Any], language: str = "") -> None:
        if not stages:
            raise CrisisError("an approval chain needs at least one stage")
        self._stages, self._team, self._via = list(stages), team, list(via)
        self._language = language  # the playbook's: the language of the fact sheet's top-level fields
        self.pack: dict[str, Any] = dict(pack)  # the pack step's record: hash, path, author
        self.decisions: list[dict[str, Any]] = []  # every answer of every round, refused ones too
        self.round, self.changed = 0, ""
        self._begin()

    @classmethod
    def for_pack(cls, playbook: Playbook, pack: Mapping[str, Any], priority: str | None) -> ApprovalChain:
        approval = playbook.communication.approval
        stages = approval.chain(priority)
        if not stages:
            raise CrisisError(f"no approval chain for priority {priority or '(none)'}: "
                              "declare communication.approval.chains or .default")
        return cls(stages, playbook.team, approval.via, pack, playbook.language)

    def _begin(self) -> None:
        self._index, self._escalated, self._approved, self._refused = 0, False, list[str](), ""
        self._open: StageRecord | None = None
        self._decision: Decision | None = None
        self.edits: dict[str, Any] | None = None

    @property
    def author(self) -> str:
        return str(self.pack.get("author") or "")

    def decision(self) -> Decision | None:
        return self._decision

    @property
    def languages(self) -> list[str]:
        """The languages the pack's messages are written in (the last part of each message id)."""
        return sorted({str(ident).rsplit("/", 1)[-1] for ident in self.pack.get("variants") or []})

    def open_stage(self) -> Ask | None:
        """The stage to put to its people next, or None once the chain has decided."""
        if self._decision is not None:
            return None
        if self._open is not None:
            raise RuntimeError(f"stage {self._open.number} is still open")
        stage = self._stages[self._index]
        roles = [stage.escalate_to] if self._escalated and stage.escalate_to else list(stage.roles)
        people = members(self._team, roles, self.author)
        number = self._index + 1
        if not people:
            raise CrisisError(f"approval stage {number}: nobody but the pack's author holds {', '.join(roles)}")
        approved = {who(n) for n in self._approved}
        if len(approved) + len([p for p in people if who(p.name) not in approved]) < stage.quorum:
            raise CrisisError(f"approval stage {number}: a quorum of {stage.quorum} cannot be reached: only "
                              f"{len(people)} people may decide ({', '.join(roles)}), the pack's author excepted")
        return Ask(self.round, number, len(self._stages), roles, people, stage.timeout, self._escalated,
                   self.pack["hash"], self.pack["path"], self._via, list(self.decisions))

    def opened(self, record: StageRecord) -> None:
        """The approver opened the stage: answers are judged against this record (its people, its deadline)."""
        expected = self.open_stage()
        if expected is None or (record.number, record.hash, [a["name"] for a in record.approvers]) != (
                expected.number, expected.hash, [p.name for p in expected.people]):
            raise CrisisError(f"approval stage {record.number}: the approver opened another stage than the chain's")
        self._open = record

    def prompt(self) -> Prompt | None:
        """What the open stage asks now; None when no stage is open (the next one is due, or the decision)."""
        if self._open is None:
            return None
        approved = {who(n) for n in self._approved}
        people = [a["name"] for a in self._open.approvers if who(a["name"]) not in approved]
        return Prompt(self._open, people, self._refused, list(self.decisions), self.changed)

    def accept(self, answer: Answer) -> Verdict:
        return self._take(verdict(self._stage_record(), answer, self._approved, self.author,
                                  (self._language, self.languages)))

    def on_timeout(self, timeout: Timeout) -> Verdict:
        return self._take(timed_out(self._stage_record(), timeout))

    def _stage_record(self) -> StageRecord:
        if self._open is None:
            raise RuntimeError("no approval stage is open")
        return self._open

    def _take(self, taken: Verdict) -> Verdict:
        self.decisions.append(taken.entry)
        self._refused = taken.refused
        if taken.refused:
            return taken
        if taken.approved_by:
            self._approved.append(taken.approved_by)
            if len(self._approved) < self._stages[self._index].quorum:
                return taken
            return self._close(taken, "approved")
        return self._close(taken, taken.outcome or "")

    def _close(self, taken: Verdict, status: str) -> Verdict:
        self._open = None
        stage = self._stages[self._index]
        if status == "approved":
            self._index, self._escalated, self._approved = self._index + 1, False, []
            if self._index == len(self._stages):
                self._decision = "approved"
        elif status == "timed_out" and stage.escalate_to and not self._escalated:
            self._escalated = True  # the same stage, asked of its escalate_to role, with a new deadline
        else:
            self._decision, self.edits = cast(Decision, status), taken.edits
        return replace(taken, closes=status)

    def wants_rerender(self) -> bool:
        return self._decision == "changes_requested" and bool(self.edits)

    def restart(self, pack: Mapping[str, Any]) -> None:
        """The pack re-rendered with the requested edits: the whole chain again, on the new texts."""
        if not self.wants_rerender():
            raise RuntimeError("the chain starts again only after a request for changes with edits")
        self.changed = f"re-rendered with the edits of {self.decisions[-1]['name']}: {', '.join(sorted(self.edits))}"
        self.pack, self.round = dict(pack), self.round + 1
        self._begin()

    def rerender_failed(self, problem: str) -> Verdict:
        """The edits broke the pack (too long, a placeholder …): the request for changes stands, nobody is asked."""
        why = f"the pack could not be re-rendered with these edits, the approval ended: {problem}"[:500]
        entry = {"stage": 0, "decision": "rerender_failed", "name": "", "role": "", "comment": why, "via": "flow",
                 "at": self.decisions[-1]["at"]}
        self.decisions.append(entry)
        self.edits = None
        return Verdict(entry, refused=why)


def decide(chain: ApprovalChain, approver: Approver, rerender: Rerender | None = None) -> Decision:
    """Walk the chain through the approver until it decides; a request for changes with edits re-renders the pack
    (`rerender`) and starts the chain again."""
    while True:
        _round(chain, approver)
        if not chain.wants_rerender() or rerender is None:
            break
        try:
            new_pack = rerender(dict(chain.edits or {}))
        except CrisisError as exc:
            approver.told(chain.rerender_failed(str(exc)))
            break
        chain.restart(new_pack)
    return cast(Decision, chain.decision())


def _round(chain: ApprovalChain, approver: Approver) -> None:
    while (ask := chain.open_stage()) is not None:
        chain.opened(approver.open(ask))
        while (prompt := chain.prompt()) is not None:
            event = approver.answer(prompt)
            approver.told(chain.on_timeout(event) if isinstance(event, Timeout) else chain.accept(event))
