"""What Prefect recorded of one crisis, read back for its post-mortem: the flow runs tagged `crisis:<id>`, with
their states, task-run and warning counts, artifact keys and the approval answers people submitted.

A crisis can have thousands of task runs and tens of thousands of log lines: nothing here holds them all. Task runs
are counted by the server (`POST /task_runs/count`); warnings are read a page at a time and only counted; flow runs
come a page at a time, each one finished (counted, re-read) before the next is looked at. Memory is bounded by the
page size, whatever the crisis's size.

Plain functions, not tasks: `runs_of_crisis` is a generator, and the review task that consumes it is the run
Prefect records. Every API failure becomes a `CrisisError` naming the crisis (or run) and what was being read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterTags,
    LogFilter,
    LogFilterFlowRunId,
    LogFilterLevel,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
    TaskRunFilterState,
    TaskRunFilterStateType,
    TaskRunFilterSubFlowRuns,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort, LogSort
from prefect.exceptions import ObjectNotFound

from crisiscomms.errors import CrisisError
from crisiscomms.review import crises
from crisiscomms.review.model import RunSeen

logger = logging.getLogger(__name__)

FAILED = [StateType.FAILED, StateType.CRASHED]
MESSAGE_CHARS = 500
RESPONSE_SUFFIX = "-response"  # `paused-<key>-response`, `suspended-<key>-response`: what a person submitted
API_PAGE = 200  # the most a Prefect server answers per read by default (PREFECT_SERVER_API_DEFAULT_LIMIT)


@contextmanager
def _asking(subject: str, what: str) -> Iterator[None]:
    """An API failure as a CrisisError that says whose data was being read, and what."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        detail = exc.response.text[:300].strip()
        raise CrisisError(f"{subject}: {what} failed: the Prefect API answered {exc.response.status_code}"
                          f"{': ' + detail if detail else ''}") from exc
    except httpx.HTTPError as exc:
        raise CrisisError(f"{subject}: {what} failed: the Prefect API could not be reached "
                          f"({type(exc).__name__}: {exc})") from exc


def _check_page(page: int) -> None:
    if page < 1:
        raise ValueError(f"page must be at least 1, not {page}")


def runs_of_crisis(crisis_id: str, page: int = 200) -> Iterator[RunSeen]:
    """Every flow run tagged `crisis:<crisis_id>`, earliest start (else expected start) first, with its counts.

    `page` flow runs (and `page` log lines) at most are held at once; a Prefect server refuses pages above its
    `PREFECT_SERVER_API_DEFAULT_LIMIT` (200 by default). A run deleted while it is read is left out."""
    _check_page(page)
    subject = f"crisis {crisis_id}"
    with _asking(subject, "talking to the Prefect API"), get_client(sync_client=True) as client:
        flows: dict[UUID, str] = {}  # flow id → name: a crisis has a handful of flows
        for run in _tagged_runs(client, subject, crises.tag(crisis_id), page):
            seen = _run_seen(client, subject, run, flows, page)
            if seen is not None:
                yield seen


def _tagged_runs(client: SyncPrefectClient, subject: str, tag: str, page: int) -> Iterator[FlowRun]:
    """Flow runs with `tag`, page by page (limit/offset on the start-time sort).

    A run deleted between two pages moves every later run one place up, and a plain offset would skip one: the
    count is read before each page, and when it dropped the offset steps back by as much (up to a page) — the runs
    read again are recognised by the previous page's ids."""
    tagged = FlowRunFilter(tags=FlowRunFilterTags(all_=[tag]))
    offset, total, previous = 0, None, set[UUID]()
    while True:
        with _asking(subject, f"counting the flow runs tagged {tag}"):
            count = client.count_flow_runs(flow_run_filter=tagged)
        if total is not None and count < total:
            offset = max(0, offset - min(total - count, page))
        total = count
        with _asking(subject, f"reading the flow runs tagged {tag} (offset {offset}, page {page})"):
            runs = client.read_flow_runs(flow_run_filter=tagged, sort=FlowRunSort.START_TIME_ASC, limit=page,
                                         offset=offset)
        yield from (r for r in runs if r.id not in previous)
        if len(runs) < page:
            return
        offset += len(runs)
        previous = {r.id for r in runs}


def _run_seen(client: SyncPrefectClient, subject: str, run: FlowRun, flows: dict[UUID, str],
              page: int) -> RunSeen | None:
    """The run with its counts; read again last, so its state is no older than its counts (None: deleted)."""
    what = f"run {run.name} ({run.id})"
    task_runs = _count_task_runs(client, subject, run.id, None)
    failed = _count_task_runs(client, subject, run.id, FAILED)
    warnings = _count_warnings(client, subject, run.id, page)
    artifacts = _artifact_keys(client, subject, run.id, page)
    try:
        with _asking(subject, f"re-reading {what}"):
            run = client.read_flow_run(run.id)
            if run.flow_id not in flows:
                flows[run.flow_id] = client.read_flow(run.flow_id).name
    except ObjectNotFound:
        logger.warning("%s: %s was deleted while it was read: left out", subject, what)
        return None
    return RunSeen(id=str(run.id), name=run.name, flow=flows[run.flow_id],
                   state=run.state_type.value if run.state_type else "UNKNOWN", state_name=run.state_name or "",
                   started=run.start_time, ended=run.end_time, tags=sorted(run.tags), task_runs=task_runs,
                   failed_task_runs=failed, warnings=warnings, artifacts=artifacts)


