"""`crisis monitor` killed with SIGKILL at random points (seeded): no `--out`, `--alerts` or `--quarantine` is ever
left half-written, and a rerun writes every record of the input exactly once.

SIGKILL cannot be caught: what makes a kill safe is that the outputs go to temporary files renamed onto their
targets only once the whole file is read (offline.py). Half the kills fall anywhere in a run, half between the
moment an unkilled run began writing and its end, where the outputs are written and renamed. A small input and a
playbook without entity extraction keep each run to a few seconds; `--batch 20` spreads the writing over the
run's last second or so."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRISIS = str(Path(sys.executable).parent / "crisis")
SEED = 14
KILLS = 20
PLAYBOOK = """\
id: veille
version: 1.0.0
title: Veille (kill test)
monitoring:
  languages: [fr, en]
  entities: false
  watch:
    any: {brands: [Renfe]}
    en: {keywords: [train, crash]}
  detection: {window: 1m}
phases: {}
"""


def _project(tmp: Path) -> Path:
    project = tmp / "project"
    (project / "playbooks").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "audiences" / "prefect.yaml", project / "prefect.yaml")
    (project / "playbooks" / "veille.yaml").write_text(PLAYBOOK, encoding="utf-8")
    return project


def _input(tmp: Path) -> tuple[Path, list[str], list[int]]:
    """200 real posts and 3 lines that must be quarantined; the posts' ids and the bad lines' numbers."""
    lines = (ROOT / "data" / "crisislex" / "2013_Spain_train_crash.jsonl").read_text(encoding="utf-8").splitlines()
    records = [{k: v for k, v in json.loads(line).items() if k != "gold"} for line in lines[:200]]  # never input
    text = [json.dumps(record) for record in records]
    bad = {50: "{broken", 120: json.dumps({"id": "no-text", "created_at": "2013-07-24T20:00:00Z"}),
           180: json.dumps(records[0])}  # the last one: a duplicate id
    for number, line in sorted(bad.items()):
        text.insert(number - 1, line)
    source = tmp / "spain.jsonl"
    source.write_text("\n".join(text) + "\n", encoding="utf-8")
    return source, [str(record["id"]) for record in records], sorted(bad)


def test_kill_9_at_random_points_never_leaves_a_partial_output_and_a_rerun_writes_each_record_once(
        tmp_path: Path) -> None:
    project, (source, ids, bad_lines) = _project(tmp_path), _input(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    outputs = {name: work / f"{name}.jsonl" for name in ("out", "alerts", "quarantine")}
    command = [CRISIS, "monitor", "veille", "--input", str(source), "--processes", "1", "--batch", "20",
               *(arg for name, path in outputs.items() for arg in (f"--{name}", str(path)))]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}

    writing, duration = _timeline(command, project, env, work)  # where the kills fall, not a requirement
    complete = {name: path.read_bytes() for name, path in outputs.items()}

    rng, kills, attempts, landed = random.Random(SEED), 0, 0, Counter[str]()
    while kills < KILLS:
        attempts += 1
        assert attempts <= 4 * KILLS, f"only {kills} of {attempts} runs were still going when killed"
        for path in outputs.values():
            path.unlink(missing_ok=True)  # whatever is there after the kill, this run wrote
        late = kills % 2 == 1
        delay = rng.uniform(writing * duration, 1.05 * duration) if late else rng.uniform(0, duration)
        launched = time.monotonic()
        running = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            running.wait(timeout=delay)
            duration = time.monotonic() - launched  # it finished first: the machine is faster than it was
        except subprocess.TimeoutExpired:
            running.send_signal(signal.SIGKILL)
            running.wait(timeout=60)
        present = [name for name, path in outputs.items() if path.exists()]
        for name in present:
            assert outputs[name].read_bytes() == complete[name], f"a kill {delay:.2f} s in left a partial --{name}"
        if running.returncode == -signal.SIGKILL:
            kills += 1
            landed[_moment(work, running.pid, present)] += 1
    print(f"\n{kills} kills in {attempts} runs (a run: {duration:.1f} s, writing from {writing:.0%} of it), by what "
          f"they left: {dict(landed)}")

    rerun = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert sorted(p.name for p in work.iterdir()) == ["alerts.jsonl", "out.jsonl", "quarantine.jsonl"]
    total = len(ids) + len(bad_lines)
    assert f"read {total} = processed {len(ids)} + quarantined {len(bad_lines)}" in rerun.stderr
    enriched = [json.loads(line)["id"] for line in outputs["out"].read_text(encoding="utf-8").splitlines()]
    assert enriched == ids and len(set(enriched)) == len(enriched)
    quarantined = [json.loads(line)["position"] for line in outputs["quarantine"].read_text().splitlines()]
    assert quarantined == [f"{source}:{number}" for number in bad_lines]
    assert {name: path.read_bytes() for name, path in outputs.items()} == complete


def _moment(work: Path, pid: int, present: list[str]) -> str:
    """Where in its run a killed process was, as the files it left show."""
    if present:
        return f"after {len(present)} of 3 renames"
    parts = list(work.glob(f".*.{pid}.part"))
    if not parts:
        return "before its temporary files"
    return "while writing" if any(part.stat().st_size for part in parts) else "temporary files still empty"


def _timeline(command: list[str], project: Path, env: dict[str, str], work: Path) -> tuple[float, float]:
    """One run nobody kills: the share of it gone when it began writing its output, and how long it took."""
    started, writing = time.monotonic(), None
    running = subprocess.Popen(command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    while running.poll() is None:
        if writing is None and any(part.stat().st_size for part in work.glob(".out.jsonl.*.part")):
            writing = time.monotonic() - started
        time.sleep(0.01)
    ended = time.monotonic() - started
    assert running.returncode == 0, running.communicate()[1][-3000:]
    return (writing / ended if writing is not None else 0.5), ended
