"""The message templates of the communication phase (templates/messages/<kind>.<lang>.md.j2), rendered alone.

Every kind in French and English, for several audiences and channels, with a full fact sheet and a minimal one:
the format the product checks before approval (subject line, non-empty sections, no placeholder, no run of blank
lines, no trailing space), the drill prefix, the next-update promise, the length of short posts, and data that
looks like Jinja (`{{ 7*7 }}`) coming out verbatim. Rendering only: no Prefect, no NLP model.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from crisiscomms.communication.messages import (
    NEXT_UPDATE_MARKER,
    TIMEZONE,
    check_text,
    fill_next_update,
    longest_next_update,
)
from crisiscomms.playbook.rendering import check_source, environment, render_file

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
KINDS = ("holding_statement", "press_release", "social_post", "internal_memo", "faq", "update", "correction",
         "all_clear")
LANGS = ("fr", "en")
AUDIENCE_KINDS = ("media", "government", "ngo", "business", "employees", "public", "influencers", "witnesses", "other")
MAIN_AUDIENCES = ("public", "media", "employees", "government")
CHANNELS = {  # kind → max_length
    "email": None, "webhook": None, "social": 280, "press": None, "intranet": None, "sms": 160, "phone": None,
    "file": None, "website": None,
}
PROMISE_NEXT_UPDATE = {"update", "holding_statement", "press_release", "social_post", "correction"}
ALLOWED_NAMES = {"org", "facts", "audience", "channel", "message", "assessment", "claim"}
DRILL = {"fr": "[EXERCICE] ", "en": "[DRILL] "}
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\bTODO\b|\bXXX\b|\bTBD\b|\[(?:À COMPLÉTER|A COMPLETER|TBD|TODO|…|\.\.\.)\]",
                         re.IGNORECASE)
INJECTIONS = ("{{ 7*7 }}", "{{ ''.__class__ }}", "{% if true %}x{% endif %}")

FACTS = {
    "fr": {
        "subject": "Yaourt nature bio 4 × 125 g",
        "summary": "Des consommateurs signalent un goût anormal sur deux lots de yaourt nature bio.",
        "known": ["Deux lots sont concernés : L26061 et L26062, date limite du 20 mars 2026",
                  "Aucun cas de malaise n'a été signalé à ce jour"],
        "doing": ["Analyses en laboratoire indépendant, résultats attendus sous 48 heures",
                  "Retrait préventif des deux lots dans tous les points de vente"],
        "advice": ["Ne consommez pas les yaourts des lots L26061 et L26062.",
                   "Rapportez-les en magasin : ils vous seront remboursés."],
        "next_update": "12 mars 2026 à 14:00",
        "faq": [{"question": "Les autres lots sont-ils concernés ?",
                 "answer": "Non, seuls les lots L26061 et L26062 sont concernés à ce stade."}],
    },
    "en": {
        "subject": "Organic plain yoghurt 4 × 125 g",
        "summary": "Customers have reported an unusual taste in two batches of organic plain yoghurt.",
        "known": ["Two batches are affected: L26061 and L26062, best before 20 March 2026",
                  "No illness has been reported to date"],
        "doing": ["Tests by an independent laboratory, results expected within 48 hours",
                  "Precautionary withdrawal of both batches from all shops"],
        "advice": ["Do not eat yoghurts from batches L26061 and L26062.",
                   "Return them to the shop for a full refund."],
        "next_update": "12 March 2026 at 14:00",
        "faq": [{"question": "Are other batches affected?",
                 "answer": "No, only batches L26061 and L26062 are affected at this stage."}],
    },
}
CLAIMS = {
    "fr": {"text": "Des morceaux de verre auraient été trouvés dans les yaourts Duval",
           "truth": "Aucun morceau de verre n'a été trouvé : les analyses portent sur le goût du produit.",
           "source": "https://www.laiterie-duval.fr/analyses"},
    "en": {"text": "Pieces of glass were supposedly found in Duval yoghurts",
           "truth": "No glass has been found: the tests concern the taste of the product.",
           "source": "https://www.laiterie-duval.fr/analyses"},
}
ASSESSMENT = {"priority": "p1", "audiences_hit": ["clients", "journalistes"], "mentions": 4242, "score": 0.93}


def context(kind: str, lang: str, audience: str = "public", channel: str = "website", *, drill: bool = False,
            minimal: bool = False, max_length: int | None = -1) -> dict[str, Any]:
    """The values the product passes to a message template (messages._values), with realistic content."""
    facts = copy.deepcopy(FACTS[lang])
    org = {"name": "Laiterie Duval", "spokesperson": "Julien Roche", "website": "https://www.laiterie-duval.fr",
           "contact": "presse@laiterie-duval.fr"}
    assessment: dict[str, Any] | None = copy.deepcopy(ASSESSMENT)
    claim: dict[str, Any] | None = dict(CLAIMS[lang]) if kind == "correction" else None
    if minimal:
        facts.update(known=[], doing=[], advice=[], faq=[])
        org.update(website="", contact="")
        assessment = None
        if claim:
            claim["source"] = ""
    return {
        "org": org,
        "facts": facts,
        "audience": {"name": f"{audience}_{lang}", "title": f"Audience {audience}", "kind": audience,
                     "language": lang},
        "channel": {"name": channel, "title": channel.title(), "kind": channel,
                    "max_length": CHANNELS[channel] if max_length == -1 else max_length},
        "message": {"kind": kind, "language": lang, "drill": drill, "next_update_longest": len(facts["next_update"])},
        "assessment": assessment,
        "claim": claim,
        "inputs": {"marque": "Laiterie Duval", "exercice": drill},
        "playbook": {"id": "rappel-produit", "version": "1.0", "title": "Rappel produit"},
    }


def bare(ctx: dict[str, Any]) -> dict[str, Any]:
    """A fact sheet as thin as the playbook model allows: no subject, no summary, no spokesperson."""
    ctx["facts"].update(subject="", summary="", known=[], doing=[], advice=[], faq=[])
    ctx["org"].update(spokesperson="", website="", contact="")
    ctx["assessment"] = None
    return ctx


ENV = environment(TEMPLATES)  # the product's environment (render_file's), kept so each template compiles once


def render(kind: str, lang: str, ctx: dict[str, Any]) -> str:
    return ENV.get_template(f"messages/{kind}.{lang}.md.j2").render(**ctx)


def problems(text: str, kind: str, lang: str, ctx: dict[str, Any], data: tuple[str, ...] = ()) -> list[str]:
    """What the product's pre-approval check would refuse, plus the house rules of these templates."""
    found = []
    body = text.strip()
    lines = text.split("\n")
    if not body:
        return ["empty"]
    if kind == "social_post":
        if any(line.startswith("#") for line in lines):
            found.append("a social post has no heading")
    else:
        if not (lines[0].startswith("# ") and lines[0][2:].strip()):
            found.append(f"line 1 is not a subject line: {lines[0]!r}")
        if sum(line.startswith("# ") for line in lines) != 1:
            found.append("more than one level-1 heading")
    headings = [k for k, line in enumerate(lines) if line.startswith("## ")]
    for k, start in enumerate(headings):
        end = headings[k + 1] if k + 1 < len(headings) else len(lines)
        if not "\n".join(lines[start + 1 : end]).strip():
            found.append(f"empty section {lines[start]!r}")
        if not lines[start][3:].strip():
            found.append("a heading without a title")
    own = text
    for value in sorted(data, key=len, reverse=True):
        own = own.replace(value, " ")
    found += [f"placeholder {m.group()!r}" for m in PLACEHOLDER.finditer(own)]
    if "\n\n\n" in text:
        found.append("two blank lines in a row")
    if text.startswith("\n") or not text.endswith("\n") or text.endswith("\n\n"):
        found.append("blank lines around the text")
    found += [f"trailing space on line {k + 1}" for k, line in enumerate(lines) if line != line.rstrip()]
    if "\t" in text:
        found.append("a tab")
    if re.search(r"^\s*[*•+] ", text, re.MULTILINE):
        found.append("a list item not written with '- '")
    if "None" in own or "{'" in own or "['" in own:
        found.append("a Python value leaked into the text")
    first = body if kind == "social_post" else lines[0][2:]
    drill = ctx["message"]["drill"]
    if drill and not first.startswith(DRILL[lang]):
        found.append(f"drill without {DRILL[lang]!r} in front")
    if not drill and ("[EXERCICE]" in text or "[DRILL]" in text):
        found.append("drill prefix outside a drill")
    if kind in PROMISE_NEXT_UPDATE and ctx["facts"]["next_update"] not in text:
        found.append("no next-update promise")
    if lang == "en" and "«" in own:
        found.append("French guillemets in English")
    if lang == "fr" and "“" in own:
        found.append("English quotes in French")
    limit = ctx["channel"]["max_length"]
    if limit is not None and len(body) > limit:
        found.append(f"{len(body)} characters, the channel allows {limit}")
    return found


