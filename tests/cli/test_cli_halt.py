"""`crisis halt` / `crisis unhalt` without a Prefect server: the switch is set in the state database, and said so."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from crisiscomms.communication import killswitch
from crisiscomms.stack.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # and the fixture project has no `crisis up` stack
    monkeypatch.chdir(FIXTURES)
    return FIXTURES


def test_halt_without_a_server_sets_the_switch_and_says_only_that(project: Path) -> None:
    done = CliRunner().invoke(app, ["halt", "--reason", "Chiffres faux", "--by", "Claire Martin"])
    assert done.exit_code == 0, done.output
    assert "kill switch on (every playbook)" in done.output and "Chiffres faux" in done.output
    assert "no Prefect server reachable: only the switch is set" in done.output
    halt = killswitch.current(project, "release-halt")
    assert halt is not None and (halt.by, halt.reason) == ("Claire Martin", "Chiffres faux")
    status = CliRunner().invoke(app, ["halt", "--status"])
    assert status.exit_code == 0 and "by Claire Martin: Chiffres faux" in status.output


def test_unhalt_lifts_it_and_status_shows_the_history(project: Path) -> None:
    runner = CliRunner()
    runner.invoke(app, ["halt", "--reason", "[Erreur] de lot", "--by", "Claire Martin"])
    done = runner.invoke(app, ["unhalt", "--by", "Julien Roche"])
    assert done.exit_code == 0 and "lifted" in done.output and "by Julien Roche" in done.output
    assert killswitch.current(project) is None
    status = runner.invoke(app, ["halt", "--status"])
    assert "kill switch off: releases go" in status.output
    assert "[Erreur] de lot" in status.output  # the history, with the reason as typed (no markup eaten)
    again = runner.invoke(app, ["unhalt", "--by", "Julien Roche"])
    assert again.exit_code == 0 and "was not on for every playbook" in again.output


def test_a_halt_needs_a_reason_and_a_name_and_a_known_playbook(project: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["halt", "--by", "Claire Martin"])
    assert missing.exit_code == 2 and "give --reason and --by" in missing.output
    unknown = runner.invoke(app, ["halt", "--reason", "x", "--by", "Claire", "--playbook", "nope"])
    assert unknown.exit_code == 2 and "no playbook 'nope'" in unknown.output
    assert killswitch.history(project) == []


def test_a_playbook_halt_leaves_the_others_free(project: Path) -> None:
    done = CliRunner().invoke(app, ["halt", "--reason", "Lot", "--by", "Claire", "--playbook", "release-halt"])
    assert done.exit_code == 0 and "playbook release-halt" in done.output
    assert killswitch.current(project, "release-halt") is not None
    assert killswitch.current(project, "message-release") is None
