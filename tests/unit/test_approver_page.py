"""The approver page: a personal link shows the pack exactly as it will leave and decides once; anything forged,
expired, reused, altered or oversized is refused with a clear page and changes nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from crisiscomms.communication import signing
from crisiscomms.communication.approval import ApprovalStore, StageRecord
from crisiscomms.communication.approver_page import create_app
from crisiscomms.communication.messages import Variant, content_hash

HOSTILE = ("Communiqué <script>alert(1)</script> fin.\n<!-- caché --> visible\n__gras__ et **étoiles**\n"
           "![img](https://attacker.example/pixel.png) {{ 7*7 }} {% if x %}\n  indenté\n")


class FakeRuns:
    """The Prefect side: the run waits on one pause; resuming records the input and the flow's verdict."""

    def __init__(self, state: Path, verdict: tuple[str, str] | None = ("accepted", "")) -> None:
        self.state, self.verdict, self.key, self.resumed = state, verdict, "approval-0", []
        self.end: str | None = None

    def pause_key(self, run_id: str) -> str | None:
        return self.key

    def ended(self, run_id: str) -> str | None:
        return self.end


    def resume(self, run_id: str, run_input: dict[str, Any]) -> str | None:
        self.resumed.append(run_input)
        if self.verdict is not None:  # None: the run has not taken it yet (a worker still has to pick it up)
            store = ApprovalStore(self.state)
            store.record_answer(run_id, self.key, *self.verdict)
            store.close()
        self.key = None  # the run moves on
        return None