def cases(kind: str, lang: str) -> list[tuple[str, dict[str, Any]]]:
    channels = ("social", "sms", "website") if kind == "social_post" else ("email", "website", "intranet", "press")
    out = []
    for k, audience in enumerate(AUDIENCE_KINDS):
        channel = channels[k % len(channels)]
        for drill in (False, True):
            label = f"{audience}/{channel}/drill={drill}"
            out.append((f"full {label}", context(kind, lang, audience, channel, drill=drill)))
            out.append((f"minimal {label}", context(kind, lang, audience, channel, drill=drill, minimal=True)))
            if audience in MAIN_AUDIENCES:
                out.append((f"bare {label}", bare(context(kind, lang, audience, channel, drill=drill))))
    return out


def test_one_template_per_kind_and_language() -> None:
    found = sorted(p.name for p in (TEMPLATES / "messages").glob("*.md.j2") if p.name.count(".") == 3)
    assert found == sorted(f"{kind}.{lang}.md.j2" for kind in KINDS for lang in LANGS)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_render_file_renders_them_as_the_tests_do(kind: str, lang: str) -> None:
    ctx = context(kind, lang, "media", drill=True)
    assert render_file(TEMPLATES, f"messages/{kind}.{lang}.md.j2", ctx) == render(kind, lang, ctx)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_misspelt_variable_would_raise(kind: str, lang: str) -> None:
    ctx = context(kind, lang)
    del ctx["facts"]["subject"]
    with pytest.raises(jinja2.UndefinedError):
        render(kind, lang, ctx)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_templates_use_only_the_documented_variables(kind: str, lang: str) -> None:
    check = check_source((TEMPLATES / "messages" / f"{kind}.{lang}.md.j2").read_text(encoding="utf-8"))
    assert check.error is None
    assert check.names <= ALLOWED_NAMES, check.names - ALLOWED_NAMES


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_audience_and_context_renders_in_the_checked_format(kind: str, lang: str) -> None:
    failures = {}
    for label, ctx in cases(kind, lang):
        text = render(kind, lang, ctx)
        if found := problems(text, kind, lang, ctx):
            failures[label] = found
    assert not failures, failures


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_full_context_carries_the_facts(kind: str, lang: str) -> None:
    ctx = context(kind, lang, "public")
    text = render(kind, lang, ctx)
    assert ctx["facts"]["subject"] in text
    if kind == "social_post":
        assert ctx["facts"]["advice"][0] in text  # what to do comes before anything else in a short post
        return
    for item in ctx["facts"]["advice"]:
        assert f"- {item}" in text
    if kind not in ("holding_statement",):
        assert ctx["facts"]["summary"] in text
    if kind in ("press_release", "update", "internal_memo", "faq", "all_clear"):
        for item in ctx["facts"]["known"] + ctx["facts"]["doing"]:
            assert f"- {item}" in text
    if kind == "faq":
        entry = ctx["facts"]["faq"][0]
        assert f"## {entry['question']}\n\n{entry['answer']}\n" in text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_minimal_context_leaves_no_empty_heading_or_contact_line(kind: str, lang: str) -> None:
    ctx = context(kind, lang, "public", minimal=True)
    text = render(kind, lang, ctx)
    assert "http" not in text.replace(CLAIMS[lang]["source"], "") if kind == "correction" else "http" not in text
    assert "@" not in text
    assert not re.search(r"^- ?$", text, re.MULTILINE)
    assert not re.search(r"(:|: )$", text, re.MULTILINE)  # no label left without its value


