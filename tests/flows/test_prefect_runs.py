"""Reading a crisis back from Prefect (tasks/prefect_runs.py) on the session's harness: exactly the crisis's runs,
with their task-run, failure and warning counts and artifact keys, the same page after page, a run deleted between
pages neither skipping another nor failing the read, warnings, states and approval answers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest
from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterTags
from prefect.input.actions import create_flow_run_input
from prefect.logging.handlers import APILogHandler
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Crashed

from crisiscomms.errors import CrisisError
from tasks.prefect_runs import approval_inputs, runs_of_crisis, states_of_run, warnings_of_run

LONG = "x" * 1_000
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@task
def step(n: int) -> int:
    return n


@task
def broken() -> None:
    raise ValueError("a step that fails")


@task
def noisy() -> None:
    get_run_logger().warning("a task's warning")


@flow(name="review-probe")
def probe(failing: int = 0, warnings: int = 0, long: bool = False, artifacts: bool = False) -> None:
    logger = get_run_logger()
    logger.info("an info line is not a warning")
    for n in range(warnings):
        logger.warning("warning %d", n)
    if long:
        logger.warning(LONG)
    step(1)
    step(2)
    if warnings:
        noisy()
    for _ in range(failing):
        broken(return_state=True)  # the flow goes on: the run completes with failed task runs
    if artifacts:
        create_markdown_artifact("first", key="probe-note")
        create_markdown_artifact("second version", key="probe-note")
        create_markdown_artifact("a table", key="probe-table")
        create_markdown_artifact("no key")


@flow(name="review-probe-failing")
def failing_probe() -> None:
    raise RuntimeError("the probe gives up")


@flow(name="review-parent")
def parent() -> None:
    step(0)
    probe()  # a subflow: a flow run of its own (tagged too), not a task run of its parent


@dataclass
class Crisis:
    id: str
    runs: dict[str, UUID] = field(default_factory=dict)  # label → flow run id


def _run_id(state: object) -> UUID:
    return state.state_details.flow_run_id  # type: ignore[attr-defined]


def _settled(run_ids: list[UUID], expected_task_runs: int, wait: float = 15) -> None:
    """Task runs reach the server through events, after their flow run has ended: wait until they are all there,
    each in a final state (read naively, in one call: a few dozen)."""
    APILogHandler().flush()  # logs go to the API in batches, from a worker thread
    only = FlowRunFilter(id=FlowRunFilterId(any_=run_ids))
    deadline = time.monotonic() + wait
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_task_runs(flow_run_filter=only, limit=200)
            if len(found) == expected_task_runs and all(t.state_type and t.state_type.value in TERMINAL
                                                        for t in found):
                return
            assert time.monotonic() < deadline, f"{len(found)} task runs recorded, {expected_task_runs} expected"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def crisis() -> Crisis:
    seen = Crisis(uuid4().hex)
    with tags(f"crisis:{seen.id}"):
        seen.runs["quiet"] = _run_id(probe(artifacts=True, return_state=True))
        seen.runs["troubled"] = _run_id(probe(failing=2, warnings=3, long=True, return_state=True))
        seen.runs["failed"] = _run_id(failing_probe(return_state=True))
        seen.runs["parent"] = _run_id(parent(return_state=True))
    with get_client(sync_client=True) as client:
        client.create_flow_run(probe, tags=[f"crisis:{seen.id}x"])  # another crisis, whose id starts with this one's
        client.create_flow_run(probe)  # no crisis
        # A task run that crashed (its process died): created in that state, as a test cannot kill a task in-process.
        client.create_task_run(step, seen.runs["troubled"], dynamic_key="crashed", state=Crashed())
        tagged = FlowRunFilter(tags=FlowRunFilterTags(all_=[f"crisis:{seen.id}"]),
                               id=FlowRunFilterId(not_any_=list(seen.runs.values())))
        seen.runs["subflow"] = client.read_flow_runs(flow_run_filter=tagged)[0].id
    # quiet 2, troubled 2 + noisy + 2 broken + crashed, failed 0, parent 1 + its subflow's stand-in, subflow 2
    _settled(list(seen.runs.values()), 2 + 6 + 0 + 2 + 2)
    return seen


def test_exactly_the_crisis_runs_come_back_with_their_counts(crisis: Crisis) -> None:
    runs = {UUID(r.id): r for r in runs_of_crisis(crisis.id)}
    assert set(runs) == set(crisis.runs.values())  # not the other crisis's run, nor the untagged one
    quiet, troubled, failed = (runs[crisis.runs[k]] for k in ("quiet", "troubled", "failed"))
    assert (quiet.task_runs, quiet.failed_task_runs, quiet.warnings) == (2, 0, 0)  # the info line is not counted
    assert (quiet.flow, quiet.state, quiet.tags) == ("review-probe", "COMPLETED", [f"crisis:{crisis.id}"])
    assert quiet.artifacts == ["probe-note", "probe-table"]  # each key once, whatever its versions; no keyless one
    assert (troubled.task_runs, troubled.failed_task_runs) == (6, 3)  # 2 FAILED + 1 CRASHED
    # 3 warnings of the flow + the long one + the task's; Prefect 3.8 writes 2 ERROR lines per failed step
    # ("Task run failed with exception", "Finished in state Failed"), none for the crashed one (created as such)
    assert troubled.warnings == 5 + 2 * 2
    assert (failed.state, failed.state_name, failed.task_runs) == ("FAILED", "Failed", 0)
    assert failed.warnings == 1  # "Encountered exception during execution" at ERROR; "Finished in state" is INFO
    assert runs[crisis.runs["parent"]].task_runs == 1  # the subflow's stand-in task run is not counted
    assert (runs[crisis.runs["subflow"]].flow, runs[crisis.runs["subflow"]].artifacts) == ("review-probe", [])
    assert all(r.started is not None and r.ended is not None for r in runs.values())
    starts = [r.started for r in runs_of_crisis(crisis.id)]
    assert starts == sorted(starts)  # type: ignore[type-var]


def test_small_pages_give_the_same_runs_in_the_same_order(crisis: Crisis) -> None:
    whole = list(runs_of_crisis(crisis.id))
    assert list(runs_of_crisis(crisis.id, page=2)) == whole  # 5 runs: 3 pages (and the quiet run's artifacts: 2)
    assert list(runs_of_crisis(crisis.id, page=1)) == whole


def test_a_crisis_without_runs_has_none() -> None:
    assert list(runs_of_crisis(uuid4().hex, page=2)) == []


@pytest.mark.parametrize("deleted", [0, 1, 4], ids=["already-read", "in-the-page-in-hand", "in-a-later-page"])
def test_a_run_deleted_between_pages_skips_no_other_run(deleted: int) -> None:
    crisis_id = uuid4().hex
    with get_client(sync_client=True) as client:
        ids = [client.create_flow_run(probe, tags=[f"crisis:{crisis_id}"]).id for _ in range(6)]
        reading = runs_of_crisis(crisis_id, page=2)
        first = next(reading)
        client.delete_flow_run(ids[deleted])
        rest = [UUID(r.id) for r in reading]
    assert UUID(first.id) == ids[0]
    assert rest == [i for i in ids[1:] if i != ids[deleted]]


def test_warnings_come_first_first_cut_to_500_characters(crisis: Crisis) -> None:
    warnings = warnings_of_run(crisis.runs["troubled"])
    assert [w[1:] for w in warnings[:4]] == [("WARNING", f"warning {n}") for n in range(3)] + [
        ("WARNING", LONG[:499] + "…")]
    assert {w[1] for w in warnings} == {"WARNING", "ERROR"}
    assert [w[0] for w in warnings] == sorted(w[0] for w in warnings)
    assert warnings_of_run(str(crisis.runs["troubled"]), limit=2) == warnings[:2]
    assert warnings_of_run(crisis.runs["quiet"]) == []


def test_states_in_order(crisis: Crisis) -> None:
    assert [s[1] for s in states_of_run(crisis.runs["quiet"])] == ["PENDING", "RUNNING", "COMPLETED"]
    failed = states_of_run(str(crisis.runs["failed"]))
    assert failed[-1][1:] == ("FAILED", "Failed")
    assert [s[0] for s in failed] == sorted(s[0] for s in failed)


def test_approval_inputs_are_the_stored_answers(crisis: Crisis) -> None:
    run_id = crisis.runs["parent"]
    create_flow_run_input("paused-legal-description", "Approve the statement?", flow_run_id=run_id)
    create_flow_run_input("paused-legal-response", {"decision": "approve", "approver": "Sophie"}, flow_run_id=run_id)
    create_flow_run_input("paused-legal-schema", {"type": "object"}, flow_run_id=run_id)
    with get_client(sync_client=True) as client:
        client.create_flow_run_input(run_id, "suspended-ceo-response", "not JSON {")
    answers = approval_inputs(run_id)
    assert [(a["key"], a["value"]) for a in answers] == [
        ("paused-legal-response", {"decision": "approve", "approver": "Sophie"}),
        ("suspended-ceo-response", "not JSON {"),  # kept as stored
    ]
    assert answers[0]["created"] <= answers[1]["created"]
    assert approval_inputs(crisis.runs["quiet"]) == []


def test_api_errors_name_the_crisis_and_what_failed() -> None:
    with pytest.raises(CrisisError, match=r"crisis c-42: reading the flow runs tagged crisis:c-42 .*page 500.* "
                                          r"failed: the Prefect API answered 422.*less than or equal to 200"):
        list(runs_of_crisis("c-42", page=500))
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}), pytest.raises(
            CrisisError, match=r"run .*: reading its states failed: the Prefect API could not be reached \(Connect"):
        states_of_run(uuid4())  # ~1.5 s: httpx tries to connect 3 times
    with pytest.raises(CrisisError, match="not a flow run id: 'nope'"):
        warnings_of_run("nope")
    with pytest.raises(ValueError, match="page must be at least 1"):
        list(runs_of_crisis("c-42", page=0))
