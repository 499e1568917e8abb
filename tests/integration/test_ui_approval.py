"""Approval through the real Prefect UI: headless Debian Chromium fills the Resume form of the paused demo run
on a real `prefect server`; the release follows an approval only, and the audit trail keeps what was typed.

The runs start the way a user starts them (a deployment run from the UI's Run form, or `crisis run`); the test
then acts as the approvers in the browser, and checks the outcome on the server and in the project's outbox.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from crisiscomms.communication.messages import read_variants
from crisiscomms.communication.release import idempotency_key
from crisiscomms.monitoring.store import open_store, state_dir
from crisiscomms.playbook.communication import Stage
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.project import Project
from crisiscomms.state import URL_VARIABLE, database_url, open_in
from tests.backends import fresh_schema, on_postgres, session_server
from tests.sent import as_sent

from .browser import Answer, chromium, open_run, read_prompt, resume_with
from .conftest import LiveStack, copy_project
from .helpers import child_runs, deployment, table_rows, tail, task_runs, ui_run, wait_final

pytestmark = pytest.mark.server

PLAYBOOK = "rappel-produit"
FORM_FIELDS = ("decision", "name", "comment")


class Browser:
    """One Chromium for the module, launched on first use: inside a test, so a missing browser fails it."""

    def __init__(self, profile: Path) -> None:
        self._profile, self._stack = profile, ExitStack()
        self.credential: str | None = None  # the stack's, set by the fixture
        self._page: Page | None = None

    def page(self) -> Page:
        if self._page is None:
            self._page = self._stack.enter_context(chromium(self._profile, self.credential)).new_page()
        return self._page

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, live_stack: LiveStack) -> Iterator[Browser]:
    opened = Browser(tmp_path_factory.mktemp("chromium") / "profile")
    opened.credential = live_stack.stack.credential()  # the UI of a `crisis up` stack asks for it
    yield opened
    opened.close()


# --- the server side -------------------------------------------------------------------------------------------

def wait_paused(api: httpx.Client, run_id: str, key: str, log: Path, timeout: float = 60.0) -> dict[str, Any]:
    """The run once it waits at the pause `key` (the engine keys each question `<step>-<answers so far>`)."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/flow_runs/{run_id}").json()
        if run["state_type"] == "PAUSED" and run["state"]["state_details"].get("pause_key") == key:
            return run
        if run["state_type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"} or time.monotonic() > deadline:
            raise AssertionError(f"run {run['name']} is {run['state_name']}, not paused at {key}: "
                                 f"{run['state'].get('message')}\n{tail(log)}")
        time.sleep(0.3)


