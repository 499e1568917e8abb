"""The next update is promised from the release, not from the rendering: a pack rendered at T and approved 90 min
later promises release + delay in every message it sends, over SMTP, HTTP and the file outbox, in French and in
English; a retried release promises the same time; a date and time from the fact sheet is left as is; the hash
still guards the approved texts (marker included)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.communication import release
from crisiscomms.communication.messages import NEXT_UPDATE_MARKER, PackContext, fill_next_update, render_pack
from crisiscomms.playbook.communication import FactSheet
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.project import Project
from tests.unit.receivers import Answer, HttpReceiver, SmtpReceiver
from tests.unit.release_packs import DEMO_FACTS_EN

ROOT = Path(__file__).resolve().parents[2]
RENDERED = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)  # 10:30 in Paris
RELEASED = RENDERED + timedelta(minutes=90)  # approval took an hour and a half
PROMISED = {"fr": "12 mars 2026 à 14:00 (heure de Paris)",  # released 11:00 UTC + 2 h = 14:00 Paris (CET)
            "en": "12 March 2026 at 14:00 (Paris time, CET)"}
AT_RENDERING = {"fr": "12 mars 2026 à 12:30", "en": "12 March 2026 at 12:30"}  # what the old code promised

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def playbook() -> Playbook:
    """The demo playbook, each message in French and English (its fact sheet in both), out by file (site, social),
    SMTP and a webhook."""
    data = Project(ROOT).load("rappel-produit").playbook.model_dump(by_alias=True)
    data["channels"]["email_partenaires"]["to"] = ["achats@distributeur.example"]
    data["channels"]["hook"] = {"kind": "webhook", "url_env": "CRISIS_TEST_HOOK", "audiences": ["distributeurs"]}
    both = ["fr", "en"]
    data["communication"]["facts"]["translations"] = {"en": DEMO_FACTS_EN}
    data["communication"]["messages"] = [
        {"kind": "holding_statement", "audiences": ["clients"], "channels": ["site_web"], "languages": both},
        {"kind": "social_post", "audiences": ["clients"], "channels": ["reseaux_sociaux"], "languages": both},
        {"kind": "update", "audiences": ["distributeurs"], "channels": ["email_partenaires", "hook"],
         "languages": both},
    ]
    return Playbook.model_validate(data)


def approved(pb: Playbook, facts: FactSheet | None = None, templates: Path = ROOT / "templates") -> dict[str, Any]:
    """The pack as message.pack keeps it (JSON), rendered at RENDERED."""
    pack = render_pack(pb, templates, PackContext(inputs={}, facts=facts, now=RENDERED))
    assert pack.problems == []
    return json.loads(pack.model_dump_json())


@dataclass
class Channels:
    smtp: SmtpReceiver
    hook: HttpReceiver
    outbox_dir: Path

    def sent(self) -> dict[str, dict[str, str]]:
        """Every message that reached a channel: id → subject, text and the raw bytes received."""
        out = {}
        for path in sorted(self.outbox_dir.rglob("*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            out[data["id"]] = {"subject": data["subject"], "text": data["text"], "raw": path.read_text("utf-8")}
        for delivery in self.hook.deliveries:
            data = delivery.json
            out[data["id"]] = {"subject": data["subject"], "text": data["text"], "raw": delivery.body.decode()}
        for mail in self.smtp.deliveries:
            out[mail.key] = {"subject": mail.headers["Subject"], "text": mail.text, "raw": mail.body.decode("ascii")}
        return out


@pytest.fixture
def channels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Channels]:
    with SmtpReceiver() as smtp, HttpReceiver() as hook:
        monkeypatch.setenv("CRISIS_SMTP_HOST", smtp.host)
        monkeypatch.setenv("CRISIS_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("CRISIS_SMTP_FROM", "crise@laiterie-duval.example")
        for name in ("CRISIS_SMTP_USER", "CRISIS_SMTP_PASSWORD", "CRISIS_SMTP_PASSWORD_SECRET"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("CRISIS_TEST_HOOK", f"{hook.url}/hook")
        yield Channels(smtp, hook, tmp_path / "outbox")


def _release(tmp_path: Path, pb: Playbook, pack: dict[str, Any], at: datetime, **options: Any
             ) -> list[release.Receipt]:
    outbox = release.Outbox(tmp_path / "state.db")  # opened afresh each time, as each release run does
    try:
        return release.release(pb, pack, pack["hash"], outbox, tmp_path / "outbox", sleep=lambda _: None,
                               clock=lambda: at, **options)
    finally:
        outbox.close()


def _promised(tmp_path: Path, pack: dict[str, Any]) -> datetime | None:
    outbox = release.Outbox(tmp_path / "state.db")
    try:
        return release.promised_time(pack, outbox)
    finally:
        outbox.close()


def _by_id(channels: Channels, pack: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The SMTP deliveries are keyed by idempotency key: name them by message id like the others."""
    ids = {release.idempotency_key(pack["hash"], v["id"]): v["id"] for v in pack["variants"]}
    return {ids.get(k, k): v for k, v in channels.sent().items()}


