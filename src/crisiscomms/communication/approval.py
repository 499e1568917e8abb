"""One answer at one approval stage, as rules and as a record: who may decide, what refuses an answer, and where
each stage stands (`.crisis/approvals.db`), so the approver page, `crisis approve` and the flow agree. How the
stages of a chain follow one another, and what their answers decide, is `chain.py`.

- The people who may decide are the members of the stage's roles, the pack's author excepted; names compare
  case-, accent- and spacing-blind ("claire  MARTIN" is Claire Martin).
- An answer is refused when it comes from outside the stage, from someone who already approved at this stage,
  from the author, by a path the playbook does not accept (`approval.via`), with a receipt that fails, after the
  stage's deadline, or with edits that cannot be used (not fact-sheet fields, or a field edited in some of the
  pack's languages only).
- A timeout counts only once the deadline has passed, and only on a receipt that holds.
- A stage has one deadline, fixed when it opens: a refused answer asks again without moving it.
- Each answer the flow took or refused is recorded against its pause key, so whoever submitted it (the
  approver page, the CLI) can tell the person what became of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crisiscomms import clock
from crisiscomms.communication import answer as answers
from crisiscomms.communication.answer import Answer, Timeout
from crisiscomms.monitoring.watchlist import fold
from crisiscomms.playbook.models import Playbook, Role
from crisiscomms.state import Database, IntegrityError, open_in

MAX_COMMENT = 4000  # characters of a comment or of edits: a reason, not a document


@dataclass(frozen=True)
class Member:
    """A team member as they decide at a stage: under which role, and how they are told."""

    name: str
    role: str
    email: str | None = None
    notify: str | None = None  # a playbook channel (`email` = their address over SMTP)


@dataclass
class StageRecord:
    """One stage of one approval round, as the approver page shows it."""

    stage_id: str  # "<run>/<step>/<round>/<stage>[e]" (e: escalated)
    run_id: str
    playbook: str
    title: str
    step: str
    number: int
    of: int
    roles: list[str]
    approvers: list[dict[str, Any]]
    hash: str
    pack_path: str
    opened_at: str
    deadline: str
    via: list[str]
    drill: bool = False
    decisions: list[dict[str, Any]] = field(default_factory=list)  # the whole chain so far

    @classmethod
    def opening(cls, fields: Mapping[str, Any], timeout: int, now: datetime) -> StageRecord:
        """The stage as it opens now: its one deadline, `timeout` seconds on, rounded UP to the second it is shown
        with (rounded down, a 2 s stage opened at 12:00:00.9 would have closed 1.1 s later)."""
        due = now + timedelta(seconds=timeout)
        due = due.replace(microsecond=0) + timedelta(seconds=1) if due.microsecond else due
        return cls(**fields, opened_at=now.isoformat(timespec="seconds"), deadline=due.isoformat(timespec="seconds"))

    @property
    def deadline_at(self) -> datetime:
        return datetime.fromisoformat(self.deadline)

    def approver(self, name: str) -> Member | None:
        wanted = who(name)
        found = next((a for a in self.approvers if who(a["name"]) == wanted), None)
        return Member(**found) if found else None


def who(name: str) -> str:
    """A name as compared: case, accents and spacing aside."""
    return fold(" ".join(name.split()))


def approvers(playbook: Playbook, roles: list[str], author: str = "") -> list[Member]:
    """Who may decide at a stage of these roles: every member once, the pack's author never."""
    return members(playbook.team, roles, author)


def members(team: Mapping[str, Role], roles: Iterable[str], author: str = "") -> list[Member]:
    found: dict[str, Member] = {}
    for role in roles:
        for person in team[role].members if role in team else []:
            if who(person.name) not in found and not (author and who(person.name) == who(author)):
                found[who(person.name)] = Member(person.name, role, person.email, person.notify)
    return list(found.values())


