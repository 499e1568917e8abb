"""Approval latency (issue 11): a stage opens → its approver's e-mail is delivered; the decision is posted on the
approver page → the flow continues.

    .venv/bin/python bench/approval_latency.py [--cycles 20] [--port PORT] [--monitor-every 15] [--ui-every 2]

Everything is real and local: a copy of this project in a temporary folder with a bench playbook (one stage, one
approver notified by e-mail), started with `crisis up` as a user would (the gateway: Prefect's server on SQLite and
the approver page; a `process` worker; the deployments), an SMTP server (aiosmtpd) on 127.0.0.1. Each cycle starts
the communication phase through its deployment, as the UI's Run form does; the run is suspended while it waits (no
process), so the figures include what durability costs: a worker picking the resumed run up and replaying it.

    (a) open → notified  = the e-mail's arrival at the SMTP server − the `approval.open` task run's start
    (b) POST → continues = the `approval.answer` task run's start (the flow has the answer) − the POST being sent
    (c) POST → page says = the approver page's answer (Recorded / Refused) − the POST being sent

Server times come from the Prefect API (wall clock, same machine).

With `--monitor-every S`, a run of the `crisis-monitor/monitor` deployment is started every S seconds meanwhile (on
top of its 5-minute schedule), all on the one SQLite file; with `--ui-every N`, every Nth decision is given in the
Prefect UI's Resume form (headless Debian Chromium) instead of the link. The bench then counts decisions that
failed and the server's "database is locked" errors (its log) and 503 answers.

With `--postgres`, the stack runs as `crisis up --postgres` starts it: Prefect's runs and the project's state in a
PostgreSQL cluster of its own (the lock errors counted are then PostgreSQL's: deadlocks, lock timeouts). Meanwhile a
probe asks the API for one flow run every half second: its slowest answers are the stalls a person would feel (the
target: none over 1 s).
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]

import httpx  # noqa: E402
from project_copy import make_project, say  # noqa: E402

from crisiscomms.stack import server  # noqa: E402
from crisiscomms.stack.server import LOCAL, Stack  # noqa: E402
from tests.unit.receivers import SmtpReceiver  # noqa: E402

PLAYBOOK_ID = "bench-approval"
PLAYBOOK = """\
id: bench-approval
version: 1.0.0
title: Bench — approval latency
language: fr
team:
  communication:
    title: Communication
    members: [{name: Claire Martin, email: claire@bench.example}]
audiences:
  clients: {title: Clients, kind: public, default: true}
channels:
  site: {kind: website, title: Site web}
communication:
  organisation: {name: Bench}
  facts: {subject: Produit de test, summary: Point de test., known: [Un lot est concerné], next_update: 1h}
  messages:
    - {kind: update, audiences: [clients], channels: [site]}
  approval:
    default:
      - {roles: [communication], timeout: 1h}
phases:
  communication:
    steps:
      - {id: pack, type: message.pack}
      - {id: approval, type: message.approve, pack: pack}
      - {id: release, type: message.release, approval: approval, pack: pack}