class Texts(HTMLParser):
    """The text of every `<pre class="text">`, as a browser's textContent gives it."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre" and ("class", "text") in attrs:
            self._in, self.texts = True, [*self.texts, ""]

    def handle_endtag(self, tag: str) -> None:
        if self._in and tag == "pre":  # a browser drops the one newline that opens a <pre>; the page writes one
            self.texts[-1] = self.texts[-1].removeprefix("\n")
        self._in = self._in and tag != "pre"

    def handle_data(self, data: str) -> None:
        if self._in:
            self.texts[-1] += data


def _pack(folder: Path) -> tuple[Path, dict[str, Any]]:
    variants = [Variant(id=f"holding_statement/clients/site/{lang}", kind="holding_statement", audience="clients",
                        channel="site", language=lang, template="t", subject="Objet", text=HOSTILE + lang)
                for lang in ("fr", "en")]
    pack = {"playbook": "demo", "version": "1", "created_at": "", "next_update": "", "drill": True,
            "variants": [v.model_dump() for v in variants], "hash": content_hash(variants)}
    path = folder / "pack.json"
    path.write_text(json.dumps(pack), encoding="utf-8")
    return path, pack


@pytest.fixture
def page(tmp_path: Path) -> Any:
    state = tmp_path / "state"
    path, pack = _pack(tmp_path)
    now = datetime.now(UTC)
    stage = StageRecord(stage_id="run-1/validation/0/1", run_id="run-1", playbook="demo", title="Démo", step="v",
                        number=1, of=2, roles=["juridique"], approvers=[{"name": "Sophie Lefèvre", "role": "juridique",
                                                                         "email": None, "notify": None}],
                        hash=pack["hash"], pack_path=str(path), opened_at=now.isoformat(),
                        deadline=(now + timedelta(minutes=30)).isoformat(), via=["link", "ui"], drill=True,
                        decisions=[{"stage": 0, "decision": "approve", "name": "Ex", "role": "r", "comment":
                                    "<b>earlier</b>", "at": "t"}])
    store = ApprovalStore(state)
    store.open_stage(stage)
    store.waiting_on(stage.stage_id, "approval-0", stage.decisions)
    store.close()
    runs = FakeRuns(state)
    client = TestClient(create_app(state, runs, verdict_wait=2, sleep=lambda s: None))
    key = signing.load_key(state)
    return client, runs, key, stage, pack


def _link(key: bytes, stage: StageRecord, person: str = "Sophie Lefèvre", digest: str | None = None,
          expires: float | None = None, link_id: str = "L1") -> str:
    return signing.sign(key, "link", {"s": stage.stage_id, "p": person, "h": digest or stage.hash,
                                      "x": int(expires or time.time() + 600), "i": link_id})


def _csrf(key: bytes, link_id: str = "L1") -> str:
    return signing.sign(key, "form", {"i": link_id})


def test_the_page_shows_every_message_byte_equal_to_what_leaves_and_loads_nothing(page: Any) -> None:
    client, runs, key, stage, pack = page
    response = client.get(f"/approve/{_link(key, stage)}")
    assert response.status_code == 200
    parser = Texts()
    parser.feed(response.text)
    assert parser.texts == [v["text"] for v in pack["variants"]]
    assert "<script" not in response.text and "<img" not in response.text and "<!--" not in response.text
    assert "&lt;b&gt;earlier&lt;/b&gt;" in response.text  # earlier comments, as text
    assert stage.hash in response.text and "EXERCICE" in response.text
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert runs.resumed == []  # opening a link never decides


@pytest.mark.parametrize(("token", "status", "says"), [
    ("abc", 403, "not complete"),
    ("x" * 5000, 403, "not complete"),
    ("eyJrIjoibGluayJ9.AAAA", 403, "not issued by this crisis stack"),
])
def test_malformed_or_forged_links_are_refused_with_a_clear_page(page: Any, token: str, status: int,
                                                                  says: str) -> None:
    client, runs, *_ = page
    for response in (client.get(f"/approve/{token}"), client.post(f"/approve/{token}", data={"decision": "approve"})):
        assert response.status_code == status and says in response.text
    assert runs.resumed == []


def test_expired_other_key_other_hash_other_person_and_truncated_links_change_nothing(page: Any) -> None:
    client, runs, key, stage, _ = page
    cases = {
        _link(key, stage, expires=time.time() - 1): "expired",
        _link(b"k" * 32, stage): "not issued by this crisis stack",
        _link(key, stage, digest="0" * 64): "not made for this stage or this version of the pack",
        _link(key, stage, person="Claire Martin"): "not made for this stage",
        _link(key, stage)[:-3]: "not issued by this crisis stack",
    }
    for token, says in cases.items():
        response = client.post(f"/approve/{token}", data={"decision": "approve", "csrf": _csrf(key)})
        assert response.status_code == 403 and says in response.text, (says, response.text)
    assert runs.resumed == []


def test_a_decision_posts_once_with_a_receipt_signed_for_exactly_it(page: Any) -> None:
    client, runs, key, stage, _ = page
    token = _link(key, stage)
    response = client.post(f"/approve/{token}", data={"decision": "reject", "comment": "Pas {{ 7*7 }}",
                                                      "csrf": _csrf(key)})
    assert response.status_code == 200 and "Recorded." in response.text
    (answer,) = runs.resumed
    assert (answer["decision"], answer["name"], answer["comment"]) == ("reject", "Sophie Lefèvre", "Pas {{ 7*7 }}")
    receipt = signing.verify(key, "receipt", answer["link_receipt"])
    assert (receipt["s"], receipt["h"], receipt["d"], receipt["c"]) == (
        stage.stage_id, stage.hash, "reject", signing.digest("Pas {{ 7*7 }}"))
    runs.key = "approval-1"  # waiting again (another stage member, say)
    again = client.post(f"/approve/{token}", data={"decision": "approve", "csrf": _csrf(key)})
    assert again.status_code == 409 and "a link decides once" in again.text
    shown = client.get(f"/approve/{token}")
    assert "You answered <b>reject</b>" in shown.text and 'name="csrf"' not in shown.text
    assert len(runs.resumed) == 1


def test_a_refused_answer_is_said_as_a_refusal(page: Any, tmp_path: Path) -> None:
    client, runs, key, stage, _ = page
    runs.verdict = ("refused", "'Sophie Lefèvre' prepared this pack: its author cannot approve it")
    response = client.post(f"/approve/{_link(key, stage)}", data={"decision": "approve", "csrf": _csrf(key)})
    assert "Refused: &#x27;Sophie Lefèvre&#x27; prepared this pack" in response.text


@pytest.mark.parametrize(("data", "status", "says"), [
    ({"decision": "approve"}, 403, "anti-forgery token"),
    ({"decision": "approve", "csrf": "x.y"}, 403, "anti-forgery token"),
    ({"decision": "approve", "csrf": "é€𝄞"}, 403, "anti-forgery token"),  # any text, never a server error
    ({"decision": "publish"}, 400, "choose approve, reject or request changes"),
    ({"decision": "approve", "comment": "a\x1bb\x00"}, 400, "control characters (U+0000, U+001B)"),
    ({"decision": "approve", "comment": "x" * 4001}, 413, "at most 4000 characters"),
    ({"decision": "approve", "comment": "x" * 1_000_000}, 413, "at most 4000 characters"),
    ({"decision": "approve", "comment": "ok \u202egnp.exe"}, 400, "control characters (U+202E)"),
])
def test_bad_posts_get_a_clear_page_and_record_nothing(page: Any, data: dict[str, str], status: int,
                                                       says: str) -> None:
    client, runs, key, stage, _ = page
    if "csrf" not in data and status != 403:
        data = {**data, "csrf": _csrf(key)}
    response = client.post(f"/approve/{_link(key, stage)}", data=data)
    assert response.status_code == status and says in response.text, response.text
    assert runs.resumed == []
    assert "csrf" in client.get(f"/approve/{_link(key, stage)}").text  # the link is still unused


def test_a_run_not_waiting_for_this_stage_takes_nothing(page: Any) -> None:
    client, runs, key, stage, _ = page
    runs.key = "another-pause"
    response = client.post(f"/approve/{_link(key, stage)}", data={"decision": "approve", "csrf": _csrf(key)})
    assert response.status_code == 409 and "not waiting for this stage" in response.text
    assert runs.resumed == []


def test_the_view_link_shows_the_pack_read_only(page: Any) -> None:
    client, _, key, stage, pack = page
    token = signing.sign(key, "view", {"s": stage.stage_id, "h": stage.hash, "x": int(time.time()) + 60})
    response = client.get(f"/approve/view/{token}")
    parser = Texts()
    parser.feed(response.text)
    assert parser.texts == [v["text"] for v in pack["variants"]] and "<form" not in response.text
    assert client.get(f"/approve/view/{_link(key, stage)}").status_code == 403  # a link is not a view token


def test_line_breaks_count_as_typed_and_a_run_that_ended_takes_nothing(page: Any) -> None:
    client, runs, key, stage, _ = page
    comment = "ligne\r\n" * 660  # 4,620 characters as sent by a browser, 3,960 as typed
    response = client.post(f"/approve/{_link(key, stage)}", data={"decision": "approve", "comment": comment,
                                                                  "csrf": _csrf(key)})
    assert response.status_code == 200 and runs.resumed[0]["comment"] == "ligne\n" * 660
    runs.end = "Cancelled (halted by Claire Martin: lot mal identifié)"
    other = _link(key, stage, link_id="L2")
    shown = client.get(f"/approve/{other}")
    assert "the run ended: Cancelled (halted by Claire Martin" in shown.text and 'name="csrf"' not in shown.text
    posted = client.post(f"/approve/{other}", data={"decision": "approve", "csrf": _csrf(key, "L2")})
    assert posted.status_code == 409 and "the run ended: Cancelled" in posted.text
    assert len(runs.resumed) == 1


def test_a_pack_file_changed_after_its_check_is_a_clear_page_not_a_server_error(page: Any) -> None:
    client, _, key, stage, pack = page
    Path(stage.pack_path).write_text(json.dumps({**pack, "variants": pack["variants"][:1]}), encoding="utf-8")
    response = client.get(f"/approve/{_link(key, stage)}")
    assert response.status_code == 409 and "no longer holds the texts this stage is about" in response.text


def test_a_decision_not_yet_confirmed_says_so_and_the_page_looks_again_by_get(page: Any) -> None:
    client, runs, key, stage, _ = page
    runs.verdict = None
    token = _link(key, stage)
    response = client.post(f"/approve/{token}", data={"decision": "approve", "csrf": _csrf(key)})
    assert response.status_code == 200 and "has not confirmed it yet" in response.text
    assert f'http-equiv="refresh" content="3; url=/approve/{token}"' in response.text  # a GET: never posted again
    assert len(runs.resumed) == 1