def refusal(stage: StageRecord, name: str, approved: set[str], author: str, via: str) -> str | None:
    """Why this answer cannot count at this stage, or None."""
    if via not in stage.via:
        paths = " or ".join("the personal link sent to each approver" if v == "link" else "the Prefect UI / "
                            "`crisis approve`" for v in stage.via)
        return f"this playbook takes decisions through {paths} only"
    if author and who(name) == who(author):
        return f"{name!r} prepared this pack: its author cannot approve it"
    if stage.approver(name) is None:
        return f"{name!r} is not one of the people who decide at this stage ({', '.join(stage.roles)})"
    if who(name) in approved:
        return f"{name!r} already approved at this stage: a quorum needs different people"
    return None


@dataclass(frozen=True)
class Verdict:
    """What one answer does at a stage: its audit entry, and the stage's outcome if it ends it."""

    entry: dict[str, Any]
    refused: str = ""  # why the answer does not count (the stage asks again)
    outcome: str | None = None  # rejected, changes_requested, timed_out; None: the stage goes on
    approved_by: str = ""  # the name that now counts towards the quorum
    edits: dict[str, Any] | None = None
    closes: str = ""  # set by the chain: how the stage ended with this answer (approved, rejected …), if it did


def verdict(stage: StageRecord, given: Answer, approved: Iterable[str], author: str,
            languages: answers.Languages = ("", ())) -> Verdict:
    """Take or refuse one answer given at a stage where `approved` already approved; `languages`: the playbook's
    and the pack's, which edits must cover alike."""
    person = stage.approver(given.name)
    entry = _entry(stage.number, given.decision, given.name, person.role if person else "", given.comment,
                   given.via, given.at)
    edits, wrong = answers.parse_edits(given.decision, given.edits, languages)
    late = f"the stage's deadline ({stage.deadline}) has passed: it timed out" if given.at > stage.deadline_at else ""
    reason = (given.void or late or refusal(stage, given.name, {who(n) for n in approved}, author, given.via)
              or wrong)
    if reason:
        return Verdict({**entry, "refused": reason}, refused=reason)
    entry = {**entry, "edits": edits} if edits else entry
    if given.decision == "approve":
        return Verdict(entry, approved_by=given.name)
    return Verdict(entry, outcome="rejected" if given.decision == "reject" else "changes_requested", edits=edits)


def timed_out(stage: StageRecord, timeout: Timeout) -> Verdict:
    """Nobody answered in time: the stage times out, unless the deadline has not passed or the receipt fails."""
    problem = timeout.void or (f"the stage's deadline ({stage.deadline}) has not passed"
                               if timeout.at < stage.deadline_at else "")
    if problem:
        entry = _entry(stage.number, "timed_out", "", "", "", timeout.via, timeout.at)
        return Verdict({**entry, "refused": f"{problem}: nothing was decided"}, refused=f"{problem}: nothing was "
                       "decided")
    seconds = int((stage.deadline_at - datetime.fromisoformat(stage.opened_at)).total_seconds())
    entry = _entry(stage.number, "timed_out", "", ", ".join(stage.roles), f"no answer in {seconds} s", "flow",
                   timeout.at)
    return Verdict(entry, outcome="timed_out")


def judge(stage: StageRecord, form: dict[str, Any], approved: list[str], author: str, key: bytes,
          now: datetime | None = None) -> Verdict:
    """Take or refuse one form given at a stage (its receipt checked): one answer, outside any chain."""
    given = answers.read(stage.stage_id, stage.hash, form, key, now or clock.now())
    return timed_out(stage, given) if isinstance(given, Timeout) else verdict(stage, given, approved, author)


def _entry(stage: int, decision: str, name: str, role: str, comment: str, via: str, at: datetime) -> dict[str, Any]:
    return {"stage": stage, "decision": decision, "name": name, "role": role, "comment": comment, "via": via,
            "at": at.isoformat(timespec="seconds")}


def now_iso() -> str:
    return clock.now_text()


