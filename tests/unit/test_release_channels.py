"""Release to a real HTTP receiver, directly (webhook) and through Apprise; the file outbox after a crash; the
kill switch; secrets kept out of receipts, outbox rows and logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from crisiscomms.communication import channels, release
from crisiscomms.communication.messages import Variant
from crisiscomms.playbook.models import Channel
from tests.unit.receivers import Answer, HttpReceiver
from tests.unit.release_packs import TEXT, pack, playbook, variant

HOOK, NEWS, PAGE = (variant("alerte.clients.hook.fr", "hook"), variant("alerte.clients.news.fr", "news"),
                    variant("alerte.clients.page.fr", "page"))
PACK = pack(HOOK, NEWS, PAGE)
PLAYBOOK = playbook({"hook": {"kind": "webhook", "url_env": "CRISIS_TEST_HOOK"},
                     "news": {"kind": "apprise", "url_env": "CRISIS_TEST_APPRISE", "title": "Mattermost"},
                     "page": {"kind": "website"}})
TOKEN = "jeton-tres-secret-42"

# Apprise imports imghdr (deprecated in Python 3.11, gone in 3.13): its warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def key(v: Variant) -> str:
    return release.idempotency_key(PACK["hash"], v.id)


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        monkeypatch.setenv("CRISIS_TEST_HOOK", f"{receiver.url}/{TOKEN}")
        monkeypatch.setenv("CRISIS_TEST_APPRISE", apprise_url(receiver))
        yield receiver


def apprise_url(receiver: HttpReceiver, query: str = "") -> str:
    """Apprise's generic JSON service posting to the receiver (`query`: Apprise options, e.g. `?rto=0.3`)."""
    return f"json{receiver.url.removeprefix('http')}/{TOKEN}{query}"


def _release(tmp_path: Path, **options: object) -> dict[str, release.Receipt]:
    outbox = release.Outbox(tmp_path / "state.db")
    try:
        receipts = release.release(PLAYBOOK, PACK, PACK["hash"], outbox, tmp_path / "outbox", sleep=lambda _: None,
                                   **options)  # type: ignore[arg-type]
    finally:
        outbox.close()
    return {r.channel: r for r in receipts}


def _rows(tmp_path: Path) -> dict[str, dict]:
    outbox = release.Outbox(tmp_path / "state.db")
    try:
        return {row["channel"]: row for row in outbox.rows(PACK["hash"])}
    finally:
        outbox.close()


def test_webhook_and_apprise_deliver_the_approved_text_with_the_key(tmp_path: Path, hook: HttpReceiver) -> None:
    receipts = _release(tmp_path)
    assert {c: r.status for c, r in receipts.items()} == {"hook": "sent", "news": "sent", "page": "sent"}
    direct, through_apprise = sorted(hook.deliveries, key=lambda d: "message" in d.json)
    assert (direct.key, direct.json["idempotency_key"], direct.json["text"]) == (key(HOOK), key(HOOK), TEXT)
    assert (through_apprise.key, through_apprise.json["idempotency_key"]) == (key(NEWS), key(NEWS))
    # Apprise trims trailing white space off every body (NotifyBase.rstrip); not a character more or less.
    assert (through_apprise.json["message"], through_apprise.json["title"]) == (TEXT.rstrip(), "Rappel de précaution")
    assert receipts["news"].detail == "apprise (env CRISIS_TEST_APPRISE): accepted"

    again = _release(tmp_path)
    assert {r.status for r in again.values()} == {"already_sent"} and len(hook.deliveries) == 2


