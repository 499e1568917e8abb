"""Exactly-once with two Prefect workers racing (issue 16): a stack on PostgreSQL (its runs, and the project's state
with the outbox, in one database), and a second `prefect worker` pulling the same work pool as the stack's own.

Each round, two people press Run on the communication phase at once; the approver approves one pack and rejects
the other, through the links of the e-mails they got. The webhook and SMTP receivers on 127.0.0.1 sometimes answer
503 / 451, and the flow-run process holding a round's run is SIGKILLed at random: when a message reaches a receiver
(killed right after the send, before it hears the answer), or some seconds after the decision (anywhere in the
replay or the release). Whichever worker is free picks each run up; a run that crashed or failed is retried as the
UI's Retry does, until it completes (kills stop after a few attempts).

Over all rounds: no receiver got any message twice, nothing of a rejected pack went out, and every message of an
approved pack ended delivered exactly once, or `in_doubt` (killed mid-send: delivered at most once, for a person to
settle) or `failed` (never delivered). The rounds are seeded (CRISIS_FAULT_SEED); where a kill lands is not.
"""

from __future__ import annotations

import html
import os
import random
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from crisiscomms.communication import release
from crisiscomms.stack import server
from tests.unit.receivers import Answer, Delivery, HttpReceiver, SmtpReceiver

from .conftest import copy_project, running_stack
from .helpers import deployment, flow_run_processes, tail, ui_retry, wait_final

pytestmark = [pytest.mark.server, pytest.mark.own_backend]

SEED = int(os.environ.get("CRISIS_FAULT_SEED", "20261204"))
ROUNDS = 5
KILLS_UNTIL = 2  # attempts of a run after this one are never killed: it must be able to finish
MAX_ATTEMPTS = 6
PLAYBOOK_ID = "deux-workers"
PLAYBOOK = """\
id: deux-workers
version: 1.0.0
title: Deux workers — exactly once
language: fr
team:
  communication:
    title: Communication
    members: [{name: Claire Martin, email: claire@essai.example}]
audiences:
  clients: {title: Clients, kind: public, default: true}
channels:
  hook: {kind: webhook, title: Webhook, url_env: CRISIS_TWO_WORKERS_HOOK}
  mail: {kind: email, title: Presse, to: [presse@essai.example]}
communication:
  organisation: {name: Essai}
  facts: {subject: Produit de test, summary: Point de test., known: [Un lot est concerné], next_update: 1h}
  messages:
    - {kind: holding_statement, audiences: [clients], channels: [hook, mail]}
    - {kind: update, audiences: [clients], channels: [hook, mail]}
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


class Killer:
    """SIGKILLs the flow-run processes of the current round's runs (found by their PREFECT__FLOW_RUN_ID)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.runs, self.armed, self.kills = rng, set[str](), False, 0
        self._lock = threading.Lock()

    def on_send(self, delivery: Delivery) -> None:
        if not delivery.key.startswith("approval-") and self.rng.random() < 0.35:
            self.kill()

    def kill(self, runs: set[str] | None = None) -> None:
        """Kill the processes of these runs (the current round's by default), if kills are on."""
        with self._lock:
            if not self.armed:
                return
            for pid in flow_run_processes(self.runs if runs is None else runs):
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.kills += 1
                except ProcessLookupError:
                    pass


def _faults(rng: random.Random, refused: int) -> Any:
    """A receiver's answers: mostly accepted, sometimes refused for now (`refused`: 503 or 451); the approvers'
    e-mails always get through."""
    def answer(delivery: Delivery) -> Answer:
        if delivery.key.startswith("approval-") or rng.random() > 0.15:
            return Answer(200 if refused == 503 else 250)
        return Answer(refused)
    return answer