def _count_task_runs(client: SyncPrefectClient, subject: str, run_id: UUID, states: list[StateType] | None) -> int:
    """Counted by the server (`POST /task_runs/count`; the client has no method for it). A subflow's stand-in
    task run in its parent is not a task run of the crisis: the subflow is a flow run of its own."""
    only = TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id]),
                         subflow_runs=TaskRunFilterSubFlowRuns(exists_=False),
                         state=TaskRunFilterState(type=TaskRunFilterStateType(any_=states)) if states else None)
    what = "counting the failed task runs" if states else "counting the task runs"
    with _asking(subject, f"{what} of run {run_id}"):
        return int(client.request("POST", "/task_runs/count", json={"task_runs": only.model_dump(mode="json")})
                   .json())


def _warning_filter(run_id: UUID) -> LogFilter:
    return LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]), level=LogFilterLevel(ge_=logging.WARNING))


def _count_warnings(client: SyncPrefectClient, subject: str, run_id: UUID, page: int) -> int:
    """Log lines at WARNING or above, a page at a time (the API has no count of logs). Only the count is kept:
    the order of lines with the same timestamp may differ between pages, their number cannot."""
    found, offset = 0, 0
    while True:
        with _asking(subject, f"reading the warnings of run {run_id} (offset {offset})"):
            lines = client.read_logs(_warning_filter(run_id), limit=page, offset=offset, sort=LogSort.TIMESTAMP_ASC)
        found += len(lines)
        offset += len(lines)
        if len(lines) < page:
            return found


def _artifact_keys(client: SyncPrefectClient, subject: str, run_id: UUID, page: int) -> list[str]:
    """The keys of the run's artifacts (each once, whatever its versions), sorted; artifacts without a key have
    nothing to name them by and are left out."""
    keys: set[str] = set()
    only = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
    offset = 0
    while True:
        with _asking(subject, f"reading the artifacts of run {run_id} (offset {offset})"):
            found = client.read_artifacts(artifact_filter=only, sort=ArtifactSort.ID_DESC, limit=page, offset=offset)
        keys.update(a.key for a in found if a.key)
        offset += len(found)
        if len(found) < page:
            return sorted(keys)


def _run_id(run_id: str | UUID) -> UUID:
    try:
        return run_id if isinstance(run_id, UUID) else UUID(str(run_id))
    except ValueError:
        raise CrisisError(f"not a flow run id: {run_id!r}") from None


def _with_client(run_id: str | UUID, what: str, read: Callable[[SyncPrefectClient, UUID], Any]) -> Any:
    uid = _run_id(run_id)
    with _asking(f"run {uid}", what), get_client(sync_client=True) as client:
        return read(client, uid)


def warnings_of_run(run_id: str | UUID, limit: int = 50) -> list[tuple[datetime, str, str]]:
    """The first `limit` log lines at WARNING or above: (time, level name, message cut to 500 characters)."""

    def read(client: SyncPrefectClient, uid: UUID) -> list[tuple[datetime, str, str]]:
        lines: list[tuple[datetime, str, str]] = []
        while len(lines) < limit:
            want = min(API_PAGE, limit - len(lines))
            found = client.read_logs(_warning_filter(uid), limit=want, offset=len(lines), sort=LogSort.TIMESTAMP_ASC)
            lines += [(g.timestamp, logging.getLevelName(g.level), _cut(g.message)) for g in found]
            if len(found) < want:
                break
        return lines

    return _with_client(run_id, "reading its warnings", read)


def _cut(text: str) -> str:
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def approval_inputs(run_id: str | UUID) -> list[dict[str, Any]]:
    """The run's stored inputs whose key ends in `-response` (the answers submitted to its pauses), oldest first:
    {key, value (the JSON parsed; the raw text if it is not JSON), created}.

    The API filters inputs by key prefix, not suffix, and pages by excluded keys, not offset: every input of the
    run is listed (a run has a few per pause) and the answers kept."""

    def read(client: SyncPrefectClient, uid: UUID) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []
        listed: set[str] = set()
        while True:
            found = client.filter_flow_run_input(uid, key_prefix="", limit=API_PAGE, exclude_keys=listed)
            listed.update(i.key for i in found)
            answers += [{"key": i.key, "value": _parsed(i.value), "created": i.created}
                        for i in found if i.key.endswith(RESPONSE_SUFFIX)]
            if len(found) < API_PAGE:  # each page is the oldest inputs not yet listed: the whole is in order
                return answers

    return _with_client(run_id, "reading its approval inputs", read)


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:  # not JSON, or a number too long to parse (CPython's 4,300 digits): kept as it was stored
        return text


def states_of_run(run_id: str | UUID) -> list[tuple[datetime, str, str]]:
    """Every state the run went through, oldest first: (timestamp, type, name)."""

    def read(client: SyncPrefectClient, uid: UUID) -> list[tuple[datetime, str, str]]:
        states = client.read_flow_run_states(uid)
        return sorted((s.timestamp, s.type.value, s.name or "") for s in states)

    return _with_client(run_id, "reading its states", read)
