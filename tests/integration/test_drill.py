"""Drills (`crisis drill`): two drills of the demo run at once, each on its own stack and clock, with scripted
approvers — one of them slower. Each completes, is scored from its own run history (the post-mortem code), and the
slower approver shows in its score by exactly the extra time; nothing reaches the live SMTP, webhook and Apprise
receivers the calling environment points at, while each drill's outbox holds every message it sent; the two drills
share no run, crisis or outbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.receivers import HttpReceiver, SmtpReceiver

from .conftest import CHECKOUT, copy_project

# Apprise imports imghdr (deprecated in Python 3.11, gone in 3.13): its warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

DRILL = {
    "playbook": "rappel-produit", "replay": "data/drills/ci.jsonl", "monitor_every": "15m", "monitor_during": "1h",
    "team": {"inputs": {"soumettre": True}, "communicate_after": "10m", "all_clear": {
        "after": "75m", "inputs": {"fin_de_crise": True}}, "lessons_after": "30m"},
    "approvers": {"Sophie Lefèvre": {"after": "12m"}, "Claire Martin": {"after": "8m"}},
    "injects": [{"at": "50m", "claim": "toute_la_production", "mentions": 6}],
    "targets": {"time_to_detect": "15m", "time_to_first_statement": "1h", "approval_stage": "20m",
                "correction": "1h"},
}
SLOWER = 15  # minutes more for Sophie Lefèvre in the second drill


@pytest.fixture(scope="module")
def drills(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = copy_project(tmp_path_factory.mktemp("drills"))
    _network_channels(root)
    subprocess.run([sys.executable, str(CHECKOUT / "scripts" / "drill_replay.py"), "--curve",
                    str(root / "data" / "crisislex" / "2013_Spain_train_crash-volume_per_minute.csv"),
                    "--before", "30", "--after", "100", "--peak", "40", "--calm", "0.8",
                    "--texts", str(CHECKOUT / "drills" / "rappel-produit.texts.yaml"),
                    "--out", str(root / "data" / "drills" / "ci.jsonl")], check=True, capture_output=True)
    slow = json.loads(json.dumps(DRILL))
    slow["approvers"]["Sophie Lefèvre"]["after"] = f"{12 + SLOWER}m"
    (root / "drills").mkdir()
    for name, spec in (("quick", DRILL), ("slow", slow)):
        (root / "drills" / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with SmtpReceiver() as smtp, HttpReceiver() as hook:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "CRISIS_STATE_DIR"}
        env.update({"CRISIS_SMTP_HOST": smtp.host, "CRISIS_SMTP_PORT": str(smtp.port),
                    "CRISIS_TEST_HOOK": f"{hook.url}/hook",
                    "CRISIS_TEST_APPRISE": f"json{hook.url.removeprefix('http')}/apprise"})
        running = {name: subprocess.Popen([sys.executable, "-m", "crisiscomms.stack.cli", "drill", "--drill",
                                           f"drills/{name}.yaml"], cwd=root, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True) for name in ("quick", "slow")}
        said = {name: process.communicate(timeout=1200)[0] for name, process in running.items()}
        yield {"root": root, "said": said, "codes": {n: p.returncode for n, p in running.items()},
               "smtp": smtp.counts(), "hook": hook.counts()}


def _network_channels(root: Path) -> None:
    """The demo's internal memo also goes out by webhook and Apprise: live channels a drill must not touch."""
    path = root / "playbooks" / "rappel-produit.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["channels"]["alerte_equipes"] = {"kind": "webhook", "url_env": "CRISIS_TEST_HOOK", "audiences": ["salaries"]}
    data["channels"]["mattermost"] = {"kind": "apprise", "url_env": "CRISIS_TEST_APPRISE", "audiences": ["salaries"]}
    data["communication"]["messages"].append(
        {"kind": "internal_memo", "audiences": ["salaries"], "channels": ["alerte_equipes", "mattermost"]})
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _folder(drills: dict[str, Any], name: str) -> Path:
    line = next(t for t in drills["said"][name].splitlines() if t.startswith("score: "))
    return Path(line.removeprefix("score: ").split(";")[0]).parent


