"""The pack leaves the next update to the release: its length check counts the marker as the longest time it can
become, the approver page explains the marker above texts it shows unchanged, and the pack header says the delay
(or the date and time, with its zone) as the messages will."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

from crisiscomms.communication import messages, page_html
from crisiscomms.communication.messages import NEXT_UPDATE_MARKER, PackContext, check_text, render_pack
from crisiscomms.playbook.communication import FactSheet
from crisiscomms.playbook.models import Playbook
from crisiscomms.report import reporting
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)
LONGEST = {"fr": "30 septembre 2026 à 23:59 (heure de Paris)", "en": "30 September 2026 at 23:59 (Paris time, CEST)"}


def demo(**channels: Any) -> Playbook:
    data = Project(ROOT).load("rappel-produit").playbook.model_dump(by_alias=True)
    for name, limit in channels.items():
        data["channels"][name]["max_length"] = limit
    return Playbook.model_validate(data)


def test_the_marker_counts_as_the_longest_time_it_can_become() -> None:
    assert messages.longest_next_update("fr") == len(LONGEST["fr"])
    assert messages.longest_next_update("en") == len(LONGEST["en"])
    post = f"Rappel de lots.\nProchain point le {NEXT_UPDATE_MARKER}."
    sent = len(post.replace(NEXT_UPDATE_MARKER, LONGEST["fr"]))
    assert messages.sent_length(post, "fr") == sent
    assert check_text(post, "social_post", sent, language="fr") == []
    assert check_text(post, "social_post", sent - 1, language="fr") == [
        f"{sent} characters once the next-update time is written in, the channel allows {sent - 1}"]


def test_the_placeholder_check_does_not_flag_the_marker() -> None:
    text = f"# Point de situation\n\nNous communiquerons de nouveau le {NEXT_UPDATE_MARKER}.\n"
    assert check_text(text, "update", None, language="fr") == []


def test_the_length_check_refuses_a_social_post_that_would_overflow_once_the_time_is_written_in(
        tmp_path: Path) -> None:
    (tmp_path / "messages").mkdir()
    # A house template that fits its post by the length it sees, marker included: too short a margin.
    (tmp_path / "messages" / "social_post.fr.md.j2").write_text(
        "{{ facts.subject }} : prochain point le {{ facts.next_update }}.\n", encoding="utf-8")
    with_marker = len(f"{demo().communication.facts.subject} : prochain point le {NEXT_UPDATE_MARKER}.")
    data = demo(reseaux_sociaux=with_marker + 5).model_dump(by_alias=True)
    data["communication"]["messages"] = [{"kind": "social_post", "audiences": ["clients"],
                                          "channels": ["reseaux_sociaux"]}]
    pack = render_pack(Playbook.model_validate(data), tmp_path, PackContext(inputs={}, now=NOW))
    (post,) = pack.variants
    assert len(post.text.strip()) <= with_marker + 5  # it fits as rendered...
    (problem,) = post.problems  # ...but not once released: refused before anyone approves it
    assert problem.endswith(f"once the next-update time is written in, the channel allows {with_marker + 5}")


def test_the_product_social_post_gives_up_the_promise_rather_than_overflow_once_released() -> None:
    # Advice + promise: 163 characters with the marker, 192 with the longest time. At 180 it would have fitted
    # as rendered and overflowed as sent: the template drops the promise instead, as for any short channel.
    for limit, promise in ((180, False), (192, True)):
        pack = render_pack(demo(reseaux_sociaux=limit), ROOT / "templates", PackContext(inputs={}, now=NOW))
        social = next(v for v in pack.variants if v.kind == "social_post")
        assert pack.problems == [] and (NEXT_UPDATE_MARKER in social.text) is promise
        assert len(social.text.strip().replace(NEXT_UPDATE_MARKER, LONGEST["fr"])) <= limit


class _Page:
    """The approver page's message section: the note, and every `<pre class="text">` as a browser reads it."""

    def __init__(self, pack: dict[str, Any]) -> None:
        self.html = page_html._messages(pack)
        self.texts = [unescape(t).removeprefix("\n")
                      for t in re.findall(r'<pre class="text">(.*?)</pre>', self.html, re.S)]
        note = re.search(r'<p class="card meta" id="next-update">(.*?)</p>', self.html, re.S)
        self.note = unescape(re.sub(r"<[^>]+>", "", note.group(1))) if note else None


def test_the_approver_page_explains_the_marker_and_shows_the_texts_exactly_as_approved() -> None:
    pack = json.loads(render_pack(demo(), ROOT / "templates", PackContext(inputs={}, now=NOW)).model_dump_json())
    page = _Page(pack)
    assert page.texts == [v["text"] for v in pack["variants"]]  # the marker stays: this is what is approved
    assert page.note is not None and page.note.startswith(
        f"{NEXT_UPDATE_MARKER} is replaced, when the pack is released, by the release time + 2 h, e.g. ")
    assert page.note.endswith(" (Paris time, CET) if released now.") or page.note.endswith(
        " (Paris time, CEST) if released now.")
    assert page.html.index('id="next-update"') < page.html.index('<pre class="text">')  # above the messages


def test_a_pack_with_a_date_and_time_has_no_marker_and_no_note() -> None:
    pb = demo()
    facts = FactSheet.model_validate({**pb.communication.facts.model_dump(), "next_update": "2026-03-12T18:00"})
    pack = json.loads(render_pack(pb, ROOT / "templates", PackContext(inputs={}, facts=facts, now=NOW))
                      .model_dump_json())
    page = _Page(pack)
    assert page.note is None and page.texts == [v["text"] for v in pack["variants"]]
    assert all("12 mars 2026 à 18:00 (heure de Paris)" in t for t in page.texts if "Prochain point" in t)


def test_the_pack_header_says_the_delay_or_the_time_with_its_zone_as_the_messages_do() -> None:
    pb = demo()
    delayed = render_pack(pb, ROOT / "templates", PackContext(inputs={}, now=NOW)).model_dump()
    header = reporting.pack_markdown(pb, delayed).splitlines()[2]
    assert header == ("5 message(s) · next update: 2 h after the release (the time is written into each message "
                      "when it is released, Europe/Paris time)")
    facts = FactSheet.model_validate({**pb.communication.facts.model_dump(), "next_update": "2026-03-12T18:00"})
    fixed = render_pack(pb, ROOT / "templates", PackContext(inputs={}, facts=facts, now=NOW)).model_dump()
    assert reporting.pack_markdown(pb, fixed).splitlines()[2] == (
        "5 message(s) · next update promised for 12 March 2026 at 18:00 (Paris time, CET)")
    # Its lengths are the lengths once sent, the marker counted as the longest time.
    social = next(v for v in delayed["variants"] if v["kind"] == "social_post")
    row = next(line for line in reporting.pack_markdown(pb, delayed).splitlines() if line.startswith("| social_post"))
    assert row.endswith(f"| {messages.sent_length(social['text'], 'fr')} / 280 |")
