"""The scheduled monitoring flow on the demo playbook: counts reconcile, watermark holds, report published."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from crisiscomms import clock
from flows.monitor import monitor


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path))  # never the checkout's .crisis/
    # The demo's mentions are of 12 March 2026: read that afternoon, not older than gate.max_age (30 days)
    clock.set_time(tmp_path / "clock", datetime(2026, 3, 12, 15, 0, tzinfo=UTC))
    monkeypatch.setenv(clock.CLOCK_FILE, str(tmp_path / "clock"))
    yield tmp_path


def test_the_monitoring_flow_reads_each_mention_once_and_publishes_its_report(state_dir: Path) -> None:
    first = monitor(playbook="rappel-produit")
    second = monitor(playbook="rappel-produit")
    assert (first["read"], first["processed"], first["quarantined"]) == (12, 12, 0)
    assert (second["read"], second["processed"], second["quarantined"]) == (0, 0, 0)
    assert (state_dir / "monitoring.db").is_file()
    with get_client(sync_client=True) as client:
        versions = [a for a in client.read_artifacts() if a.key == "rappel-produit-monitoring"]
    first_report, report = sorted(versions, key=lambda a: a.created)
    assert "| **total** | **0** | **0** | **0** |" in report.data  # the latest version: the second run
    assert "### Data quality (Great Expectations)" in report.data
    # each batch's GE result, per expectation, with what it observed
    assert "volume ✅ 12, id_present ✅ 100%, created_at_present ✅ 100%, text_present ✅ 100%" in first_report.data
    assert "id_unique ✅, text_encoding ✅" in first_report.data
    assert "volume ✅ 0\n" in report.data  # nothing read: no share to speak of
