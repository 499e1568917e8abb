"""Rehearsals (`tests/rehearsals/<playbook>.yaml`): a shipped playbook's drill on a shorter replay, and what it must
show — the post-mortem's timeline, the messages sent, the targets met. CI runs every one
(tests/integration/test_rehearsals.py); by hand, in this project (the drills land in `.crisis/drills/`):

    .venv/bin/python -m tests.rehearse tests/rehearsals/fuite-de-donnees.yaml [more.yaml …] [--jobs 2]

A rehearsal file:

    drill: drills/<playbook>.yaml          # the shipped drill
    replay: {curve: 2013_Spain_train_crash, texts: drills/<playbook>.texts.yaml, before: 30, after: 100,
             peak: 40, calm: 0.8}          # scripts/drill_replay.py's arguments (the curve by its event's name)
    with: {team: {…}, injects: […]}        # drill keys replaced for the rehearsal, each whole
    expect:
      timeline: [alert, assessment, pack, release, all_clear]   # post-mortem timeline kinds, in order of first sight
      sent: [holding_statement/clients/fr, press_release/media/en]   # kind/audience/language, sent at least once
      targets: all                         # every target of the drill's score met
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crisiscomms.stack.drills.score import score_file_in

CHECKOUT = Path(__file__).resolve().parents[1]
EXPECTED = {"timeline", "sent", "targets"}


@dataclass
class Rehearsal:
    name: str
    source: Path
    data: dict[str, Any]
    drill_file: str = ""  # relative to the project it runs in
    said: str = ""
    code: int | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def load(path: Path) -> Rehearsal:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not {"drill", "replay", "expect"} <= set(data):
        raise SystemExit(f"{path}: a rehearsal names its drill, replay and expect")
    unknown = set(data["expect"]) - EXPECTED
    if unknown:
        raise SystemExit(f"{path}: expect: unknown key(s) {', '.join(sorted(unknown))} (known: {sorted(EXPECTED)})")
    return Rehearsal(path.stem, path, data)


def prepare(rehearsal: Rehearsal, root: Path) -> None:
    """Write the rehearsal's replay and drill file under the project's `.crisis/rehearsals/<name>/`."""
    folder = root / ".crisis" / "rehearsals" / rehearsal.name
    folder.mkdir(parents=True, exist_ok=True)
    replay = dict(rehearsal.data["replay"])
    curve = root / "data" / "crisislex" / f"{replay.pop('curve')}-volume_per_minute.csv"
    command = [sys.executable, str(CHECKOUT / "scripts" / "drill_replay.py"), "--curve", str(curve),
               "--texts", str(root / replay.pop("texts")), "--out", str(folder / "replay.jsonl")]
    for key, value in replay.items():
        command += [f"--{key}", str(value)]
    subprocess.run(command, check=True, capture_output=True, text=True, cwd=root)
    drill = yaml.safe_load((root / rehearsal.data["drill"]).read_text(encoding="utf-8"))
    drill.update(rehearsal.data.get("with") or {})
    drill["replay"] = str((folder / "replay.jsonl").relative_to(root))
    (folder / "drill.yaml").write_text(yaml.safe_dump(drill, allow_unicode=True, sort_keys=False), encoding="utf-8")
    rehearsal.drill_file = str((folder / "drill.yaml").relative_to(root))


def run_all(rehearsals: list[Rehearsal], root: Path, env: dict[str, str], jobs: int | Callable[[], int] = 2,
            limit: float = 1800.0) -> None:
    """Every rehearsal's drill, in the order given, `jobs` at a time (a function: asked again each second, for a
    caller running drills of its own), each its own `crisis drill` process and stack."""
    waiting = list(rehearsals)
    running: dict[str, tuple[subprocess.Popen[str], float, Rehearsal]] = {}
    while waiting or running:
        while waiting and len(running) < (jobs() if callable(jobs) else jobs):
            rehearsal = waiting.pop(0)
            process = subprocess.Popen([sys.executable, "-m", "crisiscomms.stack.cli", "drill", "--drill",
                                        rehearsal.drill_file], cwd=root, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            running[rehearsal.name] = (process, time.monotonic(), rehearsal)
        time.sleep(1.0)
        for name, (process, started, rehearsal) in list(running.items()):
            if process.poll() is None and time.monotonic() - started < limit:
                continue
            rehearsal.said = _output(process)
            rehearsal.code, rehearsal.seconds = process.returncode, time.monotonic() - started
            del running[name]


def _output(process: subprocess.Popen[str], grace: float = 60.0) -> str:
    """What the drill said. One still running is over its limit: interrupted, so that it stops its stack (killed at
    once, its server and worker would run on and slow every drill after it); killed if still running after
    `grace` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        return process.communicate(timeout=grace)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()[0]


