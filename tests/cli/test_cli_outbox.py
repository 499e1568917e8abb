"""`crisis outbox` / `crisis settle`: a message cut off mid-send is shown in doubt, and only an operator's verdict
decides whether the next release sends it again."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from crisiscomms.communication import release
from crisiscomms.stack.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"


@pytest.fixture
def outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two messages: one sent, one whose send was cut off (left `sending`: in doubt)."""
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path))
    monkeypatch.chdir(FIXTURES)
    box = release.Outbox(tmp_path / "outbox.db")
    for key, message in (("k-sent", "update/clients/site/fr"), ("k-doubt", "update/clients/mail/fr")):
        box.claim(key, "release-halt", "hash", message, message.split("/")[2])
        assert box.begin_send(key)
    box.mark("k-sent", "sent", "file …")
    box.close()
    return tmp_path / "outbox.db"


def _status(path: Path, key: str) -> str | None:
    box = release.Outbox(path)
    try:
        return box.status(key)
    finally:
        box.close()


def test_outbox_lists_the_messages_in_doubt_only_unless_asked_for_all(outbox: Path) -> None:
    doubt = CliRunner().invoke(app, ["outbox"])
    assert doubt.exit_code == 0, doubt.output
    assert "k-doubt  in_doubt" in doubt.output and "k-sent" not in doubt.output
    every = CliRunner().invoke(app, ["outbox", "--all"])
    assert "k-sent" in every.output and "k-doubt" in every.output


def test_settle_as_delivered_keeps_it_from_ever_being_sent_again(outbox: Path) -> None:
    done = CliRunner().invoke(app, ["settle", "k-doubt", "--delivered", "--by", "Emma Girard",
                                    "--note", "reçu par le destinataire"])
    assert done.exit_code == 0, done.output
    assert _status(outbox, "k-doubt") == "sent"
    assert "no message in doubt" in CliRunner().invoke(app, ["outbox"]).output


def test_settle_as_resend_makes_it_pending_for_the_next_release(outbox: Path) -> None:
    done = CliRunner().invoke(app, ["settle", "k-doubt", "--resend", "--by", "Emma Girard"])
    assert done.exit_code == 0, done.output
    assert _status(outbox, "k-doubt") == "pending"


def test_only_a_message_in_doubt_can_be_settled_and_one_verdict_is_required(outbox: Path) -> None:
    sent = CliRunner().invoke(app, ["settle", "k-sent", "--resend", "--by", "Emma Girard"])
    assert sent.exit_code == 1 and "only an in-doubt message can be settled" in sent.output
    assert _status(outbox, "k-sent") == "sent"
    both = CliRunner().invoke(app, ["settle", "k-doubt", "--resend", "--delivered", "--by", "Emma Girard"])
    assert both.exit_code == 2 and _status(outbox, "k-doubt") == "sending"
