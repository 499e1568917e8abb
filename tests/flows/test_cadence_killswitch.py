"""The kill switch and the update cadence on real flow runs (session harness).

The approver is the boundary here: tests hand the release an approval record for a pack they rendered (the
approval flow itself is tests/flows/test_approval.py). Channels are the file outbox, the real one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
from prefect.deployments import run_deployment

from crisiscomms.communication import cadence, killswitch, messages, release
from crisiscomms.monitoring.store import state_dir
from crisiscomms.playbook.steps import MessageRelease, ReleaseRecord
from crisiscomms.stack.project import Project
from flows.killswitch import kill_switch
from flows.updates import update_reminder
from tasks.release import release_pack
from tasks.updates import REMINDER_DEPLOYMENT

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"
PLAYBOOK = "release-halt"
STEP = MessageRelease(id="release", type="message.release", approval="approval", pack="pack")


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own state (kill switch, outbox, promises): a halt never leaks into another test."""
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path))
    return tmp_path


def _approved_pack(at: datetime) -> dict[str, Any]:
    """A pack rendered at `at` (its next update one hour after its release), kept as message.pack keeps it, and
    approved."""
    project = Project(FIXTURES)
    pack = messages.render_pack(project.load(PLAYBOOK).playbook, project.templates_dir,
                                messages.PackContext(inputs={}, now=at))
    folder = state_dir(FIXTURES) / "packs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{PLAYBOOK}-{pack.hash[:16]}.json"
    path.write_text(pack.model_dump_json(indent=1), encoding="utf-8")
    return {"decision": "approved", "hash": pack.hash, "path": str(path), "priority": None, "decisions": []}


def _first_attempted(approval: dict[str, Any], at: datetime) -> None:
    """As if a release of this pack had first tried to send at `at` (a channel down then): the promise counts
    from that first attempt, not from the release that finally gets it out."""
    outbox = release.Outbox(state_dir(FIXTURES) / "outbox.db")
    try:
        outbox.first_attempt(approval["hash"], at)
    finally:
        outbox.close()


@flow(name="release-under-test")
def _release(approval: dict[str, Any]) -> ReleaseRecord:
    context = Project(FIXTURES).freeze(PLAYBOOK).context(
        "communication", {}, {"approval": approval, "pack": {"path": approval["path"]}})
    return release_pack(STEP, context)


def _outbox_files(state: Path) -> list[Path]:
    return sorted((state / "outbox").rglob("*.json"))


def _artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert found, f"no artifact {key}"
    return max(found, key=lambda a: a.created)


def test_with_the_switch_on_nothing_is_sent_and_after_unhalt_each_message_goes_once(state: Path) -> None:
    approval = _approved_pack(datetime.now(UTC))
    killswitch.halt(FIXTURES, "Chiffres du communiqué faux", "Claire Martin")
    halted = _release(approval)
    assert halted.status == "halted"
    assert {r["status"] for r in halted.receipts} == {"halted"} and len(halted.receipts) == 4
    assert "Chiffres du communiqué faux" in halted.receipts[0]["detail"]
    assert _outbox_files(state) == [] and cadence.promises(FIXTURES, PLAYBOOK) == []  # nothing out, no promise
    report = _artifact(f"{PLAYBOOK}-release-halted").data
    assert "4 message(s) not sent" in report and "Claire Martin" in report

    killswitch.lift(FIXTURES, "Julien Roche")
    released = _release(approval)
    assert released.status == "released" and [r["status"] for r in released.receipts] == ["sent"] * 4
    assert len(_outbox_files(state)) == 4
    again = _release(approval)  # a third run: everything was sent already, nothing goes twice
    assert [r["status"] for r in again.receipts] == ["already_sent"] * 4
    assert len(_outbox_files(state)) == 4 and len(cadence.promises(FIXTURES, PLAYBOOK)) == 1


def test_each_release_keeps_the_last_promise_and_publishes_promised_vs_actual(state: Path) -> None:
    now = datetime.now(UTC)
    first = _approved_pack(now - timedelta(hours=3))
    _first_attempted(first, now - timedelta(hours=3))  # promised "in 1 h", 2 h ago
    _release(first)
    (made,) = cadence.promises(FIXTURES, PLAYBOOK)
    assert made.promised == cadence.utc_text(now - timedelta(hours=2))
    # The embedded harness has no deployments: the promise stands, the reminder says why it is missing.
    assert made.reminder is not None and f"deployment {REMINDER_DEPLOYMENT} is not registered" in made.reminder
    _release(_approved_pack(now))
    kept, latest = cadence.promises(FIXTURES, PLAYBOOK)
    assert (kept.status(), latest.status()) == ("late", "open")
    assert 2 * 3600 - 60 < kept.delay_seconds() < 2 * 3600 + 60
    rows = _artifact(f"{PLAYBOOK}-update-cadence").data
    table = json.loads(rows) if isinstance(rows, str) else rows
    assert [(r["promise"], r["status"]) for r in table] == [(kept.id, "late"), (latest.id, "open")]
    assert table[0]["delay"].startswith("2 h") and table[0]["delay"].endswith("late")


def _promise(at: datetime, playbook: str = "rappel-produit", pack: str = "p1") -> cadence.Promise:
    return cadence.record_release(FIXTURES, playbook, "run-1", pack, at + timedelta(hours=1), at,
                                  priority="p1").promise