def test_a_pack_rendered_at_t_and_released_90_minutes_later_promises_the_release_plus_2_h_in_every_message(
        tmp_path: Path, channels: Channels) -> None:
    pb = playbook()
    pack = approved(pb)
    assert all(NEXT_UPDATE_MARKER in v["text"] for v in pack["variants"])  # approved with the marker

    receipts = _release(tmp_path, pb, pack, RELEASED)

    assert [r.status for r in receipts] == ["sent"] * 8
    sent = _by_id(channels, pack)
    assert sorted(sent) == sorted(v["id"] for v in pack["variants"])  # 4 by file, 2 by SMTP, 2 by webhook
    for v in pack["variants"]:
        text = sent[v["id"]]["text"]
        assert PROMISED[v["language"]] in text, (v["id"], text)
        assert AT_RENDERING[v["language"]] not in text
        # The approved bytes but for the time written in place of the marker.
        assert text == fill_next_update(v["text"], RELEASED + timedelta(hours=2), v["language"])
    assert _promised(tmp_path, pack) == RELEASED + timedelta(hours=2)


def test_the_marker_never_reaches_a_channel_in_the_subject_or_the_text(tmp_path: Path, channels: Channels) -> None:
    templates = tmp_path / "templates"
    (templates / "messages").mkdir(parents=True)
    for lang, words in (("fr", "Prochain point le"), ("en", "Next update on")):
        (templates / "messages" / f"update.{lang}.md.j2").write_text(
            f"# {{{{ facts.subject }}}} — {words} {{{{ facts.next_update }}}}\n\n{words} "
            "{{ facts.next_update }}.\n", encoding="utf-8")
    pb = playbook()
    data = pb.model_dump(by_alias=True)
    data["communication"]["messages"] = [data["communication"]["messages"][2]]  # the SMTP and webhook updates
    pb = Playbook.model_validate(data)
    pack = approved(pb, templates=templates)
    assert all(NEXT_UPDATE_MARKER in v["subject"] for v in pack["variants"])

    assert [r.status for r in _release(tmp_path, pb, pack, RELEASED)] == ["sent"] * 4

    sent = _by_id(channels, pack)
    assert len(sent) == 4
    for v in pack["variants"]:
        message = sent[v["id"]]
        assert NEXT_UPDATE_MARKER not in message["subject"] + message["text"] + message["raw"]
        assert PROMISED[v["language"]] in message["subject"] and PROMISED[v["language"]] in message["text"]


def test_a_failed_channel_retried_hours_later_promises_the_same_time(tmp_path: Path, channels: Channels) -> None:
    pb = playbook()
    pack = approved(pb)
    channels.hook.answer = lambda delivery: Answer(503)  # the webhook is down at release time
    first = _release(tmp_path, pb, pack, RELEASED)
    assert sorted(r.status for r in first) == ["failed"] * 2 + ["sent"] * 6

    channels.hook.answer = lambda delivery: Answer()  # back four hours later: the two updates go now
    retry = _release(tmp_path, pb, pack, RELEASED + timedelta(hours=4))
    assert sorted(r.status for r in retry) == ["already_sent"] * 6 + ["sent"] * 2

    sent = _by_id(channels, pack)
    hooked = [v for v in pack["variants"] if v["channel"] == "hook"]
    for v in hooked:
        assert PROMISED[v["language"]] in sent[v["id"]]["text"]  # the time the other six already promised
    assert _promised(tmp_path, pack) == RELEASED + timedelta(hours=2)


