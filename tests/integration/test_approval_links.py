"""Against a real `crisis up` stack: nobody reaches the API without the stack's credential, a page from another
origin can neither read nor resume a run, and the demo's chain is approved through the personal links on a phone
screen — each page showing every message byte-equal to what the drill outbox then receives, nothing fetched from
anywhere but the stack."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from crisiscomms.communication import signing
from crisiscomms.communication.release import idempotency_key
from crisiscomms.monitoring.store import state_dir
from crisiscomms.stack import server
from crisiscomms.state import open_in
from tests.backends import on_postgres
from tests.sent import as_sent

from .browser import chromium
from .conftest import LiveStack, free_port
from .helpers import deployment, flow_run_processes, reap, table_rows, task_runs, ui_retry, ui_run, wait_final
from .test_ui_approval import wait_paused

pytestmark = pytest.mark.server
PLAYBOOK = "rappel-produit"


def test_the_api_answers_nobody_without_the_stack_credential_nor_another_host(live_stack: LiveStack) -> None:
    url = live_stack.stack.api_url
    assert httpx.post(f"{url}/flow_runs/filter", json={}).status_code == 401
    assert httpx.post(f"{url}/flow_runs/filter", content=b"{}").status_code == 401  # no Content-Type either
    assert live_stack.api.post("/flow_runs/filter", json={"limit": 1}).status_code == 200
    assert httpx.get(f"{url}/health", headers={"Host": "attacker.example"}).status_code == 400
    credential = (live_stack.root / ".crisis" / "credential")
    assert credential.stat().st_mode & 0o777 == 0o600
    if on_postgres():  # the signing key is in the approvals' state, shared by every worker
        assert signing.key_exists(state_dir(live_stack.root))
    else:
        assert (state_dir(live_stack.root) / "approval.key").stat().st_mode & 0o777 == 0o600


@pytest.fixture
def other_origin(live_stack: LiveStack) -> Iterator[str]:
    """A page served from another port of 127.0.0.1 that tries to list paused runs and resume them."""
    api = live_stack.stack.api_url
    script = f"""<script>
    (async () => {{
      let said = [];
      for (const [path, body] of [["/flow_runs/filter", "{{}}"], ["/flow_runs/00000000-0000-0000-0000-000000000000/resume",
                                   '{{"run_input": {{"decision": "approve"}}}}']]) {{
        try {{ const r = await fetch("{api}" + path, {{method: "POST", body}}); said.push(r.status + ":" + (await r.text()).slice(0, 40)); }}
        catch (e) {{ said.push("blocked"); }}
      }}
      document.title = "done " + said.join(" | ");
    }})();</script>"""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<!doctype html><title>start</title>{script}".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()


def test_a_page_from_another_origin_can_neither_read_nor_resume_a_run(live_stack: LiveStack, other_origin: str,
                                                                      tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as context:
        page = context.new_page()
        page.goto(other_origin)
        page.wait_for_function("document.title.startsWith('done')")
        said = page.title()
    assert "blocked" in said or "401" in said, said
    assert "flow_run" not in said and "200:" not in said, said  # nothing was read


HOSTILE = ("Alerte <script>alert(1)</script> <!-- caché --> __gras__ "
           "![pixel](https://attacker.example/pixel.png) https://attacker.example/x.png fin.")


@pytest.fixture
def hostile_playbook(live_stack: LiveStack) -> Iterator[str]:
    """The demo playbook whose fact sheet holds what a preview would hide, render or fetch."""
    source = (live_stack.root / "playbooks" / f"{PLAYBOOK}.yaml").read_text(encoding="utf-8")
    playbook_id = f"{PLAYBOOK}-hostile"
    text = source.replace(f"id: {PLAYBOOK}\n", f"id: {playbook_id}\n", 1)
    quoted = json.dumps(HOSTILE, ensure_ascii=False)  # a YAML double-quoted scalar
    text = re.sub(r"^    summary: .*$", lambda _: f"    summary: {quoted}", text, count=1, flags=re.M)
    assert quoted in text
    path = live_stack.root / "playbooks" / f"{playbook_id}.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        yield playbook_id
    finally:
        path.unlink()


def test_the_demo_chain_approved_through_the_personal_links_on_a_phone(live_stack: LiveStack, hostile_playbook: str,
                                                                        tmp_path: Path) -> None:
    api, state = live_stack.api, state_dir(live_stack.root)
    notices = state / "outbox" / "exercice" / "approvals"
    before = set(notices.glob("*.json")) if notices.is_dir() else set()
    # The whole playbook, as `crisis up` starts the demo: its assessment of the demo data asks for the P1 chain.
    # Not among the deployment's registered playbooks: sent without the server's schema check (the UI's toggle).
    created = ui_run(api, deployment(api, "crisis-playbook", "playbook")["id"], {"playbook": hostile_playbook},
                     validate=False)
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    hosts: set[str] = set()
    shown: list[list[str]] = []
    with chromium(tmp_path / "phone", viewport=(390, 844)) as context:  # no UI credential: the link is enough
        page = context.new_page()
        page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
        stage = 0
        while True:
            link = _next_link(api, run_id, notices, before, live_stack.worker_log, timeout=240)
            if link is None:
                break
            stage += 1
            if stage == 1:  # the request leaves just before the run suspends: wait until it does
                wait_paused(api, run_id, "validation-0", live_stack.worker_log, timeout=120)
                _forged_links_change_nothing(api, run_id, link, state)
            page.goto(link)
            texts = page.locator("pre.text").all_text_contents()
            shown.append(texts)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # readable: no sideways scroll
            page.screenshot(path=str(tmp_path / f"link-stage-{stage}.png"))
            csrf = page.locator("input[name=csrf]").get_attribute("value")
            page.check("input[value=approve]")
            page.fill("#comment", f"Vu sur téléphone, étape {stage}. {{{{ 7*7 }}}} <b>ok</b>")
            page.click("button[type=submit]")
            # The run was suspended: a worker picks it up and replays it before it can say; the page looks again.
            page.get_by_text("Recorded.").wait_for(timeout=180_000)
            again = httpx.post(link, data={"decision": "reject", "csrf": csrf}, timeout=30)  # the form sent again
            assert again.status_code == 409 and "a link decides once" in again.text  # a decision posted twice
    run = wait_final(api, run_id, live_stack.worker_log)
    assert (run["state_type"], run["state_name"]) == ("COMPLETED", "Released"), run["state"]
    approval = _approval_table(api, run_id, hostile_playbook)
    assert "(priority p1)" in approval["description"] and stage == 3  # legal → communications → executive
    rows = table_rows(approval)
    assert [(r["decision"], r["via"], r["refused"]) for r in rows] == [("approve", "link", "")] * 3
    assert stage >= 1 and "attacker.example" not in str(hosts) and hosts == {f"127.0.0.1:{live_stack.stack.port}"}, hosts
    pack = _released_pack(api, run_id, state, hostile_playbook)
    assert any(HOSTILE in v["text"] for v in pack["variants"])
    for texts in shown:  # every page showed exactly what left (the next update's time is written in at release)
        assert texts == [v["text"] for v in pack["variants"]]
    for variant in pack["variants"]:
        sent = state / "outbox" / "exercice" / variant["channel"] / f"{idempotency_key(pack['hash'], variant['id'])}.json"
        assert json.loads(sent.read_text(encoding="utf-8"))["text"] == as_sent(state, pack, variant)


def _csrf_of(link: str) -> str:
    page = httpx.get(link, timeout=30)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    return html.unescape(found.group(1)) if found else ""


def _forged_links_change_nothing(api: httpx.Client, run_id: str, link: str, state: Path) -> None:
    """Against the real stack, before the first decision: each bad link gets a clear page; the run still waits."""
    waiting = api.get(f"/flow_runs/{run_id}").json()["state"]["state_details"]["pause_key"]
    base, token = link.rsplit("/", 1)
    fields = signing.verify(signing.load_key(state), "link", token)
    key = signing.load_key(state)
    forged = {
        "another stack's key": signing.sign(b"k" * 32, "link", fields),
        "a changed signature": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "cut short": token[: len(token) // 2],
        "expired": signing.sign(key, "link", {**fields, "x": int(time.time()) - 1}),
        "another pack": signing.sign(key, "link", {**fields, "h": "0" * 64}),
        "the pack's author": signing.sign(key, "link", {**fields, "p": "Emma Girard"}),
        "another stage": signing.sign(key, "link", {**fields, "s": fields["s"][:-1] + "3"}),
    }
    csrf = _csrf_of(link)
    for what, bad in forged.items():
        response = httpx.post(f"{base}/{bad}", data={"decision": "approve", "csrf": csrf}, timeout=30)
        assert response.status_code in {403, 404} and "<h1>" in response.text, (what, response.text[-300:])
    no_token = httpx.post(link, data={"decision": "approve"}, timeout=30)
    assert no_token.status_code == 403 and "anti-forgery token" in no_token.text
    run = api.get(f"/flow_runs/{run_id}").json()
    assert (run["state_type"], run["state"]["state_details"]["pause_key"]) == ("PAUSED", waiting)  # nothing moved


def _approval_table(api: httpx.Client, run_id: str, playbook: str) -> dict:
    tables = api.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]},
                                                               "key": {"any_": [f"{playbook}-validation-approval"]}}})
    return tables.json()[0]


def _next_link(api: httpx.Client, run_id: str, notices: Path, seen: set[Path], log: Path,
               timeout: float = 120) -> str | None:
    """The link of the next approval request sent for this run, or None once the run no longer waits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = sorted(set(notices.glob("*.json")) - seen) if notices.is_dir() else []
        if fresh:
            seen.add(fresh[0])
            text = json.loads(fresh[0].read_text(encoding="utf-8"))["text"]
            return next(line.strip() for line in text.splitlines() if "/approve/" in line)
        if api.get(f"/flow_runs/{run_id}").json()["state_type"] in {"COMPLETED", "FAILED", "CRASHED"}:
            return None
        time.sleep(1)
    raise AssertionError(f"no approval request and the run still waits\n{log.read_text()[-2000:]}")