def wait_child(api: httpx.Client, parent_id: str, name: str, log: Path, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [run for run in child_runs(api, parent_id) if run["name"] == name]
        if found:
            return found[0]
        parent = api.get(f"/flow_runs/{parent_id}").json()
        if parent["state_type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
            raise AssertionError(f"{parent['name']} ended {parent['state_name']} without a {name} run\n{tail(log)}")
        time.sleep(0.5)
    raise AssertionError(f"no {name} run under {parent_id} after {timeout:.0f} s\n{tail(log)}")


def run_named(api: httpx.Client, name: str, state: str, log: Path, timeout: float = 90.0) -> dict[str, Any]:
    """The one flow run of that name in that state (for runs started outside a deployment)."""
    body = {"flow_runs": {"name": {"any_": [name]}, "state": {"type": {"any_": [state]}}}}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = api.post("/flow_runs/filter", json=body).json()
        if found:
            assert len(found) == 1, [run["id"] for run in found]
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"no {state} flow run named {name} after {timeout:.0f} s\n{tail(log)}")


def form_input(api: httpx.Client, run_id: str, key: str, wait: float = 15.0) -> Any:
    """What the server kept of a pause: `paused-<key>-response` (`suspended-…` for a run that waits suspended) is
    the submitted form, as typed.

    Waits a little for it: Prefect pauses the run first and saves the form's schema and description just after.
    """
    deadline = time.monotonic() + wait
    while (response := api.get(f"/flow_runs/{run_id}/input/{key}")).status_code == 404:
        if time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert response.status_code == 200, f"{key}: {response.status_code} {response.text}"
    return response.json()


def input_keys(api: httpx.Client, run_id: str) -> set[str]:
    response = api.post(f"/flow_runs/{run_id}/input/filter", json={"prefix": "paused-", "limit": 100})
    assert response.status_code == 200, response.text
    return {row["key"] for row in response.json()}


def task_logs(api: httpx.Client, task_run_id: str, needle: str, wait: float = 30.0) -> str:
    """A task run's log messages, once `needle` shows (the worker ships logs in batches)."""
    deadline = time.monotonic() + wait
    while True:
        logs = api.post("/logs/filter", json={"logs": {"task_run_id": {"any_": [task_run_id]}},
                                              "sort": "TIMESTAMP_ASC"}).json()
        text = "\n".join(log["message"] for log in logs)
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def artifact(api: httpx.Client, run_id: str, key: str) -> dict[str, Any]:
    body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": [key]}}}
    found = api.post("/artifacts/filter", json=body).json()
    assert found, f"no artifact {key} on run {run_id}"
    return found[-1]


def steps_of(api: httpx.Client, run_id: str) -> dict[str, dict[str, Any]]:
    """The run's task runs by step id (their names are `<playbook>:<step>`); a step run again after a resume (it
    came back Cached) is the later task run."""
    return {t["name"].split(":", 1)[1]: t for t in task_runs(api, [run_id]) if ":" in t["name"]}


# --- the playbook and the project ------------------------------------------------------------------------------

def approval_chain(root: Path) -> tuple[Playbook, list[Stage]]:
    """The chain the communication phase will ask: by the priority of the latest assessment (none → default).

    The stack's worker inherits this process's environment, so both read the same state directory.
    """
    playbook = Project(root).load(PLAYBOOK).playbook
    store = open_store(root)
    try:
        latest = store.latest_assessment(PLAYBOOK, "assessment")
    finally:
        store.close()
    priority = latest[0]["priority"] if latest else None
    return playbook, playbook.communication.approval.chain(priority)


def approvers(playbook: Playbook, stage: Stage) -> list[tuple[str, str]]:
    """(name, role) of `quorum` different members of the stage's roles, never the pack's author."""
    author = playbook.inputs["redacteur"].default
    people = [(member.name, role) for role in stage.roles
              for member in playbook.team[role].members if member.name != author]
    assert len(people) >= stage.quorum, f"the demo team cannot reach the quorum of {stage}"
    return people[: stage.quorum]


def outbox_files(state: Path) -> set[Path]:
    """Released messages (the approval requests sent to approvers in a drill are not releases)."""
    folder = state / "outbox"
    return {p for p in folder.rglob("*.json") if "approvals" not in p.parts} if folder.is_dir() else set()


def outbox_rows(state: Path) -> list[tuple[Any, ...]]:
    if database_url() is None and not (state / "outbox.db").is_file():
        return []
    with open_in(state, "outbox") as db:
        return [tuple(row) for row in db.execute("SELECT key, pack, message, status FROM outbox ORDER BY seq")]


def pack_of(state: Path, logged: str) -> dict[str, Any]:
    """The kept pack the approval record names (its log gives the hash; the pack file is named by it)."""
    found = re.search(r"approval: \w+ for pack ([0-9a-f]{16})", logged)
    assert found, logged
    path = state / "packs" / f"{PLAYBOOK}-{found.group(1)}.json"
    pack = json.loads(path.read_text(encoding="utf-8"))
    assert read_variants(pack)[1] == pack["hash"]  # the kept texts are the ones that were checked
    return pack


def answered_line(number: int, answer: Answer) -> str:
    return f"stage {number}: {answer.decision} by {answer.name!r} as {answer.role!r} via ui at "


# --- the tests -------------------------------------------------------------------------------------------------

def test_rejecting_in_the_browser_ends_the_approval_and_releases_nothing(
        live_stack: LiveStack, browser: Browser, tmp_path: Path) -> None:
    api, root, state = live_stack.api, live_stack.root, state_dir(live_stack.root)
    playbook, chain = approval_chain(root)
    (name, role), *_ = approvers(playbook, chain[0])
    files, rows = outbox_files(state), outbox_rows(state)

    dep = deployment(api, "phase-communication", "communication")
    created = ui_run(api, dep["id"], {"playbook": PLAYBOOK})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    wait_paused(api, run_id, "validation-0", live_stack.worker_log, timeout=120)

    # A refused answer is said as one: the form that comes back starts with the refusal, the deadline unmoved.
    refused = Answer("approve", name, role, "", edits="summary: Résumé corrigé.")  # edits go with request_changes
    first = resume_with(browser.page(), live_stack.stack.ui_url, run_id, refused, tmp_path)
    wait_paused(api, run_id, "validation-1", live_stack.worker_log, timeout=120)
    again = read_prompt(browser.page(), live_stack.stack.ui_url, run_id, tmp_path)
    assert again.startswith("Refused: edits come with request_changes only"), again[:300]
    deadline = re.search(r"decide before (.+?\))", first).group(1)
    assert f"decide before {deadline}" in again  # the refusal did not restart the stage's clock

    answer = Answer("reject", name, role, "Le lot L26062 n'est pas confirmé : rien ne sort. {{ inputs }}")
    shown = resume_with(browser.page(), live_stack.stack.ui_url, run_id, answer, tmp_path)
    assert f"Stage 1/{len(chain)}" in shown and name in shown, shown[:500]

    run = wait_final(api, run_id, live_stack.worker_log)
    assert (run["state_type"], run["state_name"]) == ("COMPLETED", "Rejected"), run["state"]
    steps = steps_of(api, run_id)
    assert steps["validation"]["state_name"] == "Completed"
    assert steps["diffusion"]["state_name"] == "Skipped"
    assert steps["diffusion"]["state"]["message"] == 'condition false: validation.decision == "approved"'
    kept = form_input(api, run_id, "suspended-validation-1-response")  # a deployment's run waits suspended
    assert {field: kept[field] for field in FORM_FIELDS} == {f: asdict(answer)[f] for f in FORM_FIELDS}
    logged = task_logs(api, steps["validation"]["id"], answered_line(1, answer))
    assert "approval: rejected for pack" in logged and "(2 answer(s))" in logged, logged
    assert "REFUSED: edits come with request_changes only" in logged, logged
    assert answered_line(1, answer) in logged and f"comment {answer.comment!r}" in logged, logged
    pack = pack_of(state, logged)
    assert pack["hash"] in shown  # the approver was shown the pack that was decided on, by its full hash
    assert outbox_files(state) == files, "a rejected pack must not reach the outbox"
    assert outbox_rows(state) == rows, "a rejected pack must not even be claimed for sending"


def test_the_approval_chain_answered_in_the_browser_releases_exactly_the_approved_pack(
        live_stack: LiveStack, browser: Browser, tmp_path: Path) -> None:
    api, root, state = live_stack.api, live_stack.root, state_dir(live_stack.root)
    before = outbox_files(state)
    dep = deployment(api, "crisis-playbook", "playbook")
    created = ui_run(api, dep["id"], {"playbook": PLAYBOOK})  # what `crisis up` starts: the demo, all phases
    assert created.status_code == 201, created.text
    parent_id = run_id = created.json()["id"]  # the phases run in it: it is the run that waits (suspended)
    wait_paused(api, run_id, "validation-0", live_stack.worker_log, timeout=180)

    playbook, chain = approval_chain(root)  # by the priority this run's own assessment found
    comments = ["Faits vérifiés avec la qualité ; « lots » conformes. {{ 7 * 7 }}", "Ton et canaux validés.",
                "Diffusion autorisée."]
    answers: list[Answer] = []
    for number, stage in enumerate(chain, start=1):
        for name, role in approvers(playbook, stage):
            key = f"validation-{len(answers)}"
            wait_paused(api, run_id, key, live_stack.worker_log)
            answer = Answer("approve", name, role, comments[(number - 1) % len(comments)])
            shown = resume_with(browser.page(), live_stack.stack.ui_url, run_id, answer, tmp_path)
            assert f"Stage {number}/{len(chain)}" in shown, shown[:500]
            assert name in shown, shown[:500]  # the form says who is expected to answer
            answers.append(answer)

    parent = wait_final(api, parent_id, live_stack.worker_log)
    assert (parent["state_type"], parent["state_name"]) == ("COMPLETED", "Released"), parent["state"]
    steps = steps_of(api, run_id)
    assert steps["validation"]["state_name"] == "Completed"
    assert steps["diffusion"]["state_name"] == "Completed"

    # The audit trail: each submitted form is kept by the server as typed, and the decision's task run logs it.
    for number, answer in enumerate(answers):
        kept = form_input(api, run_id, f"suspended-validation-{number}-response")
        assert {field: kept[field] for field in FORM_FIELDS} == {f: asdict(answer)[f] for f in FORM_FIELDS}
    logged = task_logs(api, steps["validation"]["id"], answered_line(len(chain), answers[-1]))
    assert "approval: approved for pack" in logged and f"({len(answers)} answer(s))" in logged, logged
    stage_of = [n for n, stage in enumerate(chain, start=1) for _ in range(stage.quorum)]
    for number, answer in zip(stage_of, answers, strict=True):
        assert answered_line(number, answer) in logged, logged
        assert f"comment {answer.comment!r}" in logged, logged

    table = artifact(api, run_id, f"{PLAYBOOK}-validation-approval")
    rows = table_rows(table)
    assert [(r["stage"], r["decision"], r["name"], r["role"], r["comment"]) for r in rows] == [
        (number, a.decision, a.name, a.role, a.comment) for number, a in zip(stage_of, answers, strict=True)]

    # The outbox holds exactly the approved pack's texts: one file a message, named by its idempotency key.
    pack = pack_of(state, logged)
    assert pack["hash"] in shown  # what the approvers were shown is what was released
    drill = state / "outbox" / "exercice"
    expected = {drill / v["channel"] / f"{idempotency_key(pack['hash'], v['id'])}.json": v for v in pack["variants"]}
    # New files are these only (a pack already sent in an earlier run would add none: each message goes once).
    assert outbox_files(state) - before <= set(expected)
    for path, variant in expected.items():
        sent = json.loads(path.read_text(encoding="utf-8"))
        assert (sent["id"], sent["text"]) == (variant["id"], as_sent(state, pack, variant))
        assert sent["text"].lstrip("# ").startswith("[EXERCICE]")  # the demo is a drill: marked as one
    assert {row[2] for row in outbox_rows(state) if row[1] == pack["hash"] and row[3] == "sent"} == {
        v["id"] for v in pack["variants"]}


def _short_timeout_copy(dest: Path, seconds: int) -> str:
    """A project copy whose demo playbook (renamed) waits `seconds` per approval stage instead of 30 min or 1 h."""
    root = copy_project(dest)
    source = (root / "playbooks" / f"{PLAYBOOK}.yaml").read_text(encoding="utf-8")
    playbook_id = f"{PLAYBOOK}-delai"
    text, renamed = re.subn(rf"^id: {PLAYBOOK}$", f"id: {playbook_id}", source, flags=re.M)
    text, shortened = re.subn(r"timeout: (30m|1h)\b", f"timeout: {seconds}s", text)
    assert renamed == 1 and shortened >= 6, "the demo playbook's approval section changed: update this test"
    (root / "playbooks" / f"{playbook_id}.yaml").write_text(text, encoding="utf-8")
    return playbook_id


def test_an_unanswered_approval_times_out_after_one_escalation_and_releases_nothing(
        live_stack: LiveStack, browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = live_stack.api
    root = tmp_path / "project"
    state = root / ".crisis"
    playbook_id = _short_timeout_copy(root, seconds=10)
    # No assessment in this copy's state: its chain is the default one, communication then (escalated) the
    # spokesperson.
    chain = Project(root).load(playbook_id).playbook.communication.approval.chain(None)
    assert [(s.roles, s.timeout, s.escalate_to) for s in chain] == [
        (["direction_communication"], 10, "porte_parole")]
    # This copy's state is its own: its files under `state`, or on the PostgreSQL pass a schema of its own.
    own = fresh_schema(session_server())[1] if on_postgres() else None
    if own:
        monkeypatch.setenv(URL_VARIABLE, own)
    else:
        monkeypatch.delenv(URL_VARIABLE, raising=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_API_URL": live_stack.stack.api_url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_API_AUTH_STRING": live_stack.stack.credential() or "",
                "PREFECT_HOME": str(tmp_path / "prefect-home"), "CRISIS_STATE_DIR": str(state)})
    log, output = tmp_path / "crisis-run.log", tmp_path / "crisis-run.json"
    page = browser.page()  # launched before the run: the first stage's 10 s are for reading the form
    started = time.monotonic()
    with log.open("w") as stderr, output.open("w") as stdout:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "crisis"), "run", playbook_id, "--phase", "communication"],
            cwd=root, env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    try:
        run = run_named(api, f"{playbook_id}/communication", "PAUSED", log)
        # The approver opens the form and reads who is asked; nobody submits it.
        shown = read_prompt(page, live_stack.stack.ui_url, run["id"], tmp_path)
        assert "Stage 1/1 (direction_communication): Claire Martin" in shown, shown[:500]
        wait_paused(api, run["id"], "validation-1", log, timeout=30)
        escalated = form_input(api, run["id"], "paused-validation-1-description")
        assert "Stage 1/1 (porte_parole): Julien Roche" in escalated, escalated[:300]
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    elapsed = time.monotonic() - started
    assert process.returncode == 0, tail(log)
    statuses = json.loads(output.read_text(encoding="utf-8"))
    assert (statuses["validation"], statuses["diffusion"]) == ("completed", "skipped")
    assert elapsed >= 20  # two stages of 10 s went by unanswered

    final = api.get(f"/flow_runs/{run['id']}").json()
    assert (final["state_type"], final["state_name"]) == ("COMPLETED", "Timed out"), final["state"]
    tasks = steps_of(api, run["id"])
    assert tasks["diffusion"]["state_name"] == "Skipped"
    logged = task_logs(api, tasks["validation"]["id"], "approval: timed_out")
    assert "approval: timed_out for pack" in logged and "(2 answer(s))" in logged, logged
    assert "stage 1: timed_out by '' as 'direction_communication' via flow" in logged, logged
    assert "stage 1: timed_out by '' as 'porte_parole' via flow" in logged, logged
    assert not {key for key in input_keys(api, run["id"]) if key.endswith("-response")}  # nobody answered
    assert outbox_files(state) == set() and outbox_rows(state) == []
    assert len(list((state / "packs").glob(f"{playbook_id}-*.json"))) == 1  # there was a pack, kept unsent

    # The UI no longer offers the form: the run is over.
    open_run(page, live_stack.stack.ui_url, run["id"])
    page.get_by_text("Timed out", exact=True).first.wait_for()
    assert page.get_by_role("button", name="Resume", exact=True).count() == 0
