"""review.lessons: the playbook's review questions as a form (the UI's Resume form), answered by the team.

A run started from a deployment waits suspended (no process; any worker resumes it from the top, its finished
steps Cached); a run started otherwise waits in its process. Actions are written one per line,
`what ; owner ; due date` (2027-01-15); a line that cannot be read sends the form back with the reason, and after
the last attempt it is kept as written among the answers — nothing typed is lost.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Any

from prefect import get_run_logger
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from pydantic import Field, ValidationError, create_model

from crisiscomms import clock
from crisiscomms.communication.cadence import human_delay
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.review_steps import LessonsRecord, ReviewCollect, ReviewLessons
from crisiscomms.review.model import Action, Lessons
from flows.approval import EMBEDDED, suspendable
from flows.history import RunHistory, settle
from flows.waiting import wait_for_form
from tasks.registry import task_for

ATTEMPTS = 3
_SEPARATOR = re.compile(r"\s*[;|\t]\s*")
UNREAD = "Actions not understood (kept as written)"


def lessons_form(questions: list[str], lead: str) -> type[RunInput]:
    fields: dict[str, Any] = {"answered_by": (str, Field(min_length=1, max_length=200, title="Your name"))}
    for i, question in enumerate(questions, 1):
        fields[f"q{i}"] = (str, Field("", max_length=8000, title=question))
    fields["worked"] = (str, Field("", max_length=8000, title="What worked"))
    fields["not_worked"] = (str, Field("", max_length=8000, title="What did not work"))
    fields["actions"] = (str, Field("", max_length=8000, title="Actions, one per line: what ; owner ; due date "
                                    "(YYYY-MM-DD) — `;`, `|` or a tab between the three", description=lead))
    return create_model("ReviewAnswers", __base__=RunInput, **fields)


def read_actions(text: str) -> tuple[list[Action], list[str]]:
    """The actions written one per line, and the lines that could not be read (each with why)."""
    actions, problems = [], []
    for n, line in enumerate((raw.strip() for raw in text.splitlines()), 1):
        if not line:
            continue
        parts = _SEPARATOR.split(line)
        if len(parts) != 3:
            problems.append(f"line {n} « {line[:80]} »: write what ; owner ; due date")
            continue
        try:
            actions.append(Action(what=parts[0], owner=parts[1], due=date.fromisoformat(parts[2])))
        except ValidationError as exc:  # name the field: "owner: String should have at least 1 character"
            why = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            problems.append(f"line {n} « {line[:80]} »: {why[:200]}")
        except ValueError as exc:
            problems.append(f"line {n} « {line[:80]} »: due date: {str(exc).splitlines()[0][:120]}")
    return actions, problems


def ask(step: ReviewLessons, context: StepContext) -> dict[str, Any] | None:
    """The team's lessons as `Lessons` data, or None when nobody answered in time."""
    if os.environ.get(EMBEDDED):  # nobody can reach a form on the embedded API of `crisis run`
        get_run_logger().warning("%s: the review questions need a Prefect server the team can reach; this run is on "
                                 "the embedded API of `crisis run`, so they are not asked (run the post-crisis phase "
                                 "from the UI of `crisis up` to answer them)", step.id)
        return None
    problems: list[str] = []
    given: dict[str, Any] = {}
    for attempt in range(ATTEMPTS):
        lead = ("NOT READ: " + "; ".join(problems) + ". " if problems else "") + (
            f"Crisis {context.crisis}: the post-mortem is in the artifacts of this run.")
        form = lessons_form(step.questions, lead).with_initial_data(description=_description(step, context))
        answer = _wait(form, f"lessons-{step.id.replace('_', '-')}-{attempt}", step.wait)
        if answer is None:
            return None
        given = answer.model_dump()
        actions, problems = read_actions(given.get("actions", ""))
        if not problems:
            return _lessons(step, given, actions, []).model_dump(mode="json")
        get_run_logger().warning("review answers sent back: %s", "; ".join(problems))
    actions, problems = read_actions(given.get("actions", ""))
    return _lessons(step, given, actions, problems).model_dump(mode="json")


def _wait(form: Any, key: str, wait: int) -> Any | None:
    if suspendable():  # the process exits here; the run resumes from the top and this returns the answer
        return suspend_flow_run(wait_for_input=form, key=key, timeout=wait)
    answer = wait_for_form(form, key, wait, poll=2)
    if answer is None:
        get_run_logger().warning("review questions not answered within %s", human_delay(wait))
    return answer


def _lessons(step: ReviewLessons, given: dict[str, Any], actions: list[Action], unread: list[str]) -> Lessons:
    answers = {q: given.get(f"q{i}", "") for i, q in enumerate(step.questions, 1)}
    if unread:
        answers[UNREAD] = given.get("actions", "")
    return Lessons(answered_by=given["answered_by"], at=clock.now(), answers=answers, worked=given.get("worked", ""),
                   not_worked=given.get("not_worked", ""), actions=actions)


def _description(step: ReviewLessons, context: StepContext) -> str:
    return (f"**Lessons learned — {context.playbook.title}** (crisis `{context.crisis}`). Answer the questions, "
            "then list the actions, one per line: `what ; owner ; 2027-01-15`. They become checklist items of the "
            "next preparation run.")


def lessons_step(walker: Any, step: ReviewLessons, context: StepContext, history: RunHistory,
                 run_name: str) -> tuple[str, str]:
    answers = ask(step, context)
    collect = next(s for _, _, s in walker.frozen.playbook.steps() if s.id == step.review)
    currency = collect.currency if isinstance(collect, ReviewCollect) else "EUR"
    state = task_for(step).with_options(task_run_name=run_name)(step, context, answers, currency, return_state=True)
    outcome = settle(step, state, history)
    if isinstance(outcome, LessonsRecord):
        return "completed", f"{outcome.status}: {outcome.actions} action(s)"
    return "failed", str(outcome)
