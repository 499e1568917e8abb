"""The scheduled monitoring flow on the demo playbook (a recorded crisis replayed as if it were happening now): counts
reconcile, the watermark holds, the rise is detected, the report is published."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from crisiscomms import clock
from flows.monitor import monitor

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
REPLAY = Path(__file__).resolve().parents[2] / "data" / "drills" / "rappel-produit.jsonl"


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path))  # never the checkout's .crisis/
    clock.set_time(tmp_path / "clock", NOW)
    monkeypatch.setenv(clock.CLOCK_FILE, str(tmp_path / "clock"))
    yield tmp_path


def test_the_monitoring_flow_replays_the_demo_crisis_reading_each_mention_once_and_publishes_its_report(
        state_dir: Path) -> None:
    first = monitor(playbook="rappel-produit")  # the replay starts: its first mention is due now
    clock.set_time(state_dir / "clock", NOW + timedelta(minutes=30))  # 12 times faster: 6 h of crisis, all of it
    second = monitor(playbook="rappel-produit")
    third = monitor(playbook="rappel-produit")
    lines = sum(1 for line in REPLAY.open(encoding="utf-8") if line.strip())
    assert first["read"] >= 1 and first["read"] + second["read"] == lines and third["read"] == 0
    for run in (first, second, third):
        assert run["read"] == run["processed"] + run["quarantined"]
    assert not first["alerts"] and {a["level"] for a in second["alerts"]} & {"alert", "crisis"}  # the rise
    assert (state_dir / "monitoring.db").is_file()
    with get_client(sync_client=True) as client:
        versions = [a for a in client.read_artifacts() if a.key == "rappel-produit-monitoring"]
    _, rising, report = sorted(versions, key=lambda a: a.created)
    assert "| **total** | **0** | **0** | **0** |" in report.data  # the latest version: the third run
    assert "### Data quality (Great Expectations)" in report.data
    # each batch's GE result, per expectation, with what it observed
    assert f"volume ✅ {second['read']}, id_present ✅ 100%, created_at_present ✅ 100%" in rising.data
    assert "id_unique ✅, text_encoding ✅" in rising.data
    assert "| volume | **" in rising.data  # its alert, in the report's table
    assert "volume ✅ 0\n" in report.data  # nothing read: no share to speak of
    with get_client(sync_client=True) as client:
        charts = sorted((a for a in client.read_artifacts() if a.key == "rappel-produit-monitoring-volume"),
                        key=lambda a: a.created)
    svg = base64.b64decode(charts[-1].data.split(",", 1)[1]).decode("utf-8")
    bars = [int(n) for n in re.findall(r"<title>\d\d:\d\d: (\d+)</title>", svg)]
    assert len(bars) == 36 and sum(bars) == lines  # the last 3 hours in 5-minute windows: the whole replay
    assert re.search(r">(alert|crisis)</text>", svg)  # the alert marked at its window



def test_each_source_is_read_under_its_one_slot_a_second_reader_waits_for(state_dir: Path) -> None:
    from prefect.concurrency.sync import concurrency

    from tasks.monitoring import one_reader

    monitor(playbook="rappel-produit")
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("source-rappel-produit-demo")
    assert (limit.limit, limit.active_slots) == (1, 0)  # made by the run, released at its end
    second = concurrency("source-rappel-produit-demo", occupy=1, timeout_seconds=2, strict=True)
    with one_reader("rappel-produit", "demo"), pytest.raises(TimeoutError), second:
        pass  # a second worker's pass of the same source, while the first holds it


def test_communication_on_alert_says_so_when_the_api_has_no_communication_deployment(state_dir: Path) -> None:
    from crisiscomms.review import crises
    from tasks.crisis import COMMUNICATION_DEPLOYMENT, communicate_on_alert

    crisis = crises.join_or_open(state_dir, "rappel-produit", "Rappel", "monitoring", at=NOW)
    said = communicate_on_alert.fn(str(state_dir), "rappel-produit", "p2", crisis.id, "p1")
    assert said == (f"no communication started for crisis {crisis.id}: deployment {COMMUNICATION_DEPLOYMENT} is not "
                    "registered on this Prefect API (`crisis up` registers it)")
