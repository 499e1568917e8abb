"""The `readiness` deployment's flow and the readiness.check step: the report as an artifact and a file, and a run
that fails when an item is red, so a weekly check that finds a problem shows in the UI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from crisiscomms import clock
from crisiscomms.playbook.readiness_steps import ReadinessRecord
from flows.engine import RunHistory, walk_phase
from flows.readiness import readiness
from tests.unit.receivers import SmtpReceiver


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path))
    clock.set_time(tmp_path / "clock", datetime(2026, 12, 3, 8, 0, tzinfo=UTC))  # contacts confirmed 2026-11-30
    monkeypatch.setenv(clock.CLOCK_FILE, str(tmp_path / "clock"))
    yield tmp_path


def test_the_weekly_check_of_the_demo_is_green_and_published(state_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpReceiver() as smtp:
        monkeypatch.setenv("CRISIS_SMTP_HOST", smtp.host)
        monkeypatch.setenv("CRISIS_SMTP_PORT", str(smtp.port))
        record = readiness(playbook="rappel-produit")
    assert (record.status, record.red, record.amber, record.items) == ("green", 0, 0, [])
    assert smtp.counts() == {}
    assert Path(record.report) == state_dir / "readiness" / "rappel-produit.md"
    with get_client(sync_client=True) as client:
        (artifact,) = [a for a in client.read_artifacts() if a.key == "rappel-produit-readiness"]
    assert artifact.data.startswith("# Readiness of rappel-produit v1.0.0: 🟢 green")
    assert "| 🟢 | messages/press_release.fr.md.j2 | cleared by Sophie Lefèvre" in artifact.data


def test_a_red_item_fails_the_run_and_names_what_to_fix(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRISIS_SMTP_HOST", raising=False)  # no SMTP server: e-mails and approval requests fail
    state = readiness(playbook="rappel-produit", probe=False, return_state=True)
    assert state.is_failed()
    assert "rappel-produit is not ready: 2 red item(s)" in str(state.message) + str(state.result(raise_on_failure=False))
    text = (state_dir / "readiness" / "rappel-produit.md").read_text(encoding="utf-8")
    assert "| 🔴 | approval requests by e-mail | no SMTP server: CRISIS_SMTP_HOST is not set" in text


STEP_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"


@flow
def _preparation(playbook: str) -> RunHistory:
    return walk_phase(str(STEP_FIXTURES), playbook, "preparation", {}, RunHistory())


def test_the_readiness_step_of_a_preparation_phase_writes_its_report(state_dir: Path) -> None:
    record = _preparation("readiness-check").record("pret", ReadinessRecord)
    assert (record.status, record.red, record.amber, record.green) == ("green", 0, 0, 6)
    report = Path(record.report).read_text(encoding="utf-8")
    assert "| 🟢 | role coordination (Coordination) | held by Claire Martin, Julien Roche" in report
