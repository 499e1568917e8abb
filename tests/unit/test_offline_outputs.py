"""`crisis monitor`'s outputs are one transaction: a run killed between two of its renames is finished by the next
run writing the same `--out`; two runs never write the same files at once; a journal someone else wrote moves
nothing it should not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.outputs import Outputs

ROOT = Path(__file__).resolve().parents[2]
# A run that writes its three outputs, then is killed (SIGKILL: no cleanup) after `renames` of its renames.
CHILD = """
import os, signal, sys
from pathlib import Path
from rich.console import Console
from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.outputs import Outputs
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


def test_a_second_run_on_the_same_outputs_is_refused_while_the_first_writes(tmp_path: Path) -> None:
    targets = targets_in(tmp_path)
    with Outputs(targets, Console(quiet=True)) as first:
        with pytest.raises(CrisisError, match="being written by another run"):
            Outputs({"--out": targets["--out"]}, Console(quiet=True)).__enter__()
        first.write(targets["--out"], ["mine"])
        first.commit()
    assert targets["--out"].read_text(encoding="utf-8") == "mine\n"
    with Outputs({"--out": targets["--out"]}, Console(quiet=True)):  # free again once the first is done
        pass


def test_a_journal_naming_other_files_moves_none_of_them(tmp_path: Path) -> None:
    victim, stranger = tmp_path / "victim.txt", tmp_path / "stranger.txt"
    victim.write_text("precious\n", encoding="utf-8")
    stranger.write_text("attacker\n", encoding="utf-8")
    targets = targets_in(tmp_path)
    foreign = tmp_path / ".victim.txt.4242.part"
    foreign.write_text("attacker\n", encoding="utf-8")
    (tmp_path / ".out.jsonl.commit").write_text(json.dumps({"pid": 999999, "renames": [
        [str(stranger), str(victim)], [str(foreign), str(victim)], [str(stranger), str(targets["--out"])]]}),
        encoding="utf-8")
    said = Console(record=True, width=200)
    with Outputs(targets, said):
        pass
    assert victim.read_text(encoding="utf-8") == "precious\n" and stranger.exists() and foreign.exists()
    assert said.export_text().count("ignored a journal entry") == 3
    assert not (tmp_path / ".out.jsonl.commit").exists()


def test_a_journal_that_is_a_folder_is_said_and_left_and_the_run_fails_cleanly_at_commit(tmp_path: Path) -> None:
    targets = targets_in(tmp_path)
    (tmp_path / ".out.jsonl.commit").mkdir()
    said = Console(record=True, width=200)
    with Outputs(targets, said) as outputs:
        outputs.write(targets["--out"], ["x"])
        with pytest.raises(CrisisError, match="cannot write the journal"):
            outputs.commit()
    assert "ignored" in said.export_text() and not targets["--out"].exists()

