"""Fault injection: 100 seeded releases against real HTTP and SMTP receivers on 127.0.0.1 and a file outbox, with
HTTP 500/503, refused connections, SMTP 451/554, slow receivers, and the releasing process SIGKILLed at random
moments around the send; each release is run again, as a retried flow would be, until it stops making progress.

Over all runs: no receiver gets any message twice, nothing outside the approved packs is delivered (tampered
packs: nothing at all), and every message ends delivered exactly once, or reported `failed` (never delivered) or
`in_doubt` (delivered at most once). The plan of each run is seeded (CRISIS_FAULT_SEED); the moment a kill lands
is not (threads and sockets), which is the point.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.communication import channels, release
from tests.forking import Forked
from tests.unit.receivers import Answer, Delivery, HttpReceiver, SmtpReceiver, free_port
from tests.unit.release_packs import TEXT, pack, playbook, variant

RUNS = 100
SEED = int(os.environ.get("CRISIS_FAULT_SEED", "20260312"))
TIMEOUT = 0.15  # the senders' timeout in these runs: a "too slow" receiver answers after it
MAX_ATTEMPTS = 8
KILLS_UNTIL = 4  # attempts after this one are never killed: the release must be able to finish

PLAYBOOK = playbook({"hook": {"kind": "webhook", "url_env": "CRISIS_FAULT_HOOK"},
                     "mail": {"kind": "email", "to": ["presse@exemple.fr"]},
                     "page": {"kind": "website"}})
CHANNELS = ("hook", "hook", "mail", "mail", "page", "page")


@dataclass
class Run:
    number: int
    folder: Path
    rng: random.Random
    tampered: bool
    approved: dict[str, Any] = field(init=False)
    given: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        variants = [variant(f"m{i}.clients.{channel}.fr", channel, f"[{self.number}.{i}] {TEXT}")
                    for i, channel in enumerate(CHANNELS)]
        self.approved = pack(*variants)
        self.given = self.approved
        if self.tampered:  # the pack file edited after approval: its hash no longer matches
            edited = [dict(v) for v in self.approved["variants"]]
            edited[self.rng.randrange(len(edited))]["text"] += "Phrase ajoutée après l'approbation.\n"
            self.given = {**self.approved, "variants": edited}

    @property
    def texts(self) -> dict[str, tuple[str, str]]:
        """Idempotency key → (channel, approved text) of every message of the pack."""
        return {release.idempotency_key(self.approved["hash"], v["id"]): (v["channel"], v["text"])
                for v in self.approved["variants"]}


@dataclass
class Tally:
    runs: int = 0
    tampered: int = 0
    refused: int = 0
    messages: int = 0
    attempts: int = 0
    armed: int = 0  # kills planned; a timer may fire after its release ended, so fewer land
    kills: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    in_doubt_delivered: int = 0
    problems: list[str] = field(default_factory=list)


def answers(rng: random.Random, first: tuple[int, float], second: int, ok: int) -> Callable[[Delivery], Answer]:
    """Seeded receiver answers: `first` code (up to its share), then `second` (up to 0.2), then `ok`, slow
    (beyond the sender's timeout: in doubt) up to 0.25, a little slow up to 0.35."""
    def answer(delivery: Delivery) -> Answer:
        roll = rng.random()
        return (Answer(first[0]) if roll < first[1] else Answer(second) if roll < 0.2 else
                Answer(ok, delay=2 * TIMEOUT) if roll < 0.25 else Answer(ok, delay=TIMEOUT / 4) if roll < 0.35
                else Answer(ok))
    return answer


def http_answer(rng: random.Random) -> Callable[[Delivery], Answer]:
    return answers(rng, (503, 0.12), 500, 200)


def smtp_answer(rng: random.Random) -> Callable[[Delivery], Answer]:
    return answers(rng, (451, 0.15), 554, 250)


def release_in_child(run: Run, env: dict[str, str], attempt: int, racer: int = 0) -> Forked:
    """The releasing process (killed by a timer or by a receiver when a message arrives)."""
    return Forked(release_once, run.folder, run.given, run.approved["hash"], env, f"{attempt}-{racer}")


def release_once(folder: Path, given: dict[str, Any], approved_hash: str, env: dict[str, str], name: str) -> None:
    """One release of the pack, as a worker's release task: its receipts (or its refusal) written to
    `result-<name>.json`, a crash's traceback to `crash-<name>.txt`."""
    try:
        os.environ.update(env)
        channels.TIMEOUT = TIMEOUT
        outbox = release.open_outbox(folder)  # the state of the test's backend (each run its own packs)
        try:
            receipts = release.release(PLAYBOOK, given, approved_hash, outbox, folder / "outbox",
                                       sleep=lambda delay: time.sleep(delay / 50))
            result: Any = [r.__dict__ for r in receipts]
        except release.ReleaseRefused as exc:
            result = {"refused": str(exc)}
        written = folder / f"result-{name}.json"
        written.with_suffix(".tmp").write_text(json.dumps(result))
        written.with_suffix(".tmp").replace(written)
    except BaseException:
        (folder / f"crash-{name}.txt").write_text(traceback.format_exc())
        raise


def arm_kill(child: Forked, run: Run, receivers: tuple[HttpReceiver, SmtpReceiver], attempt: int) -> bool:
    """Plan a kill of `child` for this attempt, or not (seeded); whether it was planned."""
    if attempt > KILLS_UNTIL or run.rng.random() > (0.7 if attempt == 1 else 0.4):
        return False
    if run.rng.random() < 0.5:  # at a moment chosen in advance
        threading.Timer(run.rng.uniform(0, 0.2), child.kill).start()
        return True
    nth, lag, seen = run.rng.randint(1, 4), run.rng.uniform(0, 0.01), [0]

    def on_receive(delivery: Delivery) -> None:  # as a message arrives: before, while or after it is answered
        seen[0] += 1
        if seen[0] == nth:
            threading.Timer(lag, child.kill).start()

    for receiver in receivers:
        receiver.on_receive = on_receive
    return True


def release_until_no_progress(run: Run, receivers: tuple[HttpReceiver, SmtpReceiver], tally: Tally,
                              racers: int = 1) -> list[dict[str, Any]] | dict[str, str]:
    """Each attempt: `racers` releases of the pack at once (two workers given the same run), one of them perhaps
    killed; again until an attempt sends nothing more. The result of the last attempt's first racer to finish."""
    hook, smtp = receivers
    last: list[dict[str, Any]] | dict[str, str] = {}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        refused = run.rng.random() < 0.1  # connection refused, this attempt only
        env = {"CRISIS_FAULT_HOOK": f"http://127.0.0.1:{free_port()}/hook" if refused else hook.url,
               "CRISIS_SMTP_HOST": smtp.host, "CRISIS_SMTP_FROM": "crise@exemple.fr",
               "CRISIS_SMTP_PORT": str(free_port() if run.rng.random() < 0.1 else smtp.port)}
        children = [release_in_child(run, env, attempt, racer) for racer in range(racers)]
        tally.armed += arm_kill(children[run.rng.randrange(racers)], run, receivers, attempt)
        statuses = [child.wait() for child in children]
        hook.on_receive = smtp.on_receive = None
        hook.wait_idle(), smtp.wait_idle()
        tally.attempts += racers
        results = []
        for racer, (child, status) in enumerate(zip(children, statuses, strict=True)):
            if child.killed and status == -signal.SIGKILL:
                tally.kills += 1
                continue
            crash = run.folder / f"crash-{attempt}-{racer}.txt"
            assert status == 0, f"run {run.number}: the release ended with {status}\n" + (
                crash.read_text() if crash.exists() else "")
            results.append(json.loads((run.folder / f"result-{attempt}-{racer}.json").read_text()))
        if not results:
            continue
        last = results[0]
        if all(isinstance(r, dict) or not any(x["status"] == "sent" for x in r) for r in results):
            return last
    return last


def check_run(run: Run, result: list[dict[str, Any]] | dict[str, str], delivered: Counter[str],
              tally: Tally) -> None:
    texts = run.texts
    if run.tampered:
        leaked = [k for k in texts if delivered[k]] + [str(p) for p in (run.folder / "outbox").rglob("*.json")]
        if not isinstance(result, dict) or leaked:
            tally.problems.append(f"run {run.number}: tampered pack not refused ({result!r:.80}, {leaked})")
        tally.refused += isinstance(result, dict) and "is not the approved" in result.get("refused", "")
        return
    assert isinstance(result, list), f"run {run.number}: {result}"
    for receipt in result:
        channel, text = texts[receipt["key"]]
        copies = delivered[receipt["key"]]
        if channel == "page":
            copies = _file_copies(run, receipt["key"], text, tally)
        outcome = "delivered" if receipt["status"] in ("sent", "already_sent") else receipt["status"]
        tally.outcomes[outcome] += 1
        tally.in_doubt_delivered += outcome == "in_doubt" and copies == 1
        if (outcome, copies) not in (("delivered", 1), ("failed", 0), ("in_doubt", 0), ("in_doubt", 1)):
            tally.problems.append(f"run {run.number}: {receipt['message']} {outcome} but delivered {copies} times")
    tally.messages += len(result)


def _file_copies(run: Run, key: str, text: str, tally: Tally) -> int:
    file = run.folder / "outbox" / "page" / f"{key}.json"
    if file.is_file() and json.loads(file.read_text(encoding="utf-8"))["text"] != text:
        tally.problems.append(f"run {run.number}: {file.name} holds another text than the approved one")
    return int(file.is_file())


def check_receivers(runs: list[Run], receivers: tuple[HttpReceiver, SmtpReceiver], tally: Tally) -> None:
    approved = {key: text for run in runs if not run.tampered for key, (_, text) in run.texts.items()}
    hook, smtp = receivers
    for delivery in hook.deliveries:
        if approved.get(delivery.key) != _webhook_text(delivery):
            tally.problems.append(f"webhook got an unapproved message {delivery.key}: {delivery.body[:80]!r}")
    for delivery in smtp.deliveries:
        if approved.get(delivery.key) != delivery.text:
            tally.problems.append(f"SMTP got an unapproved message {delivery.key}")
    duplicates = [k for k, n in (hook.counts() + smtp.counts()).items() if n > 1]
    tally.problems += [f"delivered twice: {k}" for k in duplicates]


def _webhook_text(delivery: Delivery) -> str | None:
    """The text a webhook delivery carries; None for a body that is no JSON message (a problem to report, not a
    reason for the check itself to crash)."""
    try:
        return str(delivery.json["text"])
    except (ValueError, KeyError, TypeError):
        return None


@pytest.fixture  # fresh for each backend's run: the same seeded packs are sent again
def receivers() -> Iterator[tuple[HttpReceiver, SmtpReceiver]]:
    with HttpReceiver() as hook, SmtpReceiver() as smtp:
        yield hook, smtp


@pytest.mark.parametrize("racers", [1, 2], ids=["one-worker", "two-workers-racing"])
def test_a_hundred_releases_under_faults_and_kills_never_duplicate_nor_send_unapproved(
        tmp_path: Path, receivers: tuple[HttpReceiver, SmtpReceiver], capsys: pytest.CaptureFixture[str],
        state_backend: str, racers: int) -> None:
    hook, smtp = receivers
    tally, runs = Tally(), []
    started = time.monotonic()
    for number in range(RUNS):
        rng = random.Random(SEED + number)
        run = Run(number, tmp_path / f"run-{number}", rng, tampered=rng.random() < 0.08)
        run.folder.mkdir()
        hook.answer, smtp.answer = http_answer(random.Random(rng.random())), smtp_answer(random.Random(rng.random()))
        result = release_until_no_progress(run, receivers, tally, racers)
        check_run(run, result, hook.counts() + smtp.counts(), tally)
        tally.runs, tally.tampered = tally.runs + 1, tally.tampered + run.tampered
        runs.append(run)
    check_receivers(runs, receivers, tally)
    summary = (f"fault injection ({state_backend.split(':')[0]}, {racers} racing), seed {SEED}: {tally.runs} runs ({tally.tampered} with a tampered pack, {tally.refused} refused), "
               f"{tally.messages} messages: {tally.outcomes['delivered']} delivered once, "
               f"{tally.outcomes['failed']} failed (never delivered), {tally.outcomes['in_doubt']} in doubt "
               f"({tally.in_doubt_delivered} of them delivered once); {tally.attempts} releases, {tally.kills} "
               f"SIGKILLed of {tally.armed} kills planned; {len(tally.problems)} problems; {time.monotonic() - started:.1f} s")
    with capsys.disabled():
        sys.stdout.write(f"\n{summary}\n")
    assert tally.problems == [], "\n".join(tally.problems[:20])
    # The faults did happen, and so did releases. How many planned kills land depends on the machine's speed (a
    # timer may fire after its release ended): about half here (61 of 115, 67 of 133), 49 once on CI, where a
    # fixed 50 were asked; a quarter is enough to say they bit.
    assert tally.kills >= tally.armed // 4 and tally.outcomes["in_doubt"] > 0 and tally.outcomes["delivered"] > 0