def _answer_by_link(delivery: Delivery, decision: str) -> str:
    """The decision given on the approver page the e-mail links to; the pack's hash the e-mail names."""
    text = delivery.text
    link = re.search(r"https?://\S+/approve/\S+", text).group(0)  # type: ignore[union-attr]
    pack_hash = re.search(r"SHA-256\)\s*:\s*([0-9a-f]{64})", text).group(1)  # type: ignore[union-attr]
    page = httpx.get(link, timeout=60)
    token = html.unescape(re.search(r'name="csrf" value="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    comment = "" if decision == "approve" else "Pas ce texte."
    answer = httpx.post(link, data={"decision": decision, "comment": comment, "csrf": token}, timeout=120)
    assert "Recorded." in answer.text, answer.text[-1500:]
    return pack_hash


def _wait_requests(smtp: SmtpReceiver, seen: int, count: int, log: Path, wait: float = 180) -> list[Delivery]:
    deadline = time.monotonic() + wait
    while True:
        requests = [d for d in smtp.deliveries if d.key.startswith("approval-")]
        if len(requests) >= seen + count:
            return requests[seen:seen + count]
        assert time.monotonic() < deadline, f"no approval e-mail after {wait:.0f} s\n{tail(log)}"
        time.sleep(0.1)


def _until_done(api: httpx.Client, run_id: str, killer: Killer, log: Path, wait: float = 300) -> dict[str, Any]:
    """The run driven to an end as a person would: retried (the UI's Retry) while it crashed or failed (but for
    its pack being rejected)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run = wait_final(api, run_id, log, wait)
        if run["state_type"] == "COMPLETED" or "not approved (rejected)" in (run["state"]["message"] or ""):
            return run  # released; or its pack rejected: the run fails on purpose, a retry would change nothing
        killer.armed = attempt < KILLS_UNTIL
        ui_retry(api, run_id)
    raise AssertionError(f"run {run_id} did not complete in {MAX_ATTEMPTS} attempts: {run['state']}\n{tail(log)}")


def test_two_workers_on_postgresql_send_each_approved_message_once_and_nothing_rejected(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    killer = Killer(random.Random(SEED + 1))
    root = copy_project(tmp_path / "project")
    (root / "playbooks" / f"{PLAYBOOK_ID}.yaml").write_text(PLAYBOOK, encoding="utf-8")
    with HttpReceiver() as hook, SmtpReceiver() as smtp:
        hook.answer, smtp.answer = _faults(random.Random(SEED + 2), 503), _faults(random.Random(SEED + 3), 451)
        hook.on_receive = smtp.on_receive = killer.on_send
        env = {"CRISIS_SMTP_HOST": smtp.host, "CRISIS_SMTP_PORT": str(smtp.port), "CRISIS_TWO_WORKERS_HOOK": hook.url}
        with running_stack(root, env, postgres=True) as (stack, api):
            server.spawn(stack, "worker-2", server.prefect_command("worker", "start", "--pool", server.WORK_POOL,
                                                                  "--name", "crisis-worker-2"))
            log = stack.state_dir / "logs" / "worker.log"
            approved, rejected, every_run = set[str](), set[str](), list[str]()
            try:
                communication = deployment(api, "phase-communication", "communication")["id"]
                for round_ in range(ROUNDS):
                    runs = [api.post(f"/deployments/{communication}/create_flow_run",
                                     json={"state": {"type": "SCHEDULED"}, "parameters": {"playbook": PLAYBOOK_ID}}
                                     ).json()["id"] for _ in range(2)]
                    killer.runs, killer.armed = set(runs), True
                    requests = _wait_requests(smtp, 2 * round_, 2, log)
                    decisions = ["approve", "reject"] if rng.random() < 0.5 else ["reject", "approve"]
                    for request, decision in zip(requests, decisions, strict=True):
                        (approved if decision == "approve" else rejected).add(_answer_by_link(request, decision))
                    # anywhere in the replay or the release of this round's runs (never a later round's)
                    timer = threading.Timer(rng.uniform(1, 12), killer.kill, args=(set(runs),))
                    timer.daemon = True
                    timer.start()
                    ends = [_until_done(api, run_id, killer, log)["state_type"] for run_id in runs]
                    assert sorted(ends) == ["COMPLETED", "FAILED"], ends  # one approved, one rejected
                    every_run += runs
                ran_on = _workers_of(stack, every_run)
            finally:
                killer.armed = False
                server.down_one(stack, "worker-2")
            rows = release.open_outbox(root).rows()
            hook.wait_idle()
            smtp.wait_idle()
    delivered = hook.counts() + Counter(d.key for d in smtp.deliveries if not d.key.startswith("approval-"))

    assert len(approved) == len(rejected) == ROUNDS
    assert killer.kills >= 1, "the faults did not bite: no kill landed"
    assert all(ran_on.values()), ran_on  # both workers took runs
    twice = {key: n for key, n in delivered.items() if n > 1}
    assert not twice, f"delivered more than once: {twice}"
    by_key = {row["key"]: row for row in rows}
    assert set(delivered) <= set(by_key), "a delivery the outbox does not know"
    assert not [row for row in rows if row["pack"] in rejected], "a rejected pack reached the outbox"
    assert {row["pack"] for row in rows} == approved  # every approved pack was released
    assert len(rows) == 4 * ROUNDS  # two messages on two channels per pack
    outcomes = Counter(row["status"] for row in rows)
    for row in rows:
        expected = {"sent": 1, "failed": 0}.get(row["status"])
        if row["status"] == "sending":  # in doubt: killed mid-send, delivered at most once
            assert delivered[row["key"]] <= 1
        else:
            assert delivered[row["key"]] == expected, (row, outcomes)
    print(f"two workers, {ROUNDS} rounds: {killer.kills} kills, outbox {dict(outcomes)}, runs per worker "
          f"{dict(ran_on)}")


def _workers_of(stack: server.Stack, run_ids: list[str]) -> Counter[str]:
    """How many of the runs each worker took at some attempt (its log names each run it submits)."""
    taken = Counter[str]()
    for name in ("worker", "worker-2"):
        log = (stack.state_dir / "logs" / f"{name}.log").read_text(errors="replace")
        taken[name] = sum(run_id in log for run_id in run_ids)
    return taken
