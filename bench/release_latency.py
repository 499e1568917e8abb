"""Release latency (issue 5, must-hold 5): an approval is resumed → the flow continues → every channel has it.

    .venv/bin/python bench/release_latency.py [--releases 100] [--poll 5] [--seed 5] [--think-max SECONDS]
    .venv/bin/python bench/release_latency.py --api-url http://127.0.0.1:PORT/api ...   # a server already up

Everything is real and local. Without `--api-url` the bench starts a `prefect server` on SQLite (its home in a
temporary folder, a port from the OS) and stops it at the end. An SMTP server (aiosmtpd) and an HTTP receiver on
127.0.0.1 (tests/unit/receivers.py) record when each message arrives. One flow run then performs N release
cycles, each the way the engine runs the approve → release steps (flows/engine.py `_run_step`):

    render_pack on a bench playbook (one webhook message, one e-mail message, a one-stage chain, pause_poll=--poll)
      ─▶ flows.approval.request_approval ─▶ flows.waiting.wait_for_form(Decision…, poll=pause_poll)
           resumer thread: sees the run PAUSED with its form, waits a random "think" time, then
           t_resume ─▶ prefect.flow_runs.resume_flow_run(run_id, run_input=Decision)   (what the Resume form does)
      ─▶ the pause returns: t_continue
      ─▶ task message.approve (the record) ─▶ task message.release (communication.release: SMTP + webhook)
      ─▶ t_delivered: when the later of the two receivers had its message (receiver side)

    (a) resume → continue   = t_continue − t_resume    bounded by the poll interval (target: ≤ pause_poll, 5 s max)
    (b) continue → delivered = t_delivered − t_continue  target p95 < 1 s

The paused flow reads its state every `pause_poll` seconds, so a resume at an arbitrary moment waits for the next
read: uniform in [0, poll] plus the read itself. A human answers at an arbitrary moment; the resumer imitates that
with a think time drawn uniformly in [0, --think-max) (default: one poll period, seeded) after the form appears,
which makes the resume's phase against the poll ticks uniform. With `--think-max 0` (an instant answer) (a) is
≈ poll every time. All times are `time.monotonic()` in this one process (flow, resumer, receivers).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # run from a checkout; flows/, tasks/ and tests/ import from the root

from crisiscomms.communication.messages import PackContext, render_pack  # noqa: E402
from crisiscomms.communication.release import idempotency_key  # noqa: E402
from crisiscomms.monitoring.store import state_dir  # noqa: E402
from crisiscomms.playbook.models import Playbook  # noqa: E402
from crisiscomms.playbook.steps import PackRecord  # noqa: E402
from crisiscomms.stack import server  # noqa: E402
from crisiscomms.stack.ports import free_port  # noqa: E402
from crisiscomms.stack.project import Project  # noqa: E402
from crisiscomms.stack.server import Stack  # noqa: E402
from tests.unit.receivers import HttpReceiver, SmtpReceiver  # noqa: E402

PLAYBOOK_ID = "bench-release"
WEBHOOK_ENV = "CRISIS_BENCH_WEBHOOK"
APPROVER = {"name": "Bench Approver", "link_receipt": "", "edits": ""}
FLOW_NAME = "bench-release-latency"
TARGET_B_P95 = 1.0  # seconds, (b)
MAX_POLL = 5  # seconds: (a) is bounded by the poll interval, which must not exceed this by default
RESUMER_POLL = 0.05  # how often the resumer looks for the paused run (an approver's screen refreshes too)

PLAYBOOK = """\
id: {id}
version: 1.0.0
title: Bench — release latency
language: fr
team:
  communication:
    title: Communication
    members: [{{name: {approver}}}]
audiences:
  clients: {{title: Clients, kind: public, default: true}}
  partenaires: {{title: Partenaires, kind: business}}
channels:
  hook: {{kind: webhook, title: Webhook, url_env: {webhook_env}}}
  mail: {{kind: email, title: Courriel, to: [partenaires@bench.example]}}
communication:
  organisation: {{name: Bench}}
  facts:
    subject: Produit de test
    summary: Point de situation de test.
    known: [Un lot est concerné]
    next_update: 1h
  messages:
    - {{kind: update, audiences: [clients], channels: [hook]}}
    - {{kind: update, audiences: [partenaires], channels: [mail]}}
  approval:
    default:
      - {{roles: [communication], timeout: {timeout}s}}
  pause_poll: {poll}s
