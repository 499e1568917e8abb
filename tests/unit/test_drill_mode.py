"""A drill's stack (CRISIS_DRILL set): whatever the playbook or the pack says, nothing leaves by a real channel,
every crisis opened is a drill."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from crisiscomms import drillmode
from crisiscomms.review import crises
from tasks.release import _send
from tests.unit.receivers import HttpReceiver, SmtpReceiver
from tests.unit.release_packs import pack, playbook, variant

# Apprise imports imghdr (deprecated in Python 3.11, gone in 3.13): its warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

PLAYBOOK = playbook({"hook": {"kind": "webhook", "url_env": "CRISIS_TEST_HOOK"},
                     "news": {"kind": "apprise", "url_env": "CRISIS_TEST_APPRISE"},
                     "mail": {"kind": "email", "to": ["presse@example.org"]}})
PACK = pack(variant("alerte.clients.hook.fr", "hook"), variant("alerte.clients.news.fr", "news"),
            variant("alerte.clients.mail.fr", "mail"))


@pytest.fixture
def live(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[HttpReceiver, SmtpReceiver]]:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))
    with HttpReceiver() as hook, SmtpReceiver() as smtp:
        monkeypatch.setenv("CRISIS_TEST_HOOK", f"{hook.url}/hook")
        monkeypatch.setenv("CRISIS_TEST_APPRISE", f"json{hook.url.removeprefix('http')}/apprise")
        monkeypatch.setenv("CRISIS_SMTP_HOST", smtp.host)
        monkeypatch.setenv("CRISIS_SMTP_PORT", str(smtp.port))
        yield hook, smtp


def test_in_a_drill_stack_a_pack_not_marked_drill_still_goes_to_the_drill_outbox_only(
        live: tuple[HttpReceiver, SmtpReceiver], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook, smtp = live
    assert not PACK.get("drill")
    monkeypatch.setenv(drillmode.DRILL, "drill-1")
    receipts, _ = _send(tmp_path, PLAYBOOK, PACK, PACK["hash"])
    assert [r.status for r in receipts] == ["sent"] * 3
    assert hook.counts() == {} and smtp.counts() == {}
    kept = sorted((tmp_path / "state" / "outbox" / "exercice").rglob("*.json"))
    assert len(kept) == 3 and {json.loads(p.read_text())["channel"] for p in kept} == {"hook", "news", "mail"}


def test_outside_a_drill_the_same_pack_reaches_the_receivers(live: tuple[HttpReceiver, SmtpReceiver],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook, smtp = live
    monkeypatch.delenv(drillmode.DRILL, raising=False)
    receipts, _ = _send(tmp_path, PLAYBOOK, PACK, PACK["hash"])
    assert [r.status for r in receipts] == ["sent"] * 3
    assert sum(hook.counts().values()) == 2 and sum(smtp.counts().values()) == 1  # the test can see a send


def test_a_crisis_opened_in_a_drill_stack_is_a_drill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "drill"))
    monkeypatch.setenv(drillmode.DRILL, "drill-1")
    assert crises.join_or_open(tmp_path, "demo", "Demo", "monitoring").drill
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "real"))
    monkeypatch.delenv(drillmode.DRILL)
    assert not crises.join_or_open(tmp_path, "demo", "Demo", "monitoring").drill
