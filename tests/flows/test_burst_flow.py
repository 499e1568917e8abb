"""The burst flow on a local Dask cluster of two worker processes: every part a task run on one of them, the
playbook's models loaded once per worker, and the whole put together as one read."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.burst import burst

CRISISLEX = Path(__file__).resolve().parents[2] / "data" / "crisislex"


def test_a_burst_is_enriched_in_parts_across_two_worker_processes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))
    done = burst(playbook="rappel-produit", path=str(CRISISLEX / "2013_Spain_train_crash.jsonl"),
                 out=str(tmp_path / "out"), records_per_part=250, workers=2)
    assert done["read"] == 1000 == done["processed"] + done["quarantined"]
    assert len(done["workers"]) == 2 and sum(w["parts"] for w in done["workers"].values()) == 4
    assert all(w["peak_mb"] > 100 for w in done["workers"].values())  # each loaded the models once, itself
    assert len(list((tmp_path / "out").glob("part-?????.jsonl"))) == 4
    with get_client(sync_client=True) as client:
        report = [a for a in client.read_artifacts() if a.key == "rappel-produit-burst"][-1]
    assert "burst of 1,000 records" in report.data and report.data.count(" MB |") == 2  # a row per worker