@pytest.mark.parametrize("channel", ["hook", "news"])
def test_a_5xx_is_retried_and_a_4xx_refused_at_once(tmp_path: Path, hook: HttpReceiver, channel: str) -> None:
    wanted = key(HOOK if channel == "hook" else NEWS)
    answers = iter([Answer(503), Answer(200)])
    hook.answer = lambda d: next(answers) if d.key == wanted else Answer(200)
    assert _release(tmp_path / "a")[channel].status == "sent" and hook.counts()[wanted] == 1

    hook.reset()
    hook.answer = lambda d: Answer(404) if d.key == wanted else Answer(200)
    refused = _release(tmp_path / "b")[channel]
    assert refused.status == "failed" and "404" in refused.detail and "tries" not in refused.detail
    assert hook.requests == 2 and wanted not in hook.counts()  # one try for the refused one, one for the other


@pytest.mark.parametrize("channel", ["hook", "news"])
def test_a_receiver_too_slow_to_answer_leaves_the_message_in_doubt(
        tmp_path: Path, hook: HttpReceiver, channel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "TIMEOUT", 0.3)
    monkeypatch.setenv("CRISIS_TEST_APPRISE", apprise_url(hook, "?rto=0.3"))  # Apprise's own read timeout
    wanted = key(HOOK if channel == "hook" else NEWS)
    hook.answer = lambda d: Answer(200, delay=0.8) if d.key == wanted else Answer(200)
    receipt = _release(tmp_path)[channel]
    assert receipt.status == "in_doubt"
    hook.wait_idle()
    assert _release(tmp_path)[channel].status == "in_doubt"
    assert hook.counts()[wanted] == 1


@pytest.mark.parametrize("channel", ["hook", "news"])
def test_a_receiver_that_is_down_is_retried_then_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, channel: str) -> None:
    with HttpReceiver() as gone:
        url = gone.url
    monkeypatch.setenv("CRISIS_TEST_HOOK", url)
    monkeypatch.setenv("CRISIS_TEST_APPRISE", apprise_url(gone))
    receipt = _release(tmp_path)[channel]
    assert receipt.status == "failed" and f"after {release.RETRIES} tries" in receipt.detail