@pytest.mark.parametrize("lang", LANGS)
def test_social_post_fits_a_post_and_an_sms(lang: str) -> None:
    full = render("social_post", lang, context("social_post", lang, "public", "social"))
    assert len(full.strip()) <= 280
    assert FACTS[lang]["advice"][0] in full and "https://www.laiterie-duval.fr" in full  # nothing given up at 280
    assert FACTS[lang]["next_update"] in full and full.strip().endswith(FACTS[lang]["next_update"] + ".")
    unlimited = render("social_post", lang, context("social_post", lang, "public", "website"))
    assert len(unlimited.strip()) <= 280

    ctx = context("social_post", lang, "public", "sms", drill=True)
    ctx["org"]["name"] = "Duval"
    ctx["facts"].update(subject="Yaourt bio" if lang == "fr" else "Organic yoghurt",
                        summary="Goût anormal sur 2 lots." if lang == "fr" else "Unusual taste in 2 batches.",
                        advice=["Ne pas consommer L26061/62." if lang == "fr" else "Do not eat L26061/62."])
    sms = render("social_post", lang, ctx)
    assert len(sms.strip()) <= 160, sms
    assert sms.startswith(DRILL[lang] + "Duval")
    for part in (ctx["facts"]["summary"], ctx["facts"]["advice"][0], ctx["facts"]["next_update"]):
        assert part in sms


