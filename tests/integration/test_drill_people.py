"""A drill with people (`crisis drill --people`): nobody is scripted, and a person answers each approval stage in the
drill's UI — here a thread of the test, answering through the stack's API as the UI's Resume form does. While a
stage waits for that person the drill's clock runs in real time, so the score measures the person's real wait and
no stage's deadline passes for want of speed; between stages the clock runs at `--speed`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests import rehearse

from .conftest import copy_project

pytestmark = [pytest.mark.server, pytest.mark.drill_stack]

CHECKOUT = Path(__file__).resolve().parents[2]
SPEED = 300.0  # drill seconds per real second between the person's answers
FIRST_ANSWER = 40.0  # real seconds the person takes over the first stage; the others are answered at once
STACK_LINE = re.compile(r"drill stack up: (http://127\.0\.0\.1:\d+) \(credential in (\S+)\)")


class Person:
    """Answers every approval stage of the drill's stack, approving, under the first name its form offers."""

    def __init__(self) -> None:
        self.api: httpx.Client | None = None
        self.answered: list[tuple[str, str, float]] = []  # (run name, pause key, real seconds it waited)
        self.seen: dict[tuple[str, str], float] = {}
        self.stop = threading.Event()

    def connect(self, url: str, credential: Path) -> None:
        user, _, password = credential.read_text(encoding="utf-8").strip().partition(":")
        self.api = httpx.Client(base_url=f"{url}/api", auth=(user, password), timeout=60)

    def work(self) -> None:
        while not self.stop.wait(1.0):
            if self.api is None:
                continue
            try:
                for run in self.api.post("/flow_runs/filter", json={"flow_runs": {"state": {"type": {
                        "any_": ["PAUSED"]}}}}).json():
                    self._consider(run)
            except httpx.TransportError:  # the drill stops its stack when it ends: the person has nothing to do
                continue

    def _consider(self, run: dict[str, Any]) -> None:
        assert self.api is not None
        details = run["state"]["state_details"]
        key, schema_key = details.get("pause_key") or "", (details.get("run_input_keyset") or {}).get("schema")
        if not schema_key:
            return
        found = self.api.get(f"/flow_runs/{run['id']}/input/{schema_key}")
        if found.status_code != 200:
            return
        schema = found.json() if isinstance(found.json(), dict) else yaml.safe_load(found.json())
        if "decision" not in schema.get("properties", {}):
            return  # the review's questions: the drill answers those itself
        first_seen = self.seen.setdefault((run["id"], key), time.monotonic())
        if not self.answered and time.monotonic() - first_seen < FIRST_ANSWER:
            return
        name = schema["properties"]["name"].get("enum", [None])[0] or schema["properties"]["name"]["const"]
        answer = {"decision": "approve", "name": name, "comment": "a person, in the drill", "edits": "",
                  "link_receipt": ""}
        resumed = self.api.post(f"/flow_runs/{run['id']}/resume", json={"run_input": answer})
        if resumed.status_code in (200, 201) and resumed.json().get("status") == "ACCEPT":
            self.answered.append((run["name"], key, time.monotonic() - first_seen))


def _people_drill(root: Path) -> str:
    """The demo's rehearsal without its scripted approvers nor its injects (fewer packs to approve)."""
    rehearsal = rehearse.load(CHECKOUT / "tests" / "rehearsals" / "rappel-produit.yaml")
    rehearse.prepare(rehearsal, root)
    path = root / rehearsal.drill_file
    drill = yaml.safe_load(path.read_text(encoding="utf-8"))
    drill.pop("approvers", None)
    drill["injects"] = []
    path.write_text(yaml.safe_dump(drill, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return rehearsal.drill_file


def test_a_drill_with_people_waits_for_them_in_real_time_and_scores_their_real_wait(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    drill_file = _people_drill(root)
    person = Person()
    helper = threading.Thread(target=person.work, daemon=True)
    helper.start()
    process = subprocess.Popen([sys.executable, "-m", "crisiscomms.stack.cli", "drill", "--drill", drill_file,
                                "--people", "--speed", str(SPEED)], cwd=root, env=rehearse.drill_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    said: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            said.append(line)
            if (found := STACK_LINE.search(line)) and person.api is None:
                person.connect(found.group(1), Path(found.group(2)))
        assert process.wait(timeout=1800) == 0, "".join(said)
    finally:
        person.stop.set()
        if process.poll() is None:  # interrupted, the drill stops its stack before it ends
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
    printed = "".join(said)
    assert person.answered, printed
    assert "people answer in the drill's UI" in printed

    folder = next((root / ".crisis" / "drills").iterdir())
    score = json.loads((folder / "score.json").read_text(encoding="utf-8"))
    assert score["crisis"], printed
    post_mortem = json.loads((folder / "project" / ".crisis" / "reviews" / score["crisis"] / "post-mortem.json")
                             .read_text(encoding="utf-8"))
    waits = post_mortem["approvals"]
    assert waits and all(w["decision"] == "approve" and w["seconds"] is not None for w in waits), waits
    # The person's first answer took FIRST_ANSWER real seconds and more: about as many drill seconds. At SPEED, the
    # same wait would have been FIRST_ANSWER × 300 s (3 h 20), and the stage's 30-minute deadline would have passed.
    first = min(waits, key=lambda w: w["opened_at"])
    assert FIRST_ANSWER - 5 <= first["seconds"] <= person.answered[0][2] + 60, (first, person.answered)
    assert all(w["seconds"] < 600 for w in waits), waits
    assert len(person.answered) == len(waits), (person.answered, waits)
