"""`crisis monitor`'s outputs are one transaction: a run killed between two of its renames is finished by the next
run writing the same `--out`, so no reader ever finds the outputs of two runs mixed once that run has started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from crisiscomms.monitoring.offline import Outputs

ROOT = Path(__file__).resolve().parents[2]
# A run that writes its three outputs, then is killed (SIGKILL: no cleanup) after `renames` of its renames.
CHILD = """
import os, signal, sys
from pathlib import Path
from rich.console import Console
from crisiscomms.monitoring.offline import Outputs
targets = {option: Path(path) for option, path in zip(("--quarantine", "--alerts", "--out"), sys.argv[1:4])}
renames, real, made = int(sys.argv[4]), os.replace, []
def replace(source, target):
    if Path(target) in targets.values():
        if len(made) == renames:
            os.kill(os.getpid(), signal.SIGKILL)
        made.append(target)
    real(source, target)
os.replace = replace
with Outputs(targets, Console()) as outputs:
    for option, target in targets.items():
        outputs.write(target, [f"new {option}"])
    outputs.commit()
"""


def targets_in(folder: Path) -> dict[str, Path]:
    return {option: folder / f"{option[2:]}.jsonl" for option in ("--quarantine", "--alerts", "--out")}


@pytest.mark.parametrize("renames", [0, 1, 2])
def test_a_run_killed_between_its_renames_is_finished_by_the_next_run(tmp_path: Path, renames: int) -> None:
    targets = targets_in(tmp_path)
    for target in targets.values():
        target.write_text("old\n", encoding="utf-8")
    child = subprocess.run([sys.executable, "-c", CHILD, *map(str, targets.values()), str(renames)],
                           cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr
    contents = [target.read_text(encoding="utf-8") for target in targets.values()]
    assert contents == [f"new {option}\n" for option in list(targets)[:renames]] + ["old\n"] * (3 - renames)
    assert (tmp_path / ".out.jsonl.commit").exists()

    with Outputs(targets, Console(quiet=True)):  # the next run, writing nothing
        pass
    assert [target.read_text(encoding="utf-8") for target in targets.values()] == [
        f"new {option}\n" for option in targets]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(target.name for target in targets.values())


def test_a_journal_cut_while_it_was_written_is_dropped_and_the_outputs_stay_as_they_were(tmp_path: Path) -> None:
    targets = targets_in(tmp_path)
    for target in targets.values():
        target.write_text("old\n", encoding="utf-8")
    (tmp_path / ".out.jsonl.commit.new").write_text('{"pid": 1, "ren', encoding="utf-8")
    with Outputs(targets, Console(quiet=True)):
        pass
    assert [target.read_text(encoding="utf-8") for target in targets.values()] == ["old\n"] * 3
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(target.name for target in targets.values())
