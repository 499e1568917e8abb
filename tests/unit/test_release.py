"""Release of an approved pack: only the approved texts, each message once, failures reported and retried."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from crisiscomms.communication import release
from crisiscomms.communication.messages import PackContext, fill_next_update, render_pack
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)
RELEASED = NOW + timedelta(minutes=30)


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []
    fail_next = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.fail_next:
            Receiver.fail_next -= 1
            self.send_response(503)
        else:
            Receiver.received.append((self.headers["Idempotency-Key"], body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Receiver]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CRISIS_TEST_WEBHOOK", f"http://127.0.0.1:{server.server_address[1]}/hook")
    Receiver.received, Receiver.fail_next = [], 0
    yield Receiver
    server.shutdown()


def playbook() -> Playbook:
    data = Project(ROOT).load("rappel-produit").playbook.model_dump(by_alias=True)
    data["channels"]["email_partenaires"] = {"kind": "webhook", "url_env": "CRISIS_TEST_WEBHOOK",
                                             "audiences": ["distributeurs"]}
    return Playbook.model_validate(data)


def approved(pb: Playbook) -> dict[str, Any]:
    return json.loads(render_pack(pb, ROOT / "templates", PackContext(inputs={}, now=NOW)).model_dump_json())


def test_every_message_leaves_once_and_the_webhook_receives_the_approved_bytes(
        tmp_path: Path, receiver: type[Receiver]) -> None:
    pb, outbox = playbook(), release.Outbox(tmp_path / "state.db")
    pack = approved(pb)
    receipts = release.release(pb, pack, pack["hash"], outbox, tmp_path / "outbox", sleep=lambda _: None,
                               clock=lambda: RELEASED)
    assert [r.status for r in receipts] == ["sent"] * 5
    (key, body), = receiver.received
    sent = json.loads(body)
    webhook = next(v for v in pack["variants"] if v["channel"] == "email_partenaires")
    # The approved bytes, with only the promised time (release + 2 h) written in place of the marker.
    written = fill_next_update(webhook["text"], RELEASED + timedelta(hours=2), "fr")
    assert "12 mars 2026 à 13:00 (heure de Paris)" in written  # 10:00 UTC + 2 h, Paris time (CET)
    assert (sent["text"], sent["idempotency_key"], key) == (written, key, release.idempotency_key(pack["hash"], webhook["id"]))
    files = sorted((tmp_path / "outbox").rglob("*.json"))
    assert len(files) == 4 and all(json.loads(f.read_text())["text"] for f in files)

    again = release.release(pb, pack, pack["hash"], outbox, tmp_path / "outbox", sleep=lambda _: None)
    assert [r.status for r in again] == ["already_sent"] * 5
    assert len(receiver.received) == 1


def test_texts_changed_after_approval_are_refused_and_nothing_leaves(tmp_path: Path, receiver: type[Receiver]) -> None:
    pb = playbook()
    pack = approved(pb)
    approved_hash = pack["hash"]
    pack["variants"][0]["text"] += "Ajout non approuvé.\n"
    with pytest.raises(release.ReleaseRefused, match="is not the approved"):
        release.release(pb, pack, approved_hash, release.Outbox(tmp_path / "s.db"), tmp_path / "outbox")
    assert receiver.received == [] and not (tmp_path / "outbox").exists()


def test_a_transient_failure_is_retried_and_a_dead_channel_reported_without_resending_the_others(
        tmp_path: Path, receiver: type[Receiver]) -> None:
    pb, outbox = playbook(), release.Outbox(tmp_path / "state.db")
    pack = approved(pb)
    receiver.fail_next = 1  # one 503, then fine
    first = release.release(pb, pack, pack["hash"], outbox, tmp_path / "outbox", sleep=lambda _: None)
    assert all(r.status == "sent" for r in first) and len(receiver.received) == 1

    other = approved(pb)  # same pack, channel down this time: only the webhook is retried on the next run
    pb_down = playbook()
    receiver.received.clear()
    outbox2 = release.Outbox(tmp_path / "other.db")
    receiver.fail_next = 99
    down = release.release(pb_down, other, other["hash"], outbox2, tmp_path / "outbox2", sleep=lambda _: None)
    assert [r.status for r in down].count("failed") == 1 and "after 3 tries" in next(r.detail for r in down if r.status == "failed")
    receiver.fail_next = 0
    retry = release.release(pb_down, other, other["hash"], outbox2, tmp_path / "outbox2", sleep=lambda _: None)
    assert sorted(r.status for r in retry) == ["already_sent"] * 4 + ["sent"]
    assert len(receiver.received) == 1


def test_a_missing_webhook_secret_fails_that_channel_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRISIS_TEST_WEBHOOK", raising=False)
    pb = playbook()
    pack = approved(pb)
    receipts = release.release(pb, pack, pack["hash"], release.Outbox(tmp_path / "s.db"), tmp_path / "o")
    failed = [r for r in receipts if r.status == "failed"]
    assert len(failed) == 1 and "CRISIS_TEST_WEBHOOK holds no URL" in failed[0].detail