def test_the_reminder_finds_an_overdue_update_names_who_must_speak_and_records_the_miss() -> None:
    promise = _promise(datetime.now(UTC) - timedelta(hours=2))
    found = update_reminder(playbook="rappel-produit", promise=promise.id)
    assert found["status"] == "overdue" and found["detail"].endswith("late")
    assert found["speakers"][0] == "spokesperson: Julien Roche, porte-parole (Laiterie Duval)"
    assert found["speakers"][1].startswith("first approval stage, ")  # the p1 chain begins with legal
    report = _artifact("rappel-produit-update-overdue").data
    assert "Update overdue" in report and "Julien Roche, porte-parole" in report and f"#{promise.id}" in report
    assert cadence.get(FIXTURES, promise.id).status() == "missed"


def test_the_reminder_of_a_kept_promise_says_on_time() -> None:
    promise = _promise(datetime.now(UTC) - timedelta(minutes=30))
    cadence.record_release(FIXTURES, "rappel-produit", "run-2", "p2", datetime.now(UTC) + timedelta(hours=1),
                           datetime.now(UTC))
    assert update_reminder(playbook="rappel-produit", promise=promise.id)["status"] == "on_time"
    assert cadence.get(FIXTURES, promise.id).missed_at is None


def test_the_reminder_does_nothing_while_the_switch_is_on() -> None:
    promise = _promise(datetime.now(UTC) - timedelta(hours=2))
    killswitch.halt(FIXTURES, "Tout est suspendu", "Claire Martin")
    found = update_reminder(playbook="rappel-produit", promise=promise.id)
    assert found["status"] == "halted" and "Tout est suspendu" in found["detail"]
    assert cadence.get(FIXTURES, promise.id).missed_at is None  # a halt on purpose is not a missed update


@pytest.fixture
def deployments() -> Iterator[dict[str, Any]]:
    """The reminder deployment as `crisis up` registers it, plus a playbook and a monitor deployment."""
    names = {"reminder": ("update-reminder", "update-reminder"), "playbook": ("crisis-playbook", "playbook"),
             "monitor": ("crisis-monitor", "monitor")}
    with get_client(sync_client=True) as client:
        ids = {key: client.create_deployment(flow_id=client.create_flow_from_name(flow), name=name)
               for key, (flow, name) in names.items()}
    yield ids
    with get_client(sync_client=True) as client:
        for deployment_id in ids.values():
            client.delete_deployment(deployment_id)


def _state(run_id: Any) -> str:
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    return run.state.name


def test_a_release_schedules_the_reminder_and_halting_cancels_it_and_waiting_releases(
        deployments: dict[str, Any]) -> None:
    _release(_approved_pack(datetime.now(UTC)))
    (promise,) = cadence.promises(FIXTURES, PLAYBOOK)
    assert promise.reminder is not None and promise.reminder.startswith("reminder run ")
    reminder_id = promise.reminder.split()[2]
    with get_client(sync_client=True) as client:
        reminder = client.read_flow_run(reminder_id)
    assert reminder.state.name == "Scheduled" and reminder.parameters == {"playbook": PLAYBOOK, "promise": promise.id}
    assert abs((reminder.expected_start_time - cadence.parse_time(promise.promised)).total_seconds()) < 1
    later = datetime.now(UTC) + timedelta(hours=1)
    waiting = run_deployment("crisis-playbook/playbook", parameters={"playbook": "rappel-produit"},
                             scheduled_time=later, timeout=0)
    monitor = run_deployment("crisis-monitor/monitor", parameters={"playbook": "rappel-produit"},
                             scheduled_time=later, timeout=0)

    result = kill_switch(action="halt", by="Claire Martin", reason="Erreur dans le communiqué")
    assert {line.split(" (")[1].split(")")[0] for line in result["cancelled"]} >= {reminder_id, str(waiting.id)}
    assert _state(reminder_id) == "Cancelled" and _state(waiting.id) == "Cancelled"
    assert _state(monitor.id) == "Scheduled"  # monitoring goes on watching during a halt
    assert killswitch.current(FIXTURES, PLAYBOOK) is not None
    assert kill_switch(action="unhalt", by="Julien Roche")["lifted"].endswith("by Julien Roche")
    assert killswitch.current(FIXTURES, PLAYBOOK) is None


def test_halting_one_playbook_cancels_only_its_runs(deployments: dict[str, Any]) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    mine, other = (run_deployment("crisis-playbook/playbook", parameters={"playbook": p}, scheduled_time=later,
                                  timeout=0) for p in ("rappel-produit", "cellule-de-crise"))
    kill_switch(action="halt", by="Claire Martin", reason="Lot erroné", playbook="rappel-produit")
    assert (_state(mine.id), _state(other.id)) == ("Cancelled", "Scheduled")
    assert killswitch.current(FIXTURES, "cellule-de-crise") is None


def test_crisis_halt_cancels_on_the_server_it_finds(deployments: dict[str, Any], monkeypatch: Any) -> None:
    from prefect.settings import PREFECT_API_URL
    from typer.testing import CliRunner

    from crisiscomms.stack.cli import app

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    monkeypatch.chdir(FIXTURES)
    waiting = run_deployment("update-reminder/update-reminder", parameters={"playbook": "x", "promise": 1},
                             scheduled_time=datetime.now(UTC) + timedelta(hours=1), timeout=0)
    done = CliRunner().invoke(app, ["halt", "--reason", "Erreur", "--by", "Claire Martin"])
    assert done.exit_code == 0, done.output
    assert "waiting run(s)" in done.output and str(waiting.id) in done.output
    assert _state(waiting.id) == "Cancelled"