class ApprovalStore:
    """The stages, the links used and the verdict on each answer, in the project's state folder."""

    def __init__(self, state: Path | Database) -> None:
        """The store of the project whose state folder is `state` (or in this state database)."""
        self._db = state if isinstance(state, Database) else open_in(state, "approvals")

    def close(self) -> None:
        self._db.close()

    def open_stage(self, stage: StageRecord) -> None:
        # Opened again (a run resumed from the top): the stage starts over, keeping its place in the order opened.
        self._db.execute("INSERT INTO stages (stage_id, run_id, body) VALUES (?, ?, ?) ON CONFLICT (stage_id) DO "
                         "UPDATE SET run_id=excluded.run_id, body=excluded.body, pause_key='', status='open'",
                         (stage.stage_id, stage.run_id, json.dumps(asdict(stage), ensure_ascii=False)))

    def stage(self, stage_id: str) -> tuple[StageRecord, str, str] | None:
        """The stage, its current pause key and its status ('open', or how it ended)."""
        row = self._db.execute("SELECT body, pause_key, status FROM stages WHERE stage_id = ?",
                               (stage_id,)).fetchone()
        return (StageRecord(**json.loads(row[0])), row[1], row[2]) if row else None

    def stages_of_runs(self, run_ids: list[str]) -> list[tuple[StageRecord, str]]:
        """Every stage these flow runs opened, with its status ('open' or how it ended), in the order opened."""
        marks = ",".join("?" * len(run_ids))
        rows = self._db.execute(f"SELECT body, status FROM stages WHERE run_id IN ({marks}) ORDER BY seq",
                                run_ids) if run_ids else []
        return [(StageRecord(**json.loads(body)), status) for body, status in rows]

    def waiting_stage(self, run_id: str, pause_key: str | None) -> StageRecord | None:
        """The open stage a run waits on at this pause, if this project recorded it."""
        row = self._db.execute("SELECT body FROM stages WHERE run_id = ? AND pause_key = ? AND status = 'open'",
                               (run_id, pause_key or "")).fetchone()
        return StageRecord(**json.loads(row[0])) if row else None

    def waiting_on(self, stage_id: str, pause_key: str, decisions: list[dict[str, Any]]) -> None:
        row = self.stage(stage_id)
        if row is None:
            return
        row[0].decisions = decisions
        self._db.execute("UPDATE stages SET pause_key = ?, body = ? WHERE stage_id = ?",
                         (pause_key, json.dumps(asdict(row[0]), ensure_ascii=False), stage_id))

    def close_stage(self, stage_id: str, status: str) -> None:
        self._db.execute("UPDATE stages SET status = ?, pause_key = '' WHERE stage_id = ?", (status, stage_id))

    def use_link(self, link_id: str, stage_id: str, person: str, decision: str, pause_key: str) -> bool:
        """Mark a link used; False if it already was (a decision is taken once per link)."""
        try:
            with self._db.transaction():
                self._db.execute("INSERT INTO links (link_id, stage_id, person, used_at, decision, pause_key) "
                                 "VALUES (?, ?, ?, ?, ?, ?)",
                                 (link_id, stage_id, person, now_iso(), decision, pause_key))
        except IntegrityError:
            return False
        return True

    def link_use(self, link_id: str) -> dict[str, str] | None:
        row = self._db.execute("SELECT used_at, decision, pause_key FROM links WHERE link_id = ?",
                               (link_id,)).fetchone()
        return {"used_at": row[0], "decision": row[1], "pause_key": row[2]} if row else None

    def forget_link(self, link_id: str) -> None:
        """The submission did not reach the run: the link may be used again."""
        self._db.execute("DELETE FROM links WHERE link_id = ?", (link_id,))

    def record_answer(self, run_id: str, pause_key: str, verdict: str, reason: str = "") -> None:
        self._db.execute("INSERT INTO answers (run_id, pause_key, verdict, reason, at) VALUES (?, ?, ?, ?, ?) ON "
                         "CONFLICT (run_id, pause_key) DO UPDATE SET verdict=excluded.verdict, "
                         "reason=excluded.reason, at=excluded.at",
                         (run_id, pause_key, verdict, reason, now_iso()))

    def answer(self, run_id: str, pause_key: str) -> tuple[str, str] | None:
        """('accepted' | 'refused', reason) once the flow has taken the answer given at this pause."""
        row = self._db.execute("SELECT verdict, reason FROM answers WHERE run_id = ? AND pause_key = ?",
                               (run_id, pause_key)).fetchone()
        return (row[0], row[1]) if row else None