def _released_pack(api: httpx.Client, run_id: str, state: Path, playbook: str = PLAYBOOK) -> dict:
    description = _approval_table(api, run_id, playbook)["description"]
    digest = description.split("pack ")[1].split()[0]
    return json.loads((state / "packs" / f"{playbook}-{digest[:16]}.json").read_text(encoding="utf-8"))


def _decide(link: str, decision: str = "approve") -> str:
    """What an approver's browser does on their page: read the form's anti-forgery token, post the decision."""
    token = _csrf_of(link)
    assert token, f"no decision form at {link}"
    posted = httpx.post(link, data={"decision": decision, "comment": "", "csrf": token}, timeout=60)
    assert posted.status_code == 200, posted.text
    return posted.text


def test_an_approval_survives_a_killed_worker_and_a_restarted_server_and_releases_once(live_stack: LiveStack) -> None:
    api, stack, state = live_stack.api, live_stack.stack, state_dir(live_stack.root)
    notices = state / "outbox" / "exercice" / "approvals"
    seen = set(notices.glob("*.json")) if notices.is_dir() else set()
    created = ui_run(api, deployment(api, "phase-communication", "communication")["id"], {"playbook": PLAYBOOK})
    run_id = created.json()["id"]
    link = _next_link(api, run_id, notices, seen, live_stack.worker_log)
    waiting = wait_paused(api, run_id, "validation-0", live_stack.worker_log, timeout=120)  # the request leaves first
    assert waiting["state_name"] == "Suspended"  # no process keeps it
    worker = int(stack.pid_file("worker").read_text())
    os.killpg(worker, signal.SIGKILL)  # the machine's worker dies while the run waits …
    server_pid = int(stack.pid_file("server").read_text())
    server.down_one(stack, "server")  # … and the server is restarted
    for pid in (worker, server_pid):
        reap(pid)
    server.spawn(stack, "server", server.server_command(stack))
    server.wait_healthy(stack, say=print)
    server.spawn(stack, "worker", server.worker_command())
    answered = 0
    while link is not None:
        said = _decide(link)
        assert "Recorded." in said or "has not confirmed it yet" in said, said[-800:]
        answered += 1
        link = _next_link(api, run_id, notices, seen, live_stack.worker_log, timeout=180)
    run = wait_final(api, run_id, live_stack.worker_log, timeout=180)
    assert (run["state_type"], run["state_name"]) == ("COMPLETED", "Released"), run["state"]
    pack = _released_pack(api, run_id, state)
    with open_in(state, "outbox") as db:
        rows = [tuple(r) for r in db.execute("SELECT message, status FROM outbox WHERE pack = ?", (pack["hash"],))]
    assert sorted(rows) == sorted((v["id"], "sent") for v in pack["variants"])  # each message once, sent
    for variant in pack["variants"]:
        sent = state / "outbox" / "exercice" / variant["channel"] / f"{idempotency_key(pack['hash'], variant['id'])}.json"
        assert json.loads(sent.read_text(encoding="utf-8"))["text"] == as_sent(state, pack, variant)
    releases = [t for t in task_runs(api, [run_id]) if t["name"] == f"{PLAYBOOK}:diffusion"]
    assert [t["state_name"] for t in releases] == ["Completed"] and answered >= 1  # one release, after the last answer


