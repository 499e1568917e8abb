"""`crisis monitor --processes 2`: the same output lines and alerts as one process, counts reconciled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRISIS = str(Path(sys.executable).parent / "crisis")


def _monitor(tmp: Path, source: Path, processes: int) -> tuple[str, list[str], list[str]]:
    out, alerts = tmp / f"out-{processes}.jsonl", tmp / f"alerts-{processes}.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([CRISIS, "monitor", "rappel-produit", "--input", str(source), "--out", str(out),
                           "--alerts", str(alerts), "--processes", str(processes)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr, out.read_text(encoding="utf-8").splitlines(), alerts.read_text(encoding="utf-8").splitlines()


def test_two_processes_write_what_one_process_writes(tmp_path: Path) -> None:
    lines = (ROOT / "data" / "crisislex" / "2013_Spain_train_crash.jsonl").read_text(encoding="utf-8").splitlines()
    records = [{k: v for k, v in json.loads(line).items() if k != "gold"} for line in lines]  # never product input
    source = tmp_path / "spain.jsonl"
    source.write_text("\n".join([*map(json.dumps, records), "{broken"]) + "\n", encoding="utf-8")

    one_summary, one_lines, one_alerts = _monitor(tmp_path, source, 1)
    two_summary, two_lines, two_alerts = _monitor(tmp_path, source, 2)

    assert f"read {len(records) + 1} = processed {len(records)} + quarantined 1" in two_summary
    assert "2 processes" in two_summary and "processes" not in one_summary
    assert two_lines == one_lines and len(two_lines) == len(records)
    assert two_alerts == one_alerts and two_alerts  # the train crash raises alerts
