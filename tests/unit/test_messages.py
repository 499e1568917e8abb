"""The message pack: rendered for every audience × channel × language, checked before anyone approves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.communication import messages
from crisiscomms.communication.messages import PackContext, render_pack
from crisiscomms.playbook.communication import FactSheet
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
NOW = datetime(2026, 3, 12, 9, 30, tzinfo=UTC)


def demo() -> Playbook:
    return Project(ROOT).load("rappel-produit").playbook


def with_messages(playbook: Playbook, specs: list[dict[str, Any]], **communication: Any) -> Playbook:
    data = playbook.model_dump(by_alias=True)
    data["communication"] = {**data["communication"], "messages": specs, **communication}
    return Playbook.model_validate(data)


def test_the_demo_pack_has_one_variant_per_audience_channel_and_language_and_no_problem() -> None:
    pack = render_pack(demo(), TEMPLATES, PackContext(inputs={}, now=NOW))
    assert [v.id for v in pack.variants] == [
        "holding_statement/clients/site_web/fr", "press_release/journalistes/communique_presse/fr",
        "social_post/clients/reseaux_sociaux/fr", "internal_memo/salaries/intranet/fr",
        "update/distributeurs/email_partenaires/fr",
    ]
    assert pack.problems == []
    assert all(v.subject for v in pack.variants if v.kind != "social_post")
    # `next_update: 2h` counts from the release: every text leaves the time to it, and the pack keeps the delay.
    assert all(messages.NEXT_UPDATE_MARKER in v.text for v in pack.variants)
    assert (pack.next_update, pack.next_update_after) == ("", 7200)


def test_the_hash_covers_exactly_what_would_be_sent() -> None:
    first = render_pack(demo(), TEMPLATES, PackContext(inputs={}, now=NOW))
    again = render_pack(demo(), TEMPLATES, PackContext(inputs={}, now=NOW))
    drill = render_pack(demo(), TEMPLATES, PackContext(inputs={}, now=NOW, drill=True))
    assert first.hash == again.hash == messages.content_hash(first.variants, first.model_dump())
    assert messages.read_variants(first.model_dump())[1] == first.hash
    # The delay the marker stands for is approved with the texts: another delay, another hash.
    assert messages.read_variants({**first.model_dump(), "next_update_after": 72000})[1] != first.hash
    # The same facts rendered later are another pack (released on its own), as when the time was in the texts.
    later = render_pack(demo(), TEMPLATES, PackContext(inputs={}, now=NOW + timedelta(minutes=1)))
    assert [v.text for v in later.variants] == [v.text for v in first.variants] and later.hash != first.hash
    assert drill.hash != first.hash
    assert all(v.text.startswith(("# [EXERCICE]", "[EXERCICE]")) for v in drill.variants)


def test_an_audience_that_names_no_language_is_written_to_in_the_playbooks() -> None:
    data = demo().model_dump(by_alias=True)
    data["language"] = "en"
    data["audiences"]["clients"].pop("language")
    data["audiences"]["salaries"]["language"] = "fr"
    english = Playbook.model_validate(data)
    assert (english.audiences["clients"].language, english.audiences["salaries"].language) == ("en", "fr")
    variants = {v.id for v in render_pack(english, TEMPLATES, PackContext(inputs={}, now=NOW)).variants}
    assert {"holding_statement/clients/site_web/en", "internal_memo/salaries/intranet/fr"} <= variants


def test_languages_can_be_asked_per_message() -> None:
    pb = with_messages(demo(), [{"kind": "social_post", "audiences": ["clients"], "channels": ["reseaux_sociaux"],
                                 "languages": ["fr", "en"]}])
    pack = render_pack(pb, TEMPLATES, PackContext(inputs={}, now=NOW))
    assert [v.language for v in pack.variants] == ["fr", "en"]
    assert pack.variants[1].text.endswith(f"Next update on {messages.NEXT_UPDATE_MARKER}.\n")


def test_a_message_too_long_for_its_channel_is_refused() -> None:
    data = demo().model_dump(by_alias=True)
    data["channels"]["reseaux_sociaux"]["max_length"] = 10
    pack = render_pack(Playbook.model_validate(data), TEMPLATES, PackContext(inputs={}, now=NOW))
    social = next(v for v in pack.variants if v.kind == "social_post")
    assert len(social.problems) == 1 and social.problems[0].endswith("characters, the channel allows 10")
    assert pack.problems == [f"{social.id}: {social.problems[0]}"]


@pytest.mark.parametrize(("text", "kind", "problem"), [
    ("", "update", "the message is empty"),
    ("Pas de titre\n\nCorps", "update", "no subject line (the first line must be `# Subject`)"),
    ("# Titre\n\n## Ce que nous savons\n\n## Ce que nous faisons\n- analyses\n", "update",
     "empty section 'Ce que nous savons'"),
    ("# Titre\n\nLots concernés : [À COMPLÉTER]\n", "update", "placeholder left in the text: [À COMPLÉTER]"),
    ("# Titre\n\nTODO: vérifier\n", "update", "placeholder left in the text: TODO"),
    ("# Titre\n\nBonjour {{ nom }}\n", "update", "placeholder left in the text: {{"),
])
def test_checks_name_what_is_wrong(text: str, kind: str, problem: str) -> None:
    assert problem in messages.check_text(text, kind, None)


def test_a_fact_sheet_left_unfinished_is_caught() -> None:
    facts = FactSheet(subject="Yaourt", known=["[À COMPLÉTER]"], doing=["Analyses"])
    pack = render_pack(demo(), TEMPLATES, PackContext(inputs={}, facts=facts, now=NOW))
    assert any("placeholder left in the text: [À COMPLÉTER]" in p for p in pack.problems)


def test_a_false_claim_with_template_syntax_is_quoted_verbatim_and_is_no_placeholder() -> None:
    pb = with_messages(demo(), [{"kind": "correction", "audiences": ["clients"], "channels": ["site_web"]}])
    claim = {"text": "Toute la production est contaminée {{ ''.__class__ }} {% if x %}", "truth": "Deux lots.",
             "source": ""}
    pack = render_pack(pb, TEMPLATES, PackContext(inputs={}, claim=claim, now=NOW))
    assert pack.problems == []
    assert "{{ ''.__class__ }} {% if x %}" in pack.variants[0].text


def test_a_missing_template_or_variable_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "update.fr.md.j2").write_text("# {{ facts.subject }}\n\n{{ facts.absent }}\n")
    pb = with_messages(demo(), [{"kind": "update", "audiences": ["clients"], "channels": ["site_web"]},
                                {"kind": "faq", "audiences": ["clients"], "channels": ["site_web"]}])
    pack = render_pack(pb, tmp_path, PackContext(inputs={}, now=NOW))
    assert pack.problems[0].startswith("update/clients/site_web/fr: messages/update.fr.md.j2 line 3: missing variable")
    assert pack.problems[1] == "faq/clients/site_web/fr: template messages/faq.fr.md.j2 not found in templates/"


def test_an_audience_specific_template_takes_precedence(tmp_path: Path) -> None:
    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "update.fr.md.j2").write_text("# Générique\n")
    (tmp_path / "messages" / "update.journalistes.fr.md.j2").write_text("# Pour la presse\n")
    pb = with_messages(demo(), [{"kind": "update", "audiences": ["clients", "journalistes"], "channels": ["site_web"]}])
    pack = render_pack(pb, tmp_path, PackContext(inputs={}, now=NOW))
    assert [v.subject for v in pack.variants] == ["Générique", "Pour la presse"]


def test_next_update_accepts_a_delay_or_a_date() -> None:
    assert messages.next_update_time(FactSheet(next_update="30m"), NOW) == datetime(2026, 3, 12, 10, 0, tzinfo=UTC)
    fixed = messages.next_update_time(FactSheet(next_update="2026-03-12T18:00"), NOW)
    assert messages.spoken_time(fixed, "fr") == "12 mars 2026 à 18:00 (heure de Paris)"  # always with its zone
    assert messages.spoken_time(fixed, "en") == "12 March 2026 at 18:00 (Paris time, CET)"
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert messages.spoken_time(summer, "en") == "1 July 2026 at 14:00 (Paris time, CEST)"


def test_validate_reports_unknown_audiences_channels_and_missing_templates(tmp_path: Path) -> None:
    import shutil

    from crisiscomms.errors import PlaybookError

    (tmp_path / "playbooks").mkdir()
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    (tmp_path / "prefect.yaml").write_text("name: t\n")
    (tmp_path / "playbooks" / "com.yaml").write_text(
        "id: com\nversion: 1.0.0\ntitle: Com\n"
        "audiences: {clients: {title: Clients, language: fr}, press: {title: Press, language: de}}\n"
        "channels: {web: {kind: website}}\n"
        "communication:\n"
        "  messages:\n"
        "    - {kind: update, audiences: [clients, inconnus], channels: [web, fax]}\n"
        "    - {kind: faq, audiences: [press], channels: [web]}\n"
        "phases: {}\n", encoding="utf-8")
    with pytest.raises(PlaybookError) as error:
        Project(tmp_path).check(tmp_path / "playbooks" / "com.yaml")
    assert [(i.line, i.path, i.message) for i in error.value.issues] == [
        (8, "communication.messages[0].audiences[1]", "unknown audience 'inconnus' (known: clients, press)"),
        (8, "communication.messages[0].channels[1]", "unknown channel 'fax' (known: web)"),
        (9, "communication.messages[1].kind", "template 'messages/faq.de.md.j2' not found in templates/"),
    ]