def check(rehearsal: Rehearsal) -> list[str]:
    """What the rehearsal expected and its drill did not show (empty: all held)."""
    score_file = score_file_in(rehearsal.said)
    if score_file is None:
        return [f"the drill ended without a score (exit {rehearsal.code}):\n{rehearsal.said[-3000:]}"]
    folder = score_file.parent
    score = json.loads((folder / "score.json").read_text(encoding="utf-8"))
    reviews = sorted((folder / "project" / ".crisis" / "reviews").glob("*/post-mortem.json"))
    if not reviews:
        return [f"no post-mortem: the crisis was not closed and reviewed ({folder})"]
    pm = json.loads(reviews[0].read_text(encoding="utf-8"))
    expect = rehearsal.data["expect"]
    return [*_timeline(pm, expect.get("timeline", [])), *_sent(pm, expect.get("sent", [])),
            *_targets(score, expect.get("targets"))]


def _timeline(pm: dict[str, Any], expected: list[str]) -> list[str]:
    firsts: list[str] = []
    for entry in pm["timeline"]:
        if entry["kind"] not in firsts:
            firsts.append(entry["kind"])
    position = 0
    for kind in expected:
        if kind not in firsts[position:]:
            return [f"timeline: expected {expected} in this order, first seen: {firsts}"]
        position = firsts.index(kind, position) + 1
    return []


def _sent(pm: dict[str, Any], expected: list[str]) -> list[str]:
    sent = {f"{m['kind']}/{m['audience']}/{m['language']}" for m in pm["sent"] if m["status"] == "sent"}
    missing = [name for name in expected if name not in sent]
    return [f"sent: never sent {', '.join(missing)} (sent: {', '.join(sorted(sent))})"] if missing else []


def _targets(score: dict[str, Any], expected: Any) -> list[str]:
    if expected != "all":
        return []
    missed = [f"{row['measure']}: {row['value']} (target {row['target']})" for row in score["rows"]
              if row["met"] is False]
    held = sum(row["met"] is not None for row in score["rows"])
    return [f"targets: missed {'; '.join(missed)}"] if missed or not held else []


def drill_env() -> dict[str, str]:
    """The caller's environment without its Prefect profile or state folder (the drill makes its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "CRISIS_STATE_DIR"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--jobs", type=int, default=1, help="drills at once (each runs its own stack)")
    args = parser.parse_args()
    rehearsals = [load(path) for path in args.files]
    for rehearsal in rehearsals:
        prepare(rehearsal, CHECKOUT)
    run_all(rehearsals, CHECKOUT, drill_env(), jobs=args.jobs)
    failed = 0
    for rehearsal in rehearsals:
        problems = check(rehearsal)
        failed += bool(problems)
        verdict = "held" if not problems else "FAILED"
        print(f"{rehearsal.name}: {verdict} in {rehearsal.seconds:.0f} s")
        for problem in problems:
            print(f"  - {problem}")
        score = score_file_in(rehearsal.said)
        if score:
            print(f"  score: {score}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
