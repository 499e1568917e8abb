"""Runs a prepared drill on its own stack, on the drill's clock: the monitoring passes, the team's moves and the
scripted approvers' answers, each at its time.

The conductor keeps a list of moves in drill time: a monitoring pass every `monitor_every` (as the scheduled
deployment would), the first pack `communicate_after` the automated assessment, each promised update started
`update_lead` before it is due, the all-clear, each scripted approver's answer `after` the stage opened, the review
questions answered. It takes the earliest, moves the clock there (at once when every approver is scripted; at
`speed` drill seconds per real second when people answer in the drill's UI — in real time while a stage waits for
one of them, so that their deadlines are real, and not at all while the stack works on an answer), makes the move,
then waits until the stack has settled — every run it started finished, or paused waiting for someone — and looks at
what happened: the crisis opened, an assessment done, a stage waiting, a release and the update it promised, the
crisis closed, the review written. What the automations start on their own (an assessment on an alert, a correction
when a claim spreads) is waited for the same way. Runs that wait on the drill's clock itself (an approval deadline,
an update reminder) never hold it back.
"""

from __future__ import annotations

import heapq
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from crisiscomms import clock
from crisiscomms.communication import cadence
from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.correction import open_corrections
from crisiscomms.review import crises
from crisiscomms.stack.drills.replay import SOURCE, Prepared
from crisiscomms.stack.drills.spec import DrillSpec

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
ACTIVE = ("SCHEDULED", "PENDING", "RUNNING")  # the states a busy stack's runs are in
ON_THE_CLOCK = ("approval-deadline", "update-reminder")  # they wait for the drill's clock: never waited for
SETTLE_SECONDS = 300.0  # real seconds a move may take before the drill gives up on it
AUTOMATION_SECONDS = 60.0  # real seconds for an automation to start its run after its event
FORM_SECONDS = 60.0  # real seconds for a paused run's form to be saved


@dataclass(order=True)
class Move:
    at: datetime
    order: int
    kind: str = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


@dataclass
class Seen:
    """What the conductor knows of the drill so far."""

    crisis: str | None = None
    assessed: bool = False
    answered: set[tuple[str, str]] = field(default_factory=set)  # (run id, pause key) given an answer
    awaited: set[tuple[str, str]] = field(default_factory=set)  # (run id, pause key) a person is to answer
    promises: set[int] = field(default_factory=set)
    first_release: datetime | None = None
    all_clear_planned: bool = False
    closed: datetime | None = None
    lessons_planned: bool = False
    log: list[str] = field(default_factory=list)


