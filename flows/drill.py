"""The `drill` deployment: `crisis drill` from the Prefect UI's Run form — pick a drill of `drills/`, scripted
approvers or people, and the drill replays its recorded crisis through the playbook on a stack of its own (its own
server, worker, clock and outbox: nothing leaves). Its progress is this run's log, its score this run's artifact.

The drill runs as a `crisis drill` process: its stack gets an environment of its own (no Prefect profile, SMTP
setting or channel secret of this worker), which this run's process keeps for talking to its own server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, Failed, State

from crisiscomms.stack.drills.score import score_file_in
from flows.choices import ROOT


def drill_names(root: Path) -> list[str]:
    """The drills of `drills/` (a drill file, not a replay's texts)."""
    return sorted(p.stem for p in (root / "drills").glob("*.yaml") if not p.name.endswith(".texts.yaml"))


_names = drill_names(ROOT)
DrillChoice: Any = Literal[tuple(_names)] if _names else str  # type: ignore[valid-type]


@flow(name="crisis-drill", flow_run_name="{drill}/drill", log_prints=False,
      description="Rehearse: replay a recorded crisis through its playbook on a stack of its own, scored against "
                  "the drill's targets. Nothing leaves the company.")
def drill(drill: DrillChoice, people: bool = False, speed: float = 60.0) -> State:  # type: ignore[valid-type]
    """`people`: the drill file's scripted approvers stay silent and people answer in the drill's UI (its address
    is in the log), the drill's clock running `speed` drill seconds per real second."""
    logger = get_run_logger()
    command = [sys.executable, "-m", "crisiscomms.stack.cli", "drill", "--drill", f"drills/{drill}.yaml"]
    if people:
        command += ["--people", "--speed", str(speed)]
    said: list[str] = []
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        for line in process.stdout or []:
            said.append(line.rstrip("\n"))
            logger.info(said[-1])
    score_md = score_file_in("\n".join(said))
    if process.returncode != 0 or score_md is None:
        return Failed(message=f"the drill stopped (exit {process.returncode}): {' / '.join(said[-3:])}")
    figures = json.loads(score_md.with_name("score.json").read_text(encoding="utf-8"))
    create_markdown_artifact(score_md.read_text(encoding="utf-8"), key=f"drill-{drill}".lower().replace("_", "-"),
                             description=f"Drill score of {drill}: its targets, met or missed")
    met = figures["held"] > 0 and figures["met"] == figures["held"]
    return Completed(name="Targets met" if met else "Targets missed",
                     message=f"{figures['met']} of {figures['held']} targets met; the drill's folder: "
                             f"{score_md.parent}")