@pytest.mark.parametrize("limit", [100, 120, 160, 200, 280])
@pytest.mark.parametrize("lang", LANGS)
def test_social_post_gives_up_details_rather_than_the_limit(lang: str, limit: int) -> None:
    ctx = context("social_post", lang, "public", "sms", drill=True, max_length=limit)
    text = render("social_post", lang, ctx)
    assert len(text.strip()) <= limit, text
    assert text.startswith(DRILL[lang] + "Laiterie Duval — " + FACTS[lang]["subject"])
    advice, promise = FACTS[lang]["advice"][0], FACTS[lang]["next_update"]
    assert advice in text or promise in text  # what to do, else when we speak next: never the subject alone
    if limit >= 200:
        assert advice in text and promise in text
    if limit == 100:  # the advice cannot fit: the promise is given instead
        assert promise in text


@pytest.mark.parametrize("limit", [100, 120, 160, 200, 280])
@pytest.mark.parametrize("lang", LANGS)
def test_social_post_with_the_next_update_marker_fits_once_the_longest_time_is_written_in(lang: str,
                                                                                          limit: int) -> None:
    ctx = context("social_post", lang, "public", "sms", max_length=limit)
    ctx["facts"]["next_update"] = NEXT_UPDATE_MARKER
    ctx["message"]["next_update_longest"] = longest_next_update(lang)
    text = render("social_post", lang, ctx)
    assert check_text(text, "social_post", limit, language=lang) == []
    longest = datetime(2026, 9, 30, 23, 59, tzinfo=ZoneInfo(TIMEZONE))  # septembre, summer time: the longest
    assert len(fill_next_update(text, longest, lang).strip()) <= limit
    if limit >= 200:
        assert NEXT_UPDATE_MARKER in text


@pytest.mark.parametrize("lang", LANGS)
def test_social_post_without_advice_keeps_the_promise_before_the_summary(lang: str) -> None:
    ctx = context("social_post", lang, "employees", "sms", minimal=True)
    text = render("social_post", lang, ctx)
    assert len(text.strip()) <= 160
    assert FACTS[lang]["next_update"] in text


@pytest.mark.parametrize("lang", LANGS)
def test_social_post_too_long_for_the_channel_is_left_for_the_product_to_report(lang: str) -> None:
    ctx = context("social_post", lang, "public", "sms", max_length=20)
    text = render("social_post", lang, ctx)
    assert text.strip() == "Laiterie Duval — " + FACTS[lang]["subject"]
    assert f"{len(text.strip())} characters, the channel allows 20" in problems(text, "social_post", lang, ctx)