class Conductor:
    def __init__(self, prepared: Prepared, spec: DrillSpec, api: httpx.Client, clock_file: Path,
                 say: Callable[[str], None], speed: float | None = None, wall_limit: float = 3600.0) -> None:
        self.prepared, self.spec, self.api, self.clock_file, self.say = prepared, spec, api, clock_file, say
        self.speed = speed
        self.deadline = time.monotonic() + wall_limit
        self.moves: list[Move] = []
        self.order = count()
        self.written = 0  # lines of the timeline appended to the drill's source so far
        self.now = prepared.start
        self.seen = Seen()
        self.last_line = prepared.lines[-1].at
        self.flow_ids: dict[tuple[str, ...], set[str]] = {}

    # --- the loop ---------------------------------------------------------------------------------------------

    def run(self) -> Seen:
        """Play the drill until its review is written, or it cannot go further; what was seen."""
        clock.set_time(self.clock_file, self.now)
        self._plan("pass", self.now + timedelta(seconds=self.spec.monitor_every))
        while self.moves and not self._reviewed():
            if time.monotonic() > self.deadline:
                raise CrisisError(f"the drill took longer than its limit; it stopped at {self.now:%Y-%m-%d %H:%M}")
            move = heapq.heappop(self.moves)
            self._advance(move.at)
            getattr(self, f"_do_{move.kind}")(move.data)
            self._settle()
            self._observe()
        return self.seen

    def _plan(self, kind: str, at: datetime, **data: Any) -> None:
        heapq.heappush(self.moves, Move(max(at, self.now), next(self.order), kind, data))

    def _advance(self, to: datetime) -> None:
        if to <= self.now:
            return
        if self.spec.approvers is None and self.speed:  # people answer in the drill's UI: time flows for them
            while self.now < to:
                time.sleep(1.0)
                if time.monotonic() > self.deadline:
                    raise CrisisError(f"the drill took longer than its limit; it stopped at {self.now:%H:%M}")
                if self._busy():  # a person's answer being worked on: the clock waits, as after each move
                    continue
                # while a person decides, the crisis goes on at its real pace: so do its deadlines
                step = 1.0 if self._person_awaited() else self.speed
                self.now = min(to, self.now + timedelta(seconds=step))
                clock.set_time(self.clock_file, self.now)
                self._observe()
            return
        self.now = to
        clock.set_time(self.clock_file, to)

    def _reviewed(self) -> bool:
        crisis = self.seen.crisis
        return bool(crisis) and (self.prepared.root / ".crisis" / "reviews" / str(crisis) / "post-mortem.json"
                                 ).is_file() and self.seen.lessons_planned and not self._busy()

    # --- moves ------------------------------------------------------------------------------------------------

    def _do_pass(self, data: dict[str, Any]) -> None:
        self._append_until(self.now)
        started, claims = datetime.now(UTC), self._claim_events()
        run = self._start("crisis-monitor", "monitor", {"playbook": self.spec.playbook})
        self._final(run)
        self._await_automations(started, self._automated(run, claims))
        self._opened()  # this pass may have opened the crisis: the next one is then `monitor_during` away
        if self._keep_monitoring():
            every = self.spec.monitor_every if self.seen.crisis is None else self.spec.monitor_during
            self._plan("pass", self.now + timedelta(seconds=every))

    def _keep_monitoring(self) -> bool:
        """Until the crisis closes — or a day after the last mention, when it never opened or never closed (the
        drill then ends with what it reached; its clock never passes the present)."""
        return self.seen.closed is None and self.now < self.last_line + timedelta(days=1)

    def _do_communicate(self, data: dict[str, Any]) -> None:
        inputs = {**self.spec.team.inputs, **data.get("inputs", {})}
        self._start("phase-communication", "communication",
                    {"playbook": self.spec.playbook, "crisis_id": self.seen.crisis or "", "inputs": inputs})
        self.say(f"{self.now:%H:%M} the team starts {data.get('why', 'a pack')}")

    def _do_answer(self, data: dict[str, Any]) -> None:
        run = self.api.get(f"/flow_runs/{data['run']}").json()
        details = (run.get("state") or {}).get("state_details") or {}
        if run.get("state_type") != "PAUSED" or details.get("pause_key") != data["key"]:
            return  # answered or timed out meanwhile
        answered = self.api.post(f"/flow_runs/{data['run']}/resume", json={"run_input": data["input"]})
        if answered.status_code not in (200, 201) or answered.json().get("status") != "ACCEPT":
            raise CrisisError(f"the drill could not answer {run.get('name')} at {data['key']}: {answered.text[:300]}")
        self.say(f"{self.now:%H:%M} {data['who']} answers {run.get('name')} ({data['key']})")

    # --- what happened ----------------------------------------------------------------------------------------

    def _observe(self) -> None:
        self._opened()
        runs = self._runs()
        self._assessed(runs)
        waiting = [run for run in runs if run.get("state_type") == "PAUSED" and not self._paused(run)]
        limit = time.monotonic() + FORM_SECONDS
        while waiting and time.monotonic() < limit:  # paused, its form not saved yet: the drill's clock waits
            time.sleep(0.5)
            waiting = [run for run in waiting if not self._paused(self.api.get(f"/flow_runs/{run['id']}").json())]
        self._releases()
        self._closed()

    def _opened(self) -> None:
        if self.seen.crisis is None:
            found = crises.latest(self.prepared.root, self.spec.playbook)
            if found is not None:
                self.seen.crisis = found.id
                self.say(f"{self.now:%H:%M} crisis {found.id} opened by {found.opened_by}")

    def _assessed(self, runs: list[dict[str, Any]]) -> None:
        if self.seen.assessed or self.seen.crisis is None:
            return
        if any(r["name"] == f"{self.spec.playbook}/assessment" and r["state_type"] == "COMPLETED" for r in runs):
            self.seen.assessed = True
            self._plan("communicate", self.now + timedelta(seconds=self.spec.team.communicate_after),
                       why="the first pack")

    def _paused(self, run: dict[str, Any]) -> bool:
        """Plan the answer to a paused run's form; False while its form is not saved yet (Prefect pauses the run
        first and saves the form just after: moving the clock on then could pass the stage's deadline)."""
        if run.get("state_type") != "PAUSED":
            return True  # resumed meanwhile
        details = run["state"]["state_details"]
        key = details.get("pause_key") or ""
        if (run["id"], key) in self.seen.answered:
            return True
        schema = self._schema(run, details)
        if schema is None:
            return False
        self.seen.answered.add((run["id"], key))
        properties = schema.get("properties", {})
        if "decision" in properties:
            self._plan_answer(run, key, properties)
        elif "answered_by" in properties:
            self._plan_lessons(run, key, properties)
        return True

    def _plan_answer(self, run: dict[str, Any], key: str, properties: dict[str, Any]) -> None:
        names = properties["name"].get("enum") or [properties["name"].get("const")]
        scripted = self.spec.approvers or {}
        who = next((name for name in scripted if name in names), None)
        if who is None:
            note = ("people answer in the drill's UI" if self.spec.approvers is None
                    else f"nobody scripted may decide there ({', '.join(map(str, names))}): its deadline will")
            self.say(f"{self.now:%H:%M} {run['name']} waits at {key}: {note}")
            if self.spec.approvers is None:
                self.seen.awaited.add((run["id"], key))
            return
        answer = scripted[who]
        self._plan("answer", self.now + timedelta(seconds=answer.after), run=run["id"], key=key, who=who,
                   input={"decision": answer.decision, "name": who, "comment": "drill", "edits": "",
                          "link_receipt": ""})

    def _person_awaited(self) -> bool:
        """Whether a stage still waits for a person's answer (it drops out once answered or timed out)."""
        for run_id, key in list(self.seen.awaited):
            run = self.api.get(f"/flow_runs/{run_id}").json()
            details = (run.get("state") or {}).get("state_details") or {}
            if run.get("state_type") != "PAUSED" or details.get("pause_key") != key:
                self.seen.awaited.discard((run_id, key))
        return bool(self.seen.awaited)

    def _plan_lessons(self, run: dict[str, Any], key: str, properties: dict[str, Any]) -> None:
        who = next(iter(self.spec.approvers or {}), "drill")
        answers = {name: "(drill)" for name in properties if name.startswith("q")}
        at = (self.seen.closed or self.now) + timedelta(seconds=self.spec.team.lessons_after)
        self.seen.lessons_planned = True
        self._plan("answer", at, run=run["id"], key=key, who=who,
                   input={"answered_by": who, **answers, "worked": "", "not_worked": "", "actions": ""})

    def _releases(self) -> None:
        """Each release's promise: the team starts the update before it is due; the first release sets the
        all-clear's time."""
        for promise in cadence.promises(self.prepared.root, self.spec.playbook):
            if promise.id in self.seen.promises:
                continue
            self.seen.promises.add(promise.id)
            released = _moment(promise.released_at)
            if self.seen.first_release is None:
                self.seen.first_release = released
                self._plan_all_clear(released)
            due = _moment(promise.promised)
            lead = due - timedelta(seconds=self.spec.team.update_lead)
            clear = self._all_clear_at()
            if self.seen.closed is None and (clear is None or lead < clear):
                self._plan("communicate", lead, why=f"the update promised for {due:%H:%M}")

    def _plan_all_clear(self, released: datetime) -> None:
        spec = self.spec.team.all_clear
        if spec is None or self.seen.all_clear_planned:
            return
        self.seen.all_clear_planned = True
        self._plan("communicate", released + timedelta(seconds=spec.after), inputs=spec.inputs, why="the all-clear")

    def _all_clear_at(self) -> datetime | None:
        spec = self.spec.team.all_clear
        if spec is None or self.seen.first_release is None:
            return None
        return self.seen.first_release + timedelta(seconds=spec.after)

    def _closed(self) -> None:
        if self.seen.crisis is None or self.seen.closed is not None:
            return
        crisis = crises.get(self.prepared.root, self.seen.crisis)
        if crisis.closed_at is not None:
            self.seen.closed = crisis.closed_at
            self.say(f"{self.now:%H:%M} crisis {crisis.id} closed: the review starts")

    # --- the stack --------------------------------------------------------------------------------------------

    def _append_until(self, moment: datetime) -> None:
        lines = self.prepared.lines
        end = self.written
        while end < len(lines) and lines[end].at <= moment:
            end += 1
        if end > self.written:
            with (self.prepared.root / SOURCE).open("a", encoding="utf-8") as handle:
                handle.writelines(line.text + "\n" for line in lines[self.written:end])
            self.written = end

    def _start(self, flow: str, deployment: str, parameters: dict[str, Any]) -> str:
        found = self.api.get(f"/deployments/name/{flow}/{deployment}")
        if found.status_code != 200:
            raise CrisisError(f"the drill's stack has no deployment {flow}/{deployment}: {found.text[:200]}")
        created = self.api.post(f"/deployments/{found.json()['id']}/create_flow_run",
                                json={"parameters": parameters, "state": {"type": "SCHEDULED"}})
        if created.status_code != 201:
            raise CrisisError(f"the drill could not start {flow}/{deployment}: {created.text[:300]}")
        return str(created.json()["id"])

    def _final(self, run_id: str) -> dict[str, Any]:
        limit = time.monotonic() + SETTLE_SECONDS
        while True:
            run = self.api.get(f"/flow_runs/{run_id}").json()
            if run["state_type"] in FINAL:
                return run
            if time.monotonic() > limit:
                raise CrisisError(f"{run['name']} still {run['state_type']} after {SETTLE_SECONDS:.0f} s")
            time.sleep(0.5)

    def _claim_events(self) -> int:
        book = open_corrections(self.prepared.root)
        try:
            return book.events_noted(self.spec.playbook)
        finally:
            book.close()

    def _automated(self, run_id: str, claims_before: int) -> int:
        """The events with an automation the pass raised, counted from what it recorded before emitting each: its
        alerts that open a crisis, and its claim events. (Not from Prefect's events: they reach the event store a
        few seconds after the run ends, and a drill that went on without them saw a claim's correction late.)"""
        raised = crises.alerts(self.prepared.root, self.spec.playbook, self.now, self.now + timedelta(days=1))
        opening = [a for a in raised if a.get("run_id") == run_id and a.get("level") in crises.ALERT_LEVELS
                   and a.get("kind") != "data_gap"]
        return len(opening) + self._claim_events() - claims_before

    def _await_automations(self, since: datetime, expected: int) -> None:
        """Each event with an automation the pass raised has started its run before the drill goes on."""
        if not expected:
            return
        limit = time.monotonic() + AUTOMATION_SECONDS
        while len([r for r in self._runs() if _created(r) >= since and r["name"].split("/")[-1] in
                   ("assessment", "communication")]) < expected:
            if time.monotonic() > limit:
                self.say(f"{self.now:%H:%M} {expected} automated event(s), not every one started a run")
                return
            time.sleep(1.0)

    def _settle(self) -> None:
        limit = time.monotonic() + SETTLE_SECONDS
        while self._busy():
            if time.monotonic() > limit:
                raise CrisisError(f"the drill's stack did not settle within {SETTLE_SECONDS:.0f} s: "
                                  f"{', '.join(r['name'] for r in self._busy())}")
            time.sleep(0.5)

    def _busy(self) -> list[dict[str, Any]]:
        """Asked twice a second while the stack works: only the runs not yet finished or paused are fetched (every
        run of the drill, each time, cost the drill's server ~3× the CPU)."""
        waiting = self._flow_ids(ON_THE_CLOCK)
        soon = datetime.now(UTC) + timedelta(minutes=5)
        return [r for r in self._runs(ACTIVE) if r.get("flow_id") not in waiting and (
            r["state_type"] in ("PENDING", "RUNNING") or (r["state_type"] == "SCHEDULED" and _expected(r) < soon))]

    def _runs(self, states: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The drill's runs (those in `states`, when given)."""
        found: list[dict[str, Any]] = []
        only = {"flow_runs": {"state": {"type": {"any_": list(states)}}}} if states else {}
        while True:
            page = self.api.post("/flow_runs/filter", json={**only, "sort": "EXPECTED_START_TIME_ASC", "limit": 200,
                                                            "offset": len(found)}).json()
            found += page
            if len(page) < 200:
                return found

    def _flow_ids(self, names: tuple[str, ...]) -> set[str]:
        """The ids of these flows; kept once every one is known (a flow's id never changes)."""
        if names in self.flow_ids:
            return self.flow_ids[names]
        flows = self.api.post("/flows/filter", json={"flows": {"name": {"any_": list(names)}}}).json()
        found = {flow["id"] for flow in flows}
        if len(found) == len(names):
            self.flow_ids[names] = found
        return found

    def _schema(self, run: dict[str, Any], details: dict[str, Any]) -> dict[str, Any] | None:
        key = (details.get("run_input_keyset") or {}).get("schema")
        if not key:
            return None
        found = self.api.get(f"/flow_runs/{run['id']}/input/{key}")
        if found.status_code != 200:
            return None
        value = found.json()
        return json.loads(value) if isinstance(value, str) else value


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _created(run: dict[str, Any]) -> datetime:
    return _moment(str(run["created"]))


def _expected(run: dict[str, Any]) -> datetime:
    return _moment(str(run["expected_start_time"]))