def _score(drills: dict[str, Any], name: str) -> dict[str, Any]:
    return json.loads((_folder(drills, name) / "score.json").read_text(encoding="utf-8"))


def _post_mortem(drills: dict[str, Any], name: str) -> dict[str, Any]:
    (path,) = (_folder(drills, name) / "project" / ".crisis" / "reviews").glob("*/post-mortem.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_both_drills_complete_and_are_scored_from_their_own_run_history(drills: dict[str, Any]) -> None:
    assert drills["codes"] == {"quick": 0, "slow": 0}, drills["said"]
    for name in ("quick", "slow"):
        score, pm = _score(drills, name), _post_mortem(drills, name)
        assert pm["crisis"]["drill"] is True and pm["crisis"]["closed_at"] and score["crisis"] == pm["crisis"]["id"]
        rows = {row["measure"]: row for row in score["rows"]}
        detect = next(f for f in pm["figures"] if f["key"] == "time_to_detect")["value"]
        assert rows["time to detect"]["value"] == f"{detect / 60:.0f} min"  # the review's figure, not the script's
        assert any(m.startswith("inject: false claim 'toute_la_production'") and rows[m]["met"] for m in rows)


def test_a_slower_approver_shows_in_the_score_by_exactly_the_extra_time(drills: dict[str, Any]) -> None:
    def legal(name: str) -> list[float]:
        return [w["seconds"] for w in _post_mortem(drills, name)["approvals"] if w["approver"] == "Sophie Lefèvre"]
    quick, slow = legal("quick"), legal("slow")
    # Not always as many stages each: a pack's chain follows the priority of the assessment before it, and the
    # slower approver moves the later packs in the crisis. Every stage of hers moves by exactly the extra time.
    assert quick and slow
    assert all(q == 12 * 60 for q in quick) and all(s == (12 + SLOWER) * 60 for s in slow)
    over = [r for r in _score(drills, "slow")["rows"] if "Sophie Lefèvre" in r["measure"]]
    assert over and all(r["met"] is False and r["value"] == f"{12 + SLOWER} min" for r in over)  # target 20 min
    assert all(r["met"] for r in _score(drills, "quick")["rows"] if "Sophie Lefèvre" in r["measure"])


def test_a_drill_sends_nothing_by_a_real_channel_and_its_outbox_holds_every_message(drills: dict[str, Any]) -> None:
    assert drills["smtp"] == {} and drills["hook"] == {}
    for name in ("quick", "slow"):
        pm = _post_mortem(drills, name)
        sent = [m for m in pm["sent"] if m["status"] == "sent"]
        assert {m["channel"] for m in sent} >= {"email_partenaires", "alerte_equipes", "mattermost"}
        outbox = _folder(drills, name) / "project" / ".crisis" / "outbox" / "exercice"
        kept = [p for p in outbox.rglob("*.json") if "approvals" not in p.parts]
        assert len(kept) == len(sent)


def test_two_drills_at_once_share_no_run_crisis_or_outbox(drills: dict[str, Any]) -> None:
    quick, slow = _folder(drills, "quick"), _folder(drills, "slow")
    assert quick != slow and quick.parent == slow.parent
    keys = {}
    for name, folder in (("quick", quick), ("slow", slow)):
        pm = _post_mortem(drills, name)
        assert len({r["id"] for r in pm["runs"]}) == len(pm["runs"]) > 0
        keys[name] = {m["key"] for m in pm["sent"]}
        assert (folder / "project" / ".crisis" / "crises.db").is_file()
    assert keys["quick"] and keys["slow"]
    assert not {r["id"] for r in _post_mortem(drills, "quick")["runs"]} & {
        r["id"] for r in _post_mortem(drills, "slow")["runs"]}
    assert not (drills["root"] / ".crisis" / "crises.db").exists()  # the project's own registry never saw them
