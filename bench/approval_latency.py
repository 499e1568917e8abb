"""Approval latency (issue 11): a stage opens → its approver's e-mail is delivered; the decision is posted on the
approver page → the flow continues.

    .venv/bin/python bench/approval_latency.py [--cycles 20] [--port PORT]

Everything is real and local: a copy of this project in a temporary folder with a bench playbook (one stage, one
approver notified by e-mail), started with `crisis up` as a user would (the gateway: Prefect's server on SQLite and
the approver page; a `process` worker; the deployments), an SMTP server (aiosmtpd) on 127.0.0.1. Each cycle starts
the communication phase through its deployment, as the UI's Run form does; the run is suspended while it waits (no
process), so the figures include what durability costs: a worker picking the resumed run up and replaying it.

    (a) open → notified  = the e-mail's arrival at the SMTP server − the `approval.open` task run's start
    (b) POST → continues = the `approval.judge` task run's start (the flow has the answer) − the POST being sent
    (c) POST → page says = the approver page's answer (Recorded / Refused) − the POST being sent

Server times come from the Prefect API (wall clock, same machine).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import httpx  # noqa: E402

from crisiscomms import server  # noqa: E402
from crisiscomms.server import Stack  # noqa: E402
from tests.unit.receivers import SmtpReceiver  # noqa: E402

PLAYBOOK_ID = "bench-approval"
ITEMS = ("prefect.yaml", "playbooks", "templates", "flows", "tasks", "data")
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


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def make_project(folder: Path) -> Path:
    for name in ITEMS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__", ".crisis"))
        else:
            shutil.copy2(source, folder / name)
    (folder / "playbooks" / f"{PLAYBOOK_ID}.yaml").write_text(PLAYBOOK, encoding="utf-8")
    return folder


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


def one_cycle(api: httpx.Client, deployment_id: str, smtp: SmtpReceiver) -> dict[str, float]:
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


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--port", type=int, default=4290)
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith(("PREFECT_", "CRISIS_"))]:
        del os.environ[key]
    with tempfile.TemporaryDirectory(prefix="bench-approval-") as tmp, SmtpReceiver() as smtp:
        os.environ.update({"CRISIS_SMTP_HOST": smtp.host, "CRISIS_SMTP_PORT": str(smtp.port)})
        stack = Stack(make_project(Path(tmp) / "project"), port=args.port)
        server.up(stack, say)
        user, _, password = (stack.credential() or "").partition(":")
        try:
            with httpx.Client(base_url=stack.api_url, auth=(user, password), timeout=90) as api:
                deployment_id = api.get("/deployments/name/phase-communication/communication").json()["id"]
                cycles = []
                for n in range(args.cycles):
                    cycles.append(one_cycle(api, deployment_id, smtp))
                    say(f"cycle {n + 1}/{args.cycles}: " + ", ".join(f"{k} {v:.2f} s" for k, v in cycles[-1].items()))
        finally:
            server.down(stack, say)
    result = {key: summary([c[key] for c in cycles]) for key in cycles[0]}
    print("| measure | n | p50 | p95 | max |\n|---|--:|--:|--:|--:|")
    for key, row in result.items():
        print(f"| {key} | {row['n']} | {row['p50']:.2f} s | {row['p95']:.2f} s | {row['max']:.2f} s |")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
