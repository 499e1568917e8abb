"""Facts in every language a playbook writes in: each audience reads the fact sheet and the claim in its own
language; validation refuses a missing or a partial translation; an approver's edit changes every language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.communication.answer import parse_edits
from crisiscomms.communication.chain import ApprovalChain, decide
from crisiscomms.communication.fake_approver import FakeApprover, FakeClock, Reply
from crisiscomms.communication.messages import Pack, PackContext, Variant, render_pack
from crisiscomms.playbook.communication import FactTexts
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.sections import section_findings
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
# Words that only the other language uses: one of them in a message means a sentence of that language.
FOREIGN = {"en": re.compile(r"\b(est|les|des|nous|une|pour|avec|sont|dans|qui)\b", re.IGNORECASE),
           "fr": re.compile(r"\b(the|and|our|we|is|are|with|to|of)\b", re.IGNORECASE)}
URL = re.compile(r"https?://\S+")
# The scenarios that write to an audience in a second language, and that language.
BILINGUAL = [("plainte-virale", "en"), ("fuite-de-donnees", "en"), ("accident-industriel", "en"),
             ("executive-misconduct", "fr"), ("service-outage", "fr"), ("false-rumour", "fr")]


def scenario(name: str) -> Playbook:
    return Project(ROOT).load(name).playbook


def every_pack(playbook: Playbook) -> list[Variant]:
    """The first pack, the correction of the first declared claim (as a claim.spread step hands it) and the
    all-clear: every message the playbook declares."""
    claim = playbook.communication.claims[0]
    spread = {"text": claim.claim, "truth": claim.truth, "source": claim.source}
    contexts = [PackContext(inputs={}, now=NOW),
                PackContext(inputs={}, now=NOW, kinds=["correction"], claim=spread, claim_id=claim.id),
                PackContext(inputs={}, now=NOW, kinds=["all_clear"])]
    return [v for context in contexts for v in render_pack(playbook, TEMPLATES, context).variants]


def sentences(sheet: FactTexts) -> list[str]:
    return [sheet.subject, sheet.summary, *sheet.known, *sheet.doing, *sheet.advice]


def own_words(text: str, playbook: Playbook, audience: str) -> str:
    """The message as the template and the facts wrote it: links and the audience's label (the playbook's name for
    it, never read as a fact) set aside."""
    return URL.sub(" ", text.replace(playbook.audiences[audience].title, " "))


@pytest.mark.parametrize(("name", "language"), BILINGUAL)
def test_an_audience_reading_another_language_gets_the_facts_and_the_claim_in_its_own(name: str,
                                                                                      language: str) -> None:
    playbook = scenario(name)
    facts, claim = playbook.communication.facts, playbook.communication.claims[0]
    theirs = facts.in_language(language)
    untranslated = [s for s in sentences(facts) if s not in sentences(theirs)]  # a site's name stays as it is
    variants = [v for v in every_pack(playbook) if v.language == language]
    assert {v.kind for v in variants} >= {"correction", "all_clear"}
    for v in variants:
        assert v.problems == [], v.id
        assert [s for s in untranslated if s in v.text] == [], v.id
        assert not FOREIGN[language].search(own_words(v.text, playbook, v.audience)), v.id
        if v.kind != "social_post":  # a short post may give up its summary to fit
            assert theirs.summary in v.text, v.id
    corrections = [v.text for v in variants if v.kind == "correction"]
    words = claim.translations[language]
    assert all(words.claim in text and words.truth in text and claim.truth not in text for text in corrections)


def test_the_english_message_of_a_french_playbook_reads_entirely_in_english() -> None:
    playbook = scenario("plainte-virale")
    (statement,) = [v for v in every_pack(playbook) if v.id == "holding_statement/voyageurs_anglophones/site_web/en"]
    assert statement.subject == "Flight CG 412 Marseille–Lille — statement from Cigalia"
    assert "- The passenger had requested boarding assistance when she booked.\n" in statement.text
    assert "passagère" not in statement.text and "fauteuil" not in statement.text


def test_the_french_messages_name_the_subject_only_in_their_title() -> None:
    # "au sujet de Fuite de données clients", "concernant Vol CG 412": a label is no noun phrase in a sentence.
    for name in ("rappel-produit", *(n for n, _ in BILINGUAL)):
        playbook = scenario(name)
        for v in every_pack(playbook):
            subject = playbook.communication.facts.in_language(v.language).subject
            if v.language == "fr" and v.kind != "social_post":
                assert subject in v.subject, v.id
                assert not re.search(rf"(au sujet de|concernant) {re.escape(subject)}", v.text), v.id


def _playbook(**facts: Any) -> Playbook:
    return Playbook.model_validate({
        "id": "p", "version": "1", "title": "T", "language": "fr", "phases": {},
        "audiences": {"clients": {"title": "Clients"}, "clients_en": {"title": "Clients", "language": "en"}},
        "channels": {"site": {"kind": "website", "audiences": ["clients", "clients_en"]}},
        "communication": {"facts": facts, "messages": [
            {"kind": "holding_statement", "audiences": ["clients", "clients_en"], "channels": ["site"]}]}})


def test_a_language_written_to_needs_the_fact_sheet_in_it_unless_the_sheet_is_empty() -> None:
    assert section_findings(_playbook(next_update="1h")) == []
    assert section_findings(_playbook(summary="Deux lots.")) == [
        (("communication", "facts"), "audience clients_en is written to in en but the fact sheet has no en version: "
         "give it under `translations: {en: …}`", True)]
    assert section_findings(_playbook(summary="Deux lots.", translations={"en": {"summary": "Two batches."}})) == []


# The approver's edits. Rule: a field edited in one language of the pack is edited in all of them, or the answer is
# refused (the stage asks again); the pack is then re-rendered, every language from its own sheet, and the whole
# chain approves the new texts. No message goes out with facts an edit replaced in its other languages.

def _chain(playbook: Playbook, pack: Pack) -> ApprovalChain:
    approval = {"default": [{"roles": ["juridique"], "timeout": "30m"}]}
    team = {"juridique": {"title": "Juridique", "members": [{"name": "Sophie Lefèvre"}, {"name": "Karim Benali"}]}}
    data = {**playbook.model_dump(by_alias=True), "team": team}
    data["communication"] = {**data["communication"], "approval": approval}
    return ApprovalChain.for_pack(Playbook.model_validate(data), _record(pack), None)


def _record(pack: Pack) -> dict[str, Any]:
    return {"hash": pack.hash, "path": f"/packs/{pack.hash[:8]}.json", "author": "",
            "variants": [v.id for v in pack.variants]}


FR_ONLY = "summary: Une passagère n'a pas pu embarquer ; l'enquête est confiée à un cabinet indépendant."
BOTH = FR_ONLY + ("\ntranslations:\n  en:\n    summary: A passenger could not board; the investigation is entrusted "
                  "to an independent firm.")


def test_an_edit_in_one_language_is_refused_and_one_in_every_language_re_renders_each_from_its_own_sheet() -> None:
    playbook = scenario("plainte-virale")
    first = render_pack(playbook, TEMPLATES, PackContext(inputs={}, now=NOW))
    chain, packs = _chain(playbook, first), []

    def rerender(edits: dict[str, Any]) -> dict[str, Any]:
        facts = playbook.communication.facts.edited(edits)
        packs.append(render_pack(playbook, TEMPLATES, PackContext(inputs={}, now=NOW, facts=facts)))
        return _record(packs[-1])

    fake = FakeApprover([Reply("Sophie Lefèvre", "request_changes", edits=FR_ONLY),
                         Reply("Sophie Lefèvre", "request_changes", edits=BOTH), Reply("Karim Benali")],
                        FakeClock(START))
    assert decide(chain, fake, rerender) == "approved"
    assert fake.verdicts[0].refused == ("edits not usable, nothing was decided: summary edited but not in en: its "
                                        "messages would keep the old facts; give the en version too, under "
                                        "`translations: {en: …}`")
    (pack,) = packs
    assert chain.pack["hash"] == pack.hash != first.hash and pack.problems == []
    texts = {v.language: "".join(x.text for x in pack.variants if x.language == v.language) for v in pack.variants}
    assert "l'enquête est confiée à un cabinet indépendant" in texts["fr"]
    assert "the investigation is entrusted to an independent firm" in texts["en"]
    old = playbook.communication.facts
    assert old.summary not in texts["fr"] and old.in_language("en").summary not in texts["en"]
    assert old.known[0] in texts["fr"] and old.in_language("en").known[0] in texts["en"]  # the rest is kept


def test_edits_need_only_the_languages_of_the_pack_and_give_the_playbooks_own_at_the_top_level() -> None:
    english_only = "translations:\n  en: {summary: Two batches.}"
    assert parse_edits("request_changes", english_only, ("fr", ["en"])) == (
        {"translations": {"en": {"summary": "Two batches."}}}, None)
    assert parse_edits("request_changes", "next_update: 1h", ("fr", ["en", "fr"])) == ({"next_update": "1h"}, None)
    _, wrong = parse_edits("request_changes", "translations:\n  fr: {summary: Deux lots.}", ("fr", ["fr"]))
    assert wrong == ("edits not usable, nothing was decided: translations.fr: fr is the playbook's language: give "
                     "its fields at the top level")


def test_a_re_rendered_pack_whose_languages_no_longer_say_the_same_facts_is_refused() -> None:
    playbook = scenario("plainte-virale")
    facts = playbook.communication.facts.edited({"known": ["Un seul fait."], "translations": {"en": {
        "known": ["One fact.", "And another."]}}})
    pack = render_pack(playbook, TEMPLATES, PackContext(inputs={}, now=NOW, facts=facts))
    assert {p.split(": ", 1)[1] for p in pack.problems} == {
        "fact sheet in en: `known` has 1 item(s) in fr but 2 in en"}
    assert {p.split(":", 1)[0].rsplit("/", 1)[1] for p in pack.problems} == {"en"}