"""


def wall(monotonic_at: float) -> float:
    return time.time() - (time.monotonic() - monotonic_at)


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def task_start(api: httpx.Client, run_id: str, name: str, wait: float = 120) -> float:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        runs = api.post("/task_runs/filter", json={"flow_runs": {"id": {"any_": [run_id]}}}).json()
        found = [r for r in runs if r["name"] == name and r.get("start_time")]
        if found:
            return min(stamp(r["start_time"]) for r in found)
        time.sleep(0.2)
    raise RuntimeError(f"no task run {name} in {run_id}")


def one_cycle(api: httpx.Client, deployment_id: str, smtp: SmtpReceiver, ui: Any = None) -> dict[str, float]:
    before = len(smtp.deliveries)
    created = api.post(f"/deployments/{deployment_id}/create_flow_run",
                       json={"state": {"type": "SCHEDULED"}, "parameters": {"playbook": PLAYBOOK_ID}})
    run_id = created.json()["id"]
    deadline = time.monotonic() + 180
    while len(smtp.deliveries) == before:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no approval e-mail for run {run_id}")
        time.sleep(0.05)
    delivery = smtp.deliveries[before]
    notified = wall(delivery.at)
    opened = task_start(api, run_id, f"{PLAYBOOK_ID}:approval:open-1")
    link = re.search(r"https?://\S+/approve/\S+", delivery.text).group(0)
    while api.get(f"/flow_runs/{run_id}").json()["state_type"] != "PAUSED":
        time.sleep(0.1)
    if ui is not None:
        return _through_the_ui(api, run_id, ui, opened, notified)
    page = httpx.get(link, timeout=30)
    token = html.unescape(re.search(r'name="csrf" value="([^"]+)"', page.text).group(1))
    posted = time.time()
    answer = httpx.post(link, data={"decision": "approve", "comment": "", "csrf": token}, timeout=120)
    answered = time.time()
    if "Recorded." not in answer.text:
        raise RuntimeError(f"the page did not record the decision: {answer.text[-500:]}")
    continued = task_start(api, run_id, f"{PLAYBOOK_ID}:approval:approval-0")
    while api.get(f"/flow_runs/{run_id}").json()["state_type"] not in {"COMPLETED", "FAILED", "CRASHED"}:
        time.sleep(0.2)
    return {"open_to_notified": notified - opened, "post_to_continue": continued - posted,
            "post_to_page": answered - posted}


def _through_the_ui(api: httpx.Client, run_id: str, ui: Any, opened: float, notified: float) -> dict[str, float]:
    from tests.integration.browser import Answer, resume_with

    page, shots = ui
    posted = time.time()
    resume_with(page, api.base_url.scheme + "://" + api.base_url.netloc.decode(), run_id,
                Answer("approve", "Claire Martin", "communication", ""), shots)
    continued = task_start(api, run_id, f"{PLAYBOOK_ID}:approval:approval-0")
    while api.get(f"/flow_runs/{run_id}").json()["state_type"] not in {"COMPLETED", "FAILED", "CRASHED"}:
        time.sleep(0.2)
    return {"open_to_notified": notified - opened, "post_to_continue": continued - posted, "via_ui": 1.0}


def monitor_runs(api: httpx.Client, every: float, stop: threading.Event) -> None:
    deployment_id = api.get("/deployments/name/crisis-monitor/monitor").json()["id"]
    while not stop.wait(every):
        api.post(f"/deployments/{deployment_id}/create_flow_run", json={"state": {"type": "SCHEDULED"}})


LOCK_ERRORS = ("database is locked", "deadlock detected", "lock timeout", "could not obtain lock")


def probe(stack: Stack, stop: threading.Event, seen: list[float]) -> None:
    """How long the API takes to answer a small read, every half second, while the bench runs."""
    user, _, password = (stack.credential() or "").partition(":")
    with httpx.Client(base_url=stack.api_url, auth=(user, password), timeout=90) as api:
        while not stop.wait(0.5):
            started = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                api.post("/flow_runs/filter", json={"limit": 1})
                seen.append(time.monotonic() - started)


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "max": float("nan")}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def _browser(closing: contextlib.ExitStack, stack: Stack, tmp: Path) -> tuple[Any, Path]:
    from tests.integration.browser import chromium

    context = closing.enter_context(chromium(tmp / "chromium", stack.credential()))
    (tmp / "shots").mkdir()
    return context.new_page(), tmp / "shots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--port", type=int, default=4290)
    parser.add_argument("--monitor-every", type=float, default=0, help="start a monitoring run every S seconds")
    parser.add_argument("--ui-every", type=int, default=0, help="every Nth decision through the Prefect UI")
    parser.add_argument("--postgres", action="store_true", help="runs and state in PostgreSQL (crisis up --postgres)")
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith(("PREFECT_", "CRISIS_"))]:
        del os.environ[key]
    with tempfile.TemporaryDirectory(prefix="bench-approval-") as tmp, SmtpReceiver() as smtp:
        os.environ.update({"CRISIS_SMTP_HOST": smtp.host, "CRISIS_SMTP_PORT": str(smtp.port)})
        project = make_project(Path(tmp) / "project", {PLAYBOOK_ID: PLAYBOOK})
        stack = Stack(project, port=args.port, database=LOCAL if args.postgres else "")
        server.up(stack, say)
        user, _, password = (stack.credential() or "").partition(":")
        stop, failures = threading.Event(), []
        probed: list[float] = []  # the API's answer times to the probe
        try:
            with httpx.Client(base_url=stack.api_url, auth=(user, password), timeout=90) as api, \
                    contextlib.ExitStack() as closing:
                deployment_id = api.get("/deployments/name/phase-communication/communication").json()["id"]
                if args.monitor_every:
                    threading.Thread(target=monitor_runs, args=(api, args.monitor_every, stop), daemon=True).start()
                threading.Thread(target=probe, args=(stack, stop, probed), daemon=True).start()
                ui = _browser(closing, stack, Path(tmp)) if args.ui_every else None
                cycles = []
                for n in range(args.cycles):
                    through_ui = bool(args.ui_every) and (n + 1) % args.ui_every == 0
                    try:
                        cycles.append(one_cycle(api, deployment_id, smtp, ui if through_ui else None))
                    except Exception as exc:  # a decision that did not go through: counted, and the bench goes on
                        failures.append(f"cycle {n + 1}: {type(exc).__name__}: {str(exc)[:300]}")
                        say(failures[-1])
                        continue
                    say(f"cycle {n + 1}/{args.cycles}: " + ", ".join(f"{k} {v:.2f} s" for k, v in cycles[-1].items()))
        finally:
            stop.set()
            server.down(stack, say)
            log = (stack.state_dir / "logs" / "server.log").read_text(errors="replace")
            kept = Path(tempfile.gettempdir()) / f"bench-approval-logs-{datetime.now():%Y%m%d-%H%M%S}"
            shutil.copytree(stack.state_dir / "logs", kept)  # the stack's logs outlive its temporary folder
            for name in ("postgres/server.log", "postgres/postgres.log"):
                if (stack.state_dir / name).is_file():
                    shutil.copy2(stack.state_dir / name, kept / name.replace("/", "-"))
            say(f"the stack's logs: {kept}")
    locked = sum(log.count(sign) for sign in LOCK_ERRORS)
    unavailable = log.count('" 503')
    stalls = [t for t in probed if t > 1.0]
    print(f"backend: {'PostgreSQL' if args.postgres else 'SQLite'}; decisions: {len(cycles)} recorded "
          f"({sum('via_ui' in c for c in cycles)} through the UI), {len(failures)} failed; server log: {locked} lock "
          f"errors, {unavailable} answers 503; API probe: {len(probed)} answers, {len(stalls)} over 1 s, slowest "
          f"{max(probed, default=float('nan')):.2f} s")
    result = {key: summary([c[key] for c in cycles if key in c]) for key in ("open_to_notified", "post_to_continue",
                                                                              "post_to_page")}
    result["failures"] = failures  # type: ignore[assignment]
    result["database_locked"] = locked  # type: ignore[assignment]
    result["api_probe"] = summary(probed)
    print("| measure | n | p50 | p95 | max |\n|---|--:|--:|--:|--:|")
    for key, row in result.items():
        if not isinstance(row, dict):
            continue
        print(f"| {key} | {row['n']} | {row['p50']:.2f} s | {row['p95']:.2f} s | {row['max']:.2f} s |")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
