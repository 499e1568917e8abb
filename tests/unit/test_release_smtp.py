"""Release by e-mail to a real SMTP server (aiosmtpd on 127.0.0.1): the approved text arrives, keyed; 4xx is
retried with backoff, 5xx reported, a cut after the data reported in doubt and never resent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crisiscomms.communication import channels, release
from tests.unit.receivers import Answer, SmtpReceiver
from tests.unit.release_packs import TEXT, pack, playbook, variant

PLAYBOOK = playbook({"courriel": {"kind": "email", "to": ["presse@exemple.fr", "astreinte@exemple.fr"]}})
PACK = pack(variant("communique.clients.courriel.fr", "courriel"))
KEY = release.idempotency_key(PACK["hash"], "communique.clients.courriel.fr")

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        _point_at(monkeypatch, server)
        yield server


def _point_at(monkeypatch: pytest.MonkeyPatch, server: SmtpReceiver) -> None:
    monkeypatch.setenv("CRISIS_SMTP_HOST", server.host)
    monkeypatch.setenv("CRISIS_SMTP_PORT", str(server.port))
    monkeypatch.setenv("CRISIS_SMTP_FROM", "crise@exemple.fr")
    for name in ("CRISIS_SMTP_USER", "CRISIS_SMTP_PASSWORD", "CRISIS_SMTP_PASSWORD_SECRET"):
        monkeypatch.delenv(name, raising=False)


def _release(tmp_path: Path, sleeps: list[float] | None = None, the_pack: dict | None = None) -> list[release.Receipt]:
    outbox = release.Outbox(tmp_path / "state.db")
    try:
        return release.release(PLAYBOOK, the_pack or PACK, PACK["hash"], outbox, tmp_path / "outbox",
                                sleep=(sleeps if sleeps is not None else []).append)
    finally:
        outbox.close()


def test_the_server_receives_the_approved_text_with_the_key_as_message_id(
        tmp_path: Path, smtp: SmtpReceiver) -> None:
    (receipt,) = _release(tmp_path)
    assert receipt.status == "sent" and f"Message-ID <{KEY}@crisiscomms>" in receipt.detail
    (mail,) = smtp.deliveries
    assert mail.text == TEXT
    assert (mail.key, mail.headers["Message-ID"]) == (KEY, f"<{KEY}@crisiscomms>")
    assert mail.headers["Subject"] == "Rappel de précaution"
    assert mail.headers["To"] == "presse@exemple.fr, astreinte@exemple.fr"
    assert mail.headers["X-Envelope-To"] == "presse@exemple.fr, astreinte@exemple.fr"
    assert mail.body.isascii()  # 7-bit on the wire: any relay passes it unchanged

    (again,) = _release(tmp_path)
    assert again.status == "already_sent" and len(smtp.deliveries) == 1


def test_a_text_changed_after_approval_is_refused_before_connecting(tmp_path: Path, smtp: SmtpReceiver) -> None:
    tampered = {**PACK, "variants": [{**PACK["variants"][0], "text": TEXT + "Ajout non approuvé.\n"}]}
    with pytest.raises(release.ReleaseRefused, match="is not the approved"):
        _release(tmp_path, the_pack=tampered)
    assert smtp.requests == 0 and smtp.deliveries == []


def test_a_transient_4xx_answer_is_retried_with_backoff(tmp_path: Path, smtp: SmtpReceiver) -> None:
    answers = iter([Answer(451), Answer(451), Answer(250)])
    smtp.answer = lambda delivery: next(answers)
    sleeps: list[float] = []
    (receipt,) = _release(tmp_path, sleeps)
    assert receipt.status == "sent"
    assert sleeps == [release.BACKOFF, 2 * release.BACKOFF]
    assert (smtp.requests, len(smtp.deliveries)) == (3, 1)


def test_a_4xx_that_lasts_fails_after_the_retries_and_the_next_release_sends_it(
        tmp_path: Path, smtp: SmtpReceiver) -> None:
    smtp.answer = lambda delivery: Answer(451)
    (receipt,) = _release(tmp_path)
    assert receipt.status == "failed" and "451" in receipt.detail and f"after {release.RETRIES} tries" in receipt.detail
    assert smtp.deliveries == []
    smtp.answer = lambda delivery: Answer(250)
    (retried,) = _release(tmp_path)
    assert retried.status == "sent" and smtp.counts() == {KEY: 1}


def test_a_5xx_answer_is_reported_failed_at_once(tmp_path: Path, smtp: SmtpReceiver) -> None:
    smtp.answer = lambda delivery: Answer(554)
    sleeps: list[float] = []
    (receipt,) = _release(tmp_path, sleeps)
    assert (receipt.status, sleeps, smtp.requests) == ("failed", [], 1)
    assert "554" in receipt.detail and smtp.deliveries == []


def test_a_server_too_slow_to_confirm_leaves_the_message_in_doubt_never_resent_until_settled(
        tmp_path: Path, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "TIMEOUT", 0.3)
    smtp.answer = lambda delivery: Answer(250, delay=0.6)
    (receipt,) = _release(tmp_path)
    assert receipt.status == "in_doubt" and f"Message-ID <{KEY}@crisiscomms>" in receipt.detail
    smtp.wait_idle()
    (again,) = _release(tmp_path)
    assert again.status == "in_doubt" and "check the recipients' mailboxes" in again.detail
    assert smtp.counts() == {KEY: 1}

    outbox = release.Outbox(tmp_path / "state.db")
    assert [row["key"] for row in outbox.in_doubt()] == [KEY]
    outbox.settle(KEY, "sent", "seen in the server log")
    with pytest.raises(release.CrisisError, match="only an in-doubt message can be settled"):
        outbox.settle(KEY, "retry")
    outbox.close()
    (settled,) = _release(tmp_path)
    assert settled.status == "already_sent" and smtp.counts() == {KEY: 1}


def test_an_in_doubt_message_settled_for_retry_is_sent_by_the_next_release(
        tmp_path: Path, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "TIMEOUT", 0.3)
    smtp.answer = lambda delivery: Answer(451, delay=0.6)  # slow AND refused: it did not arrive
    assert _release(tmp_path)[0].status == "in_doubt"
    smtp.wait_idle()
    outbox = release.Outbox(tmp_path / "state.db")
    outbox.settle(KEY, "retry", "not in the server log")
    outbox.close()
    smtp.answer = lambda delivery: Answer(250)
    assert _release(tmp_path)[0].status == "sent" and smtp.counts() == {KEY: 1}


def test_login_with_the_password_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpReceiver(auth=("crisis", "mot-de-passe-smtp")) as server:
        _point_at(monkeypatch, server)
        monkeypatch.setenv("CRISIS_SMTP_USER", "crisis")
        monkeypatch.setenv("CRISIS_SMTP_PASSWORD", "mot-de-passe-smtp")
        (receipt,) = _release(tmp_path)
        assert receipt.status == "sent" and server.logins == ["crisis"] and server.counts() == {KEY: 1}


def test_a_wrong_password_fails_at_once_and_is_not_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpReceiver(auth=("crisis", "mot-de-passe-smtp")) as server:
        _point_at(monkeypatch, server)
        monkeypatch.setenv("CRISIS_SMTP_USER", "crisis")
        monkeypatch.setenv("CRISIS_SMTP_PASSWORD", "pas-le-bon-secret")
        sleeps: list[float] = []
        (receipt,) = _release(tmp_path, sleeps)
        assert (receipt.status, sleeps, server.logins, server.requests) == ("failed", [], [], 0)
        assert "535" in receipt.detail and "pas-le-bon-secret" not in receipt.detail


def test_an_unreachable_server_is_retried_then_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpReceiver() as server:
        _point_at(monkeypatch, server)
    sleeps: list[float] = []  # the server is stopped: connection refused, nothing handed over
    (receipt,) = _release(tmp_path, sleeps)
    assert receipt.status == "failed" and len(sleeps) == release.RETRIES - 1 and "after 3 tries" in receipt.detail