phases:
  communication:
    steps:
      - {{id: pack, type: message.pack}}
      - {{id: approval, type: message.approve, pack: pack}}
      - {{id: release, type: message.release, approval: approval, pack: pack}}
"""


# ---- the temporary project ---------------------------------------------------------------------------------------

def make_project(folder: Path, poll: int) -> Path:
    """The checkout's templates and the bench playbook: what render_pack and message.release read."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "templates").symlink_to(ROOT / "templates", target_is_directory=True)  # read only
    (folder / "playbooks").mkdir()
    timeout = max(120, 20 * poll)  # a stuck resumer ends the cycle as timed_out instead of hanging the bench
    (folder / "playbooks" / f"{PLAYBOOK_ID}.yaml").write_text(
        PLAYBOOK.format(id=PLAYBOOK_ID, approver=APPROVER["name"], webhook_env=WEBHOOK_ENV, timeout=timeout,
                        poll=poll), encoding="utf-8")
    return folder


def write_pack(project: Project, playbook: Playbook, cycle: int, nonce: str) -> tuple[dict[str, Any], list[str]]:
    """A fresh pack (its own hash, so its own idempotency keys), kept where message.pack keeps it."""
    facts = playbook.communication.facts.model_copy(
        update={"summary": f"Point de situation de test n° {cycle + 1} ({nonce})."})
    pack = render_pack(playbook, project.templates_dir, PackContext(inputs={}, facts=facts))
    if pack.problems:
        raise RuntimeError("bench pack refused: " + "; ".join(pack.problems))
    folder = state_dir(project.root) / "packs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{playbook.id}-{pack.hash[:16]}.json"
    path.write_text(pack.model_dump_json(indent=1), encoding="utf-8")
    record = PackRecord(hash=pack.hash, variants=[v.id for v in pack.variants], problems=[], path=str(path),
                        next_update=pack.next_update).model_dump()
    return record, [idempotency_key(pack.hash, v.id) for v in pack.variants]


# ---- a Prefect server for the bench ------------------------------------------------------------------------------