def test_a_release_halted_before_anything_left_fixes_no_time(tmp_path: Path, channels: Channels) -> None:
    pb = playbook()
    pack = approved(pb)
    halted = _release(tmp_path, pb, pack, RELEASED, halted=lambda: "kill switch on")
    assert {r.status for r in halted} == {"halted"} and channels.sent() == {}
    assert _promised(tmp_path, pack) is None  # nothing was sent: nothing was promised yet

    later = RELEASED + timedelta(hours=1)
    assert {r.status for r in _release(tmp_path, pb, pack, later)} == {"sent"}
    assert all("12 mars 2026 à 15:00 (heure de Paris)" in m["text"] or "12 March 2026 at 15:00 (Paris time, CET)"
               in m["text"] for m in channels.sent().values())
    assert _promised(tmp_path, pack) == later + timedelta(hours=2)


def test_an_absolute_next_update_is_written_at_rendering_and_left_as_is(tmp_path: Path, channels: Channels) -> None:
    pb = playbook()
    facts = FactSheet.model_validate({**pb.communication.facts.model_dump(), "next_update": "2026-03-12T18:00"})
    pack = approved(pb, facts)
    assert (pack["next_update"], pack["next_update_after"]) == ("2026-03-12T18:00:00+01:00", None)
    assert not any(NEXT_UPDATE_MARKER in v["text"] for v in pack["variants"])

    assert {r.status for r in _release(tmp_path, pb, pack, RELEASED)} == {"sent"}

    sent = _by_id(channels, pack)
    for v in pack["variants"]:
        assert sent[v["id"]]["text"] == v["text"]  # exactly the approved bytes
        said = "12 mars 2026 à 18:00 (heure de Paris)" if v["language"] == "fr" else "12 March 2026 at 18:00"
        assert said in v["text"]
    assert _promised(tmp_path, pack) == datetime(2026, 3, 12, 17, 0, tzinfo=UTC)


def _filled_in(pack: dict[str, Any]) -> None:
    pack["variants"][0]["text"] = fill_next_update(pack["variants"][0]["text"], RELEASED, "fr")


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda p: p["variants"][0].update(text=p["variants"][0]["text"] + "Ajout.\n"), id="text added"),
    pytest.param(_filled_in, id="marker filled in by hand"),
    pytest.param(lambda p: p.update(next_update_after=20 * 3600), id="delay changed"),
    pytest.param(lambda p: p.update(next_update_after=None, next_update="2026-03-20T09:00:00+01:00"),
                 id="delay swapped for a date"),
    pytest.param(lambda p: p.update(created_at="2026-03-12T06:00:00+00:00"), id="another rendering's date"),
])
def test_the_hash_check_still_refuses_a_tampered_pack(tmp_path: Path, channels: Channels, tamper: Any) -> None:
    pb = playbook()
    pack = approved(pb)
    approved_hash = pack["hash"]
    tamper(pack)
    outbox = release.Outbox(tmp_path / "state.db")
    with pytest.raises(release.ReleaseRefused, match="is not the approved"):
        release.release(pb, pack, approved_hash, outbox, tmp_path / "outbox", clock=lambda: RELEASED)
    assert channels.sent() == {} and outbox.rows() == [] and outbox.first_attempt(approved_hash) is None


def test_a_marked_pack_that_promises_nothing_is_refused_before_anything_leaves(
        tmp_path: Path, channels: Channels) -> None:
    from crisiscomms.communication.messages import Variant, content_hash

    variants = [Variant.model_validate(v) for v in approved(playbook())["variants"]]
    pack = {"variants": [v.model_dump() for v in variants], "hash": content_hash(variants)}  # no delay, no time
    with pytest.raises(release.ReleaseRefused, match="neither a delay nor a time"):
        release.release(playbook(), pack, pack["hash"], release.Outbox(tmp_path / "s.db"), tmp_path / "outbox")
    assert channels.sent() == {}