def test_secret_urls_stay_out_of_receipts_rows_and_logs(
        tmp_path: Path, hook: HttpReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hook.answer = lambda d: Answer(503)  # failures: the path where an error text could quote the URL
    failed = _release(tmp_path / "a")
    hook.answer = lambda d: Answer(200)
    sent = _release(tmp_path / "b")
    everything = [str(r) for r in [*failed.values(), *sent.values()]]
    everything += [str(row) for row in [*_rows(tmp_path / "a").values(), *_rows(tmp_path / "b").values()]]
    everything += [record.getMessage() for record in caplog.records]
    assert {failed["hook"].status, failed["news"].status, sent["hook"].status, sent["news"].status} == {
        "failed", "sent"}
    assert not [text for text in everything if TOKEN in text]


def test_a_url_that_is_not_http_is_refused_without_quoting_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_TEST_HOOK", f"ftp://user:{TOKEN}@example.invalid/x")
    monkeypatch.setenv("CRISIS_TEST_APPRISE", f"nosuchservice://{TOKEN}")
    receipts = _release(tmp_path)
    assert receipts["hook"].detail == "webhook (env CRISIS_TEST_HOOK): not an http(s) URL"
    assert receipts["news"].detail == "apprise (env CRISIS_TEST_APPRISE): not a URL Apprise knows"


def test_a_channel_names_exactly_one_url_source() -> None:
    with pytest.raises(ValueError, match=r"exactly one of `url_env`.*or `url_secret`.*both are given"):
        Channel(kind="apprise", url_env="X_URL", url_secret="x-url")
    with pytest.raises(ValueError, match="neither is given"):
        Channel(kind="webhook")
    with pytest.raises(ValueError, match="`url_secret` goes with kinds webhook and apprise only, not `email`"):
        Channel(kind="email", url_secret="x-url")


def test_a_secret_block_without_a_reader_fails_that_channel_clearly(tmp_path: Path, hook: HttpReceiver) -> None:
    pb = playbook({"hook": {"kind": "webhook", "url_secret": "crisis-hook"}})
    one = pack(variant("alerte.clients.hook.fr", "hook"))
    outbox = release.Outbox(tmp_path / "s.db")
    (receipt,) = release.release(pb, one, one["hash"], outbox, tmp_path / "o")
    assert receipt.status == "failed" and "Prefect Secret block 'crisis-hook'" in receipt.detail
    assert "no secret reader was given" in receipt.detail and hook.requests == 0


class Crash(BaseException):
    """The process dying mid-send, as far as the release can tell (nothing catches it)."""


def test_the_file_outbox_settles_an_interrupted_send_by_itself(tmp_path: Path, hook: HttpReceiver) -> None:
    def written_then_crash(v: Variant, channel: Channel, k: str) -> str:
        release.file_sender(tmp_path / "written" / "outbox")(v, channel, k)
        raise Crash

    def crash_before_writing(v: Variant, channel: Channel, k: str) -> str:
        raise Crash

    target = f"outbox/page/{key(PAGE)}.json"
    for state, sender, expected in (
            (tmp_path / "written", written_then_crash, "found delivered after an interrupted attempt"),
            (tmp_path / "unwritten", crash_before_writing, f"file {tmp_path / 'unwritten' / target}")):
        with pytest.raises(Crash):
            _release(state, senders={"page": sender})
        assert _rows(state)["page"]["status"] == "sending"
        receipt = _release(state)["page"]
        assert (receipt.status, receipt.detail) == ("sent", expected)
        assert (state / target).is_file()


def test_an_interrupted_webhook_send_is_in_doubt_and_not_resent(tmp_path: Path, hook: HttpReceiver) -> None:
    def sent_then_crash(v: Variant, channel: Channel, k: str) -> str:
        release.send_webhook(v, channel, k)
        raise Crash

    with pytest.raises(Crash):
        _release(tmp_path, senders={"hook": sent_then_crash})
    receipt = _release(tmp_path)["hook"]
    assert receipt.status == "in_doubt" and f"Idempotency-Key {key(HOOK)}" in receipt.detail
    assert hook.counts()[key(HOOK)] == 1


def test_the_kill_switch_holds_every_send_and_leaves_the_rows_claimable(tmp_path: Path, hook: HttpReceiver) -> None:
    receipts = _release(tmp_path, halted=lambda: "kill switch: released by mistake?")
    assert {(r.status, r.detail) for r in receipts.values()} == {("halted", "kill switch: released by mistake?")}
    assert hook.requests == 0 and not (tmp_path / "outbox").exists()
    assert {row["status"] for row in _rows(tmp_path).values()} == {"pending"}
    assert {r.status for r in _release(tmp_path).values()} == {"sent"}


def test_the_kill_switch_is_asked_before_every_try(tmp_path: Path, hook: HttpReceiver) -> None:
    hook.answer = lambda d: Answer(503)
    asked: list[str] = []

    def halted() -> str | None:  # pulled after the first failed try of the webhook
        asked.append("?")
        return "halted by the duty officer" if hook.requests else None

    receipts = _release(tmp_path, halted=halted)
    assert (receipts["hook"].status, hook.requests) == ("halted", 1)
    assert _rows(tmp_path)["hook"]["status"] == "pending" and len(asked) == 4


def test_a_text_longer_than_the_apprise_service_takes_is_refused_not_cut(
        tmp_path: Path, hook: HttpReceiver) -> None:
    long = variant("alerte.clients.news.fr", "news", text="Rappel. " * 5000)  # 40 000 characters, json:// takes 32 768
    one = pack(long)
    outbox = release.Outbox(tmp_path / "s.db")
    (receipt,) = release.release(PLAYBOOK, one, one["hash"], outbox, tmp_path / "o", sleep=lambda _: None)
    outbox.close()
    assert (receipt.status, hook.requests) == ("failed", 0)
    assert receipt.detail == "apprise (env CRISIS_TEST_APPRISE): the text has 40000 characters, the service takes 32768"