@pytest.mark.parametrize("answered", [True, False], ids=["after-its-answer", "before-its-answer"])
def test_a_run_retried_at_a_pause_asks_nothing_twice_and_releases_once(live_stack: LiveStack,
                                                                         answered: bool) -> None:
    """The UI's Retry of a run that crashed at its first approval: Prefect clears a retried run's pause keys, so its
    replay meets that pause as a new one. Killed after the approver answered, the run takes the answer given (the
    link is used: nobody would answer again); marked crashed before (a worker's late report), it waits again on
    the same pause, and the link sent first still decides. Either way the pack is released once."""
    api, stack, state = live_stack.api, live_stack.stack, state_dir(live_stack.root)
    notices = state / "outbox" / "exercice" / "approvals"
    seen = set(notices.glob("*.json")) if notices.is_dir() else set()
    run_id = ui_run(api, deployment(api, "phase-communication", "communication")["id"], {"playbook": PLAYBOOK}
                    ).json()["id"]
    link = _next_link(api, run_id, notices, seen, live_stack.worker_log)
    wait_paused(api, run_id, "validation-0", live_stack.worker_log, timeout=120)
    if answered:
        _answer_then_crash(api, stack, run_id, link, live_stack.worker_log)
    else:
        crashed = api.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "CRASHED"}, "force": True})
        assert crashed.status_code in (200, 201), crashed.text
    ui_retry(api, run_id)
    if not answered:
        wait_paused(api, run_id, "validation-0", live_stack.worker_log, timeout=120)
        assert "Recorded." in _decide(link)
    count = 1
    while (link := _next_link(api, run_id, notices, seen, live_stack.worker_log, timeout=180)) is not None:
        assert "Recorded." in _decide(link)  # the later stages, each asked once
        count += 1
    run = wait_final(api, run_id, live_stack.worker_log, timeout=180)
    assert (run["state_type"], run["state_name"]) == ("COMPLETED", "Released"), run["state"]
    rows = table_rows(_approval_table(api, run_id, PLAYBOOK))
    assert [(r["decision"], r["via"], r["refused"]) for r in rows] == [("approve", "link", "")] * count
    releases = [t for t in task_runs(api, [run_id]) if t["name"] == f"{PLAYBOOK}:diffusion"]
    assert [t["state_name"] for t in releases] == ["Completed"]
    errors = api.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}, "level": {"ge_": 40}}})
    assert [e["message"][:300] for e in errors.json()] == []  # the run's history shows no error


def _answer_then_crash(api: httpx.Client, stack: server.Stack, run_id: str, link: str, log: Path) -> None:
    """The approver answers while no worker runs; the process that then takes the answered run dies at once."""
    server.down_one(stack, "worker")
    try:
        said = _decide(link)
        assert "has not confirmed it yet" in said, said[-800:]
    finally:
        server.spawn(stack, "worker", server.worker_command())
    deadline = time.monotonic() + 60
    while not (found := flow_run_processes({run_id})):
        assert time.monotonic() < deadline, "no worker took the answered run"
        time.sleep(0.05)
    for pid in found:
        os.kill(pid, signal.SIGKILL)
    crashed = wait_final(api, run_id, log, timeout=120)
    assert crashed["state_type"] == "CRASHED", crashed["state"]