@pytest.mark.parametrize("lang", LANGS)
def test_correction_states_the_facts_before_the_claim_and_never_headlines_it(lang: str) -> None:
    for audience in MAIN_AUDIENCES:
        ctx = context("correction", lang, audience)
        text = render("correction", lang, ctx)
        claim = CLAIMS[lang]
        subject_line = text.splitlines()[0]
        assert claim["text"] not in subject_line
        assert not any(claim["text"] in line for line in text.splitlines() if line.startswith("#"))
        assert text.index(claim["truth"]) < text.index(claim["text"])
        assert claim["source"] in text
        quoted = f"« {claim['text']} »" if lang == "fr" else f"“{claim['text']}”"
        assert quoted in text


@pytest.mark.parametrize("lang", LANGS)
def test_correction_without_a_claim_is_a_general_clarification(lang: str) -> None:
    ctx = context("correction", lang, "public")
    ctx["claim"] = None
    text = render("correction", lang, ctx)
    assert problems(text, "correction", lang, ctx) == []
    assert FACTS[lang]["known"][0] in text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_internal_figures_reach_employees_only(kind: str, lang: str) -> None:
    for audience in AUDIENCE_KINDS:
        text = render(kind, lang, context(kind, lang, audience))
        internal = kind == "internal_memo" and audience == "employees"
        assert ("4242" in text) is internal, (audience, text)
        assert ("P1" in text) is internal
        assert "0.93" not in text


@pytest.mark.parametrize("lang", LANGS)
def test_all_clear_says_resolved_and_leaves_a_contact(lang: str) -> None:
    text = render("all_clear", lang, context("all_clear", lang, "public"))
    assert ("résolue" if lang == "fr" else "resolved") in text.splitlines()[2]
    assert "presse@laiterie-duval.fr" in text
    bare_text = render("all_clear", lang, bare(context("all_clear", lang, "public")))
    assert ("disposition" if lang == "fr" else "disposal") in bare_text


@pytest.mark.parametrize("lang", LANGS)
def test_audiences_get_their_own_guidance(lang: str) -> None:
    media = render("holding_statement", lang, context("holding_statement", lang, "media"))
    employees = render("holding_statement", lang, context("holding_statement", lang, "employees"))
    public = render("holding_statement", lang, context("holding_statement", lang, "public"))
    assert "Julien Roche" in media and "Julien Roche" not in public
    spokesperson = "Porte-parole" if lang == "fr" else "Spokesperson"
    assert spokesperson in media
    staff = "## Consignes" if lang == "fr" else "## Guidance for staff"
    assert staff in employees and staff not in public and staff not in media


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_data_that_looks_like_jinja_comes_out_verbatim(kind: str, lang: str) -> None:
    for injection in INJECTIONS:
        ctx = context(kind, lang, "public", "website")
        ctx["facts"]["summary"] = f"Signalement : {injection}"
        ctx["facts"]["known"][0] = f"Mention : {injection}"
        ctx["facts"]["advice"][0] = f"Conseil {injection}"
        ctx["facts"]["faq"][0] = {"question": f"Q {injection} ?", "answer": f"R {injection}"}
        ctx["org"]["name"] = f"Duval {injection}"
        if ctx["claim"]:
            ctx["claim"].update(text=f"Rumeur {injection}", truth=f"Vérité {injection}")
        text = render(kind, lang, ctx)
        assert injection in text
        assert "49" not in text and "<class" not in text and "str" not in text.replace(injection, "")
        data = (ctx["facts"]["summary"], ctx["facts"]["known"][0], ctx["facts"]["advice"][0],
                ctx["facts"]["faq"][0]["question"], ctx["facts"]["faq"][0]["answer"], ctx["org"]["name"],
                *((ctx["claim"]["text"], ctx["claim"]["truth"]) if ctx["claim"] else ()))
        assert problems(text, kind, lang, ctx, data=data) == []
        if kind == "correction":
            assert f"Rumeur {injection}" in text and f"Vérité {injection}" in text
