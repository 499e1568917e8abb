"""Secrets in Prefect Secret blocks: a webhook URL, an Apprise URL and the SMTP password are read at send time, and
none of them ends up in a receipt, an outbox row, a log line or an error message. One Prefect test harness (~6 s)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness

from crisiscomms.communication import release
from tests.unit.receivers import HttpReceiver, SmtpReceiver
from tests.unit.release_packs import TEXT, pack, playbook, variant

PLAYBOOK = playbook({"hook": {"kind": "webhook", "url_secret": "crisis-hook"},
                     "news": {"kind": "apprise", "url_secret": "crisis-apprise"},
                     "mail": {"kind": "email", "to": ["presse@exemple.fr"]}})
PACK = pack(variant("a.clients.hook.fr", "hook"), variant("a.clients.news.fr", "news"),
            variant("a.clients.mail.fr", "mail"))
HOOK_TOKEN, APPRISE_TOKEN, PASSWORD = "jeton-du-webhook-7f3a", "jeton-apprise-91c2", "mot-de-passe-smtp-5d1e"

pytestmark = [pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
              pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")]


def read_prefect_secret(name: str) -> str:
    """What the Prefect task passes as `secrets=`: the block's value, read at send time."""
    return str(Secret.load(name).get())


@pytest.fixture(scope="module")
def prefect_backend() -> Iterator[None]:
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), prefect_test_harness():
        yield


def test_urls_and_password_come_from_secret_blocks_and_appear_nowhere(
        tmp_path: Path, prefect_backend: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with HttpReceiver() as hook, SmtpReceiver(auth=("crisis", PASSWORD)) as smtp:
        Secret(value=f"{hook.url}/{HOOK_TOKEN}").save("crisis-hook", overwrite=True)
        Secret(value=f"json{hook.url.removeprefix('http')}/{APPRISE_TOKEN}").save("crisis-apprise", overwrite=True)
        Secret(value=PASSWORD).save("crisis-smtp-password", overwrite=True)
        for name, value in {"CRISIS_SMTP_HOST": smtp.host, "CRISIS_SMTP_PORT": str(smtp.port),
                            "CRISIS_SMTP_USER": "crisis", "CRISIS_SMTP_PASSWORD_SECRET": "crisis-smtp-password"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("CRISIS_SMTP_PASSWORD", raising=False)
        outbox = release.Outbox(tmp_path / "state.db")
        receipts = release.release(PLAYBOOK, PACK, PACK["hash"], outbox, tmp_path / "outbox",
                                   secrets=read_prefect_secret)
        rows = outbox.rows()
        outbox.close()
        assert [r.status for r in receipts] == ["sent"] * 3
        assert sorted(d.json.get("text") or d.json.get("message") for d in hook.deliveries) == [TEXT.rstrip(), TEXT]
        assert [d.text for d in smtp.deliveries] == [TEXT] and smtp.logins == ["crisis"]
        assert receipts[0].detail == "webhook (secret block crisis-hook): HTTP 200"

    seen = [str(r) for r in receipts] + [str(row) for row in rows] + [r.getMessage() for r in caplog.records]
    assert not [line for line in seen if any(s in line for s in (HOOK_TOKEN, APPRISE_TOKEN, PASSWORD))]


def test_a_missing_or_doubly_given_secret_fails_that_channel_naming_only_the_block(
        tmp_path: Path, prefect_backend: None, monkeypatch: pytest.MonkeyPatch) -> None:
    Secret(value=PASSWORD).save("crisis-smtp-password", overwrite=True)
    monkeypatch.setenv("CRISIS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CRISIS_SMTP_USER", "crisis")
    monkeypatch.setenv("CRISIS_SMTP_PASSWORD_SECRET", "crisis-smtp-password")
    monkeypatch.setenv("CRISIS_SMTP_PASSWORD", PASSWORD)
    pb = playbook({"hook": {"kind": "webhook", "url_secret": "no-such-block"},
                   "mail": {"kind": "email", "to": ["presse@exemple.fr"]}})
    two = pack(variant("a.clients.hook.fr", "hook"), variant("a.clients.mail.fr", "mail"))
    outbox = release.Outbox(tmp_path / "state.db")
    hook, mail = release.release(pb, two, two["hash"], outbox, tmp_path / "outbox", secrets=read_prefect_secret)
    outbox.close()
    assert (hook.status, mail.status) == ("failed", "failed")
    assert hook.detail == ("channel hook: the URL: the Prefect Secret block 'no-such-block' could not be read "
                           "(ValueError)")
    assert mail.detail == "SMTP password: set CRISIS_SMTP_PASSWORD or CRISIS_SMTP_PASSWORD_SECRET, not both"