def clean_environment() -> dict[str, str]:
    """This environment without a developer's Prefect profile, API or database (they must not leak in)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}


@contextmanager
def local_server(folder: Path) -> Iterator[str]:
    """`prefect server start` on SQLite under `folder`, on a free port; stopped (process group) on exit."""
    stack = Stack(folder, port=free_port())
    for name in ("prefect", "logs"):
        (stack.state_dir / name).mkdir(parents=True, exist_ok=True)
    env = {**clean_environment(), **{k: v for k, v in stack.env().items() if k.startswith("PREFECT_")}}
    log = stack.state_dir / "logs" / "server.log"
    started = time.monotonic()
    with log.open("ab") as output:
        process = subprocess.Popen(
            server.prefect_command("server", "start", "--host", stack.host, "--port", str(stack.port)),
            cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    stack.pid_file("server").write_text(str(process.pid))
    try:
        while not server.is_healthy(stack.api_url, timeout=1):
            if process.poll() is not None or time.monotonic() - started > 120:
                raise RuntimeError(f"Prefect server not healthy at {stack.api_url}:\n"
                                   f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        say(f"Prefect server (SQLite) up at {stack.api_url} in {time.monotonic() - started:.1f} s")
        yield stack.api_url
    finally:
        server.down(stack, say=say)  # SIGTERM to its process group, SIGKILL after 20 s
        process.wait(timeout=30)
        if server.is_healthy(stack.api_url, timeout=1):
            raise RuntimeError(f"the bench's Prefect server still answers at {stack.api_url}")


def use_api(api_url: str, home: Path) -> None:
    """Point this process's Prefect client at the server: before Prefect is imported (it reads settings then)."""
    if "prefect" in sys.modules:
        raise RuntimeError("Prefect was imported before the bench chose its API")
    credential = os.environ.get("PREFECT_API_AUTH_STRING")  # a secured stack's (`crisis up`)
    for key in [k for k in os.environ if k.startswith("PREFECT_")]:
        del os.environ[key]
    if credential:
        os.environ["PREFECT_API_AUTH_STRING"] = credential
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update({"PREFECT_API_URL": api_url, "PREFECT_HOME": str(home),
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                       # Every log line still goes to the API, as in the product; the terminal shows errors
                       # only: 100 cycles of INFO lines (and, on a server without the update-reminder
                       # deployment, one "no reminder scheduled" warning per release) would bury the results.
                       "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "ERROR"})


def prefect_handlers(kind: str) -> list[logging.Handler]:
    """Handlers of that class name on any logger Prefect configured."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    return [h for logger in loggers for h in logger.handlers if type(h).__name__ == kind]


# ---- the approver ------------------------------------------------------------------------------------------------

class Resumer(threading.Thread):
    """Answers each pause as an approver would: waits for the run to be PAUSED on that pause with its form
    saved, thinks, then resumes it through the API with an approving Decision."""

    def __init__(self, releases: int, think: Callable[[], float]) -> None:
        super().__init__(name="resumer", daemon=True)
        self.releases, self.think = releases, think
        self.run_id: Any = None
        self.started_run = threading.Event()
        self.times: dict[int, dict[str, float]] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            from prefect.client.orchestration import get_client
            from prefect.flow_runs import resume_flow_run

            if not self.started_run.wait(timeout=300):
                raise RuntimeError("the bench flow run never started")
            answered: set[str] = set()
            with get_client(sync_client=True) as client:
                for cycle in range(self.releases):
                    key, seen = self._wait_for_form(client, answered)
                    answered.add(key)
                    time.sleep(self.think())
                    resume = time.monotonic()
                    resume_flow_run(self.run_id, run_input={**APPROVER, "decision": "approve",
                                                            "comment": f"bench cycle {cycle + 1}"})
                    self.times[cycle] = {"seen": seen, "resume": resume, "recorded": time.monotonic()}
        except BaseException as exc:  # reported by the main thread, which would otherwise wait for a timeout
            self.error = exc

    def _wait_for_form(self, client: Any, answered: set[str]) -> tuple[str, float]:
        """The next pause (a key not answered yet) once its Resume form exists, and when it was seen."""
        from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            state = client.read_flow_run(self.run_id).state
            if state is not None and state.is_final():
                raise RuntimeError(f"the bench flow run ended while waiting for a pause: {state.type.value}")
            key = state.state_details.pause_key if state is not None and state.is_paused() else None
            if key and key not in answered:
                keyset = state.state_details.run_input_keyset or {}
                try:  # the form exists once the flow has saved the input's schema (just after pausing)
                    client.read_flow_run_input(self.run_id, keyset["schema"])
                    return key, time.monotonic()
                except (ObjectNotFound, PrefectHTTPStatusError, KeyError):
                    pass
            time.sleep(RESUMER_POLL)
        raise RuntimeError(f"no new pause within 300 s (answered: {len(answered)})")


def approval_id(cycle: int) -> str:
    # No underscore: flows.approval builds the pause key from the step id, and Prefect's run-input keys take
    # lowercase letters, digits and dashes only, so a message.approve id with "_" (StepId allows it) fails to pause.
    return f"approval{cycle:04d}"


# ---- the flow run ------------------------------------------------------------------------------------------------

def wait_for_deliveries(receivers: list[HttpReceiver | SmtpReceiver], keys: list[str],
                        timeout: float = 30.0) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        arrived = {d.key: d.at for r in receivers for d in list(r.deliveries) if d.key in keys}
        if len(arrived) == len(keys):
            return arrived
        if time.monotonic() > deadline:
            raise RuntimeError(f"not delivered within {timeout} s: {sorted(set(keys) - set(arrived))}")
        time.sleep(0.002)


def run_cycles(root: Path, releases: int, resumer: Resumer,
               receivers: list[HttpReceiver | SmtpReceiver]) -> tuple[str, list[dict[str, float]]]:
    """One flow run on the server performing every cycle; its id and each cycle's flow-side times."""
    from prefect import flow
    from prefect.context import get_run_context

    from crisiscomms.playbook.steps import MessageApprove, MessageRelease
    from flows.approval import request_approval
    from tasks.approval import record_approval
    from tasks.release import release_pack

    project = Project(root)
    frozen = project.freeze(PLAYBOOK_ID)
    playbook = frozen.playbook
    nonce = f"{time.time_ns():x}"  # packs never repeat across bench runs sharing one server

    def cycle(number: int) -> dict[str, float]:
        pack_id, release_id = f"pack_{number:04d}", f"release_{number:04d}"
        record, keys = write_pack(project, playbook, number, nonce)
        context = frozen.context("communication", {}, {pack_id: record})
        approve = MessageApprove(id=approval_id(number), type="message.approve", pack=pack_id)
        call = time.monotonic()
        decision = request_approval(approve, playbook, context, playbook.communication.pause_poll)
        resumed = time.monotonic()
        if decision.decision != "approved":
            raise RuntimeError(f"cycle {number + 1}: approval {decision.decision}, expected approved")
        # As flows/engine.py `_run_step`: the decision recorded in its task run, then the release task.
        recorded = record_approval.with_options(task_run_name=f"{playbook.id}:{approve.id}")(
            decision, return_state=True)
        step = MessageRelease(id=release_id, type="message.release", approval=approve.id, pack=pack_id)
        context = context.model_copy(update={"results": {pack_id: record, approve.id: recorded.result().model_dump()}})
        state = release_pack.with_options(task_run_name=f"{playbook.id}:{release_id}", retries=step.retries,
                                          retry_delay_seconds=2, timeout_seconds=step.timeout)(
            step, context, return_state=True)
        returned = time.monotonic()
        released = state.result()  # raises the task's error if it failed
        if released.status != "released":
            raise RuntimeError(f"cycle {number + 1}: release {released.status}: {released.receipts}")
        arrived = wait_for_deliveries(receivers, keys)
        return {"call": call, "continue": resumed, "returned": returned, "first": min(arrived.values()),
                "delivered": max(arrived.values())}

    @flow(name=FLOW_NAME)
    def release_cycles(count: int) -> list[dict[str, float]]:
        resumer.run_id = get_run_context().flow_run.id  # type: ignore[union-attr]
        resumer.started_run.set()
        return [cycle(number) for number in range(count)]

    times = release_cycles(releases)
    return str(resumer.run_id), times


# ---- measures ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Summary:
    p50: float
    p95: float
    max: float
    min: float
    mean: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Summary:
        return cls(percentile(values, 50), percentile(values, 95), max(values), min(values),
                   sum(values) / len(values), len(values))


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ks_uniform(values: list[float], width: float) -> float:
    """Kolmogorov–Smirnov distance between the values' distribution and uniform [0, width]."""
    ordered, n = sorted(values), len(values)
    expected = [min(max(v / width, 0.0), 1.0) for v in ordered]
    return max(max((i + 1) / n - e, e - i / n) for i, e in enumerate(expected))


MEASURES = {  # key: (label, from, to); times of the flow (call, continue, returned, first, delivered), resumer
    "a_resume_to_continue": ("(a) resume (approver's click) → flow continues", "resume", "continue"),
    "a_recorded_to_continue": ("(a) resume recorded (API answered) → flow continues", "recorded", "continue"),
    "b_continue_to_delivered": ("(b) flow continues → every channel delivered", "continue", "delivered"),
    "b_continue_to_first_delivery": ("(b′) flow continues → first delivery", "continue", "first"),
    "release_task_after_delivery": ("release task returned after last delivery", "delivered", "returned"),
    "resume_api_call": ("resume API call (read + POST /resume)", "resume", "recorded"),
    "pause_to_form": ("pause: request_approval called → paused, form visible", "call", "seen"),
    "approver_think": ("approver think time (drawn)", "seen", "resume"),
    "cycle": ("whole cycle: approval asked → delivered", "call", "delivered"),
}


def measure(api_url: str, releases: int, poll: int, think_max: float, seed: int, work: Path) -> dict[str, Any]:
    """The N cycles against the server at `api_url`; every measure's summary, ready for JSON."""
    use_api(api_url, work / "client-home")
    root = make_project(work / "project", poll)
    draw = random.Random(seed)
    resumer = Resumer(releases, lambda: draw.uniform(0, think_max))
    with HttpReceiver() as hook, SmtpReceiver() as smtp:
        os.environ.update({WEBHOOK_ENV: hook.url, "CRISIS_SMTP_HOST": smtp.host, "CRISIS_SMTP_PORT": str(smtp.port),
                           "CRISIS_STATE_DIR": str(root / ".crisis")})
        for unused in ("CRISIS_SMTP_USER", "CRISIS_SMTP_PASSWORD"):
            os.environ.pop(unused, None)
        resumer.start()
        started = time.monotonic()
        try:
            run_id, flow_times = run_cycles(root, releases, resumer, [hook, smtp])
        finally:
            for handler in prefect_handlers("APILogHandler"):
                handler.flush()  # the run's logs reach the server before it stops
            resumer.join(timeout=5)
            if resumer.error is not None:
                raise RuntimeError(f"resumer failed: {resumer.error!r}") from resumer.error
        elapsed = time.monotonic() - started
        duplicates = sum(count - 1 for r in (hook, smtp) for count in r.counts().values() if count > 1)
        deliveries = len(hook.deliveries) + len(smtp.deliveries)
    times = [{**flow_times[i], **resumer.times[i]} for i in range(releases)]
    summaries = {key: asdict(Summary.of([t[end] - t[start] for t in times]))
                 for key, (_, start, end) in MEASURES.items()}
    waits = {name: [t["continue"] - t[start] for t in times]
             for name, start in (("click", "resume"), ("recorded", "recorded"))}
    return {"bench": "release_latency", "releases": releases, "poll_s": poll, "think_max_s": think_max,
            "seed": seed, "cores": os.cpu_count(), "flow_run_id": run_id, "deliveries": deliveries,
            "duplicates": duplicates, "elapsed_s": round(elapsed, 1), "measures": summaries,
            "ks_uniform": {name: ks_uniform(values, poll) for name, values in waits.items()},
            "a_over_poll": {name: sum(value > poll for value in values) for name, values in waits.items()}}


# ---- report --------------------------------------------------------------------------------------------------------

def report(result: dict[str, Any], server_note: str) -> str:
    poll, measures = result["poll_s"], result["measures"]
    lines = [f"Release latency — {result['releases']} releases to local SMTP + HTTP, pause_poll {poll} s, "
             f"think time uniform [0, {result['think_max_s']:g}) s (seed {result['seed']}), "
             f"{result['cores']} cores, {server_note}", "",
             "| measure | p50 (s) | p95 (s) | max (s) | mean (s) | n |", "|---|--:|--:|--:|--:|--:|"]
    for key, (label, _, _) in MEASURES.items():
        s = measures[key]
        lines.append(f"| {label} | {s['p50']:.3f} | {s['p95']:.3f} | {s['max']:.3f} | {s['mean']:.3f} | {s['n']} |")
    a, b = measures["a_resume_to_continue"], measures["b_continue_to_delivered"]
    recorded = measures["a_recorded_to_continue"]
    lines += [
        "",
        f"(a) pause_poll = {poll} s (default and ceiling {MAX_POLL} s). From the click: max {a['max']:.3f} s; "
        f"from the recorded resume: max {recorded['max']:.3f} s; cycles above {poll} s: "
        f"{result['a_over_poll']['click']} from the click, {result['a_over_poll']['recorded']} from the record.",
        f"    A uniform [0, {poll}] wait gives p50 {poll / 2:.2f}, p95 {0.95 * poll:.2f}, mean {poll / 2:.2f}; "
        f"measured mean − {poll / 2:.2f} = {a['mean'] - poll / 2:+.3f} s from the click, "
        f"{recorded['mean'] - poll / 2:+.3f} s from the record; Kolmogorov–Smirnov distance to uniform "
        f"[0, {poll}]: {result['ks_uniform']['click']:.3f} (click), {result['ks_uniform']['recorded']:.3f} (record).",
        f"(b) p95 {b['p95']:.3f} s — target < {TARGET_B_P95:g} s: {'met' if b['p95'] < TARGET_B_P95 else 'NOT met'}.",
        f"{result['deliveries']} deliveries received, {result['duplicates']} duplicate(s); "
        f"{result['elapsed_s']} s for the flow run.",
    ]
    return "\n".join(lines)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--poll", type=int, default=3, help="the playbook's communication.pause_poll, seconds")
    parser.add_argument("--think-max", type=float, default=None,
                        help="approver think time drawn uniformly in [0, this) s; default: the poll interval")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--api-url", help="use this Prefect server instead of starting one")
    args = parser.parse_args(argv)
    if args.releases < 1 or args.poll < 1:
        parser.error("--releases and --poll must be at least 1")
    think_max = float(args.poll) if args.think_max is None else args.think_max
    with tempfile.TemporaryDirectory(prefix="crisis-release-bench-") as temporary:
        work = Path(temporary)
        if args.api_url:
            result = measure(args.api_url, args.releases, args.poll, think_max, args.seed, work)
            note = f"server {args.api_url}"
        else:
            with local_server(work / "server") as api_url:
                result = measure(api_url, args.releases, args.poll, think_max, args.seed, work)
            note = "own prefect server on SQLite (started and stopped by the bench)"
    print(report(result, note))
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
