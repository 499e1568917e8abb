"""False claims: matched in any language (case and accents aside), denials apart, where they spread, the
correction pack for exactly those audiences, corrections recorded and tracked, events raised once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.communication import claims
from crisiscomms.communication.messages import PackContext, render_pack
from crisiscomms.mention import EnrichedMention
from crisiscomms.monitoring import claimwatch, correction
from crisiscomms.monitoring.claim import Rule, manual_rule, rule_for
from crisiscomms.monitoring.store import Store
from crisiscomms.playbook.models import Playbook
from crisiscomms.report import charts
from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 12, 8, 0, tzinfo=UTC)
JINJA_CLAIM = "{{ 7 * 7 }} enfants hospitalisés {% if x %}à Lyon{% endif %} — {{ ''.__class__ }}"


def demo() -> Playbook:
    return Project(ROOT).load("rappel-produit").playbook


def mention(ident: str, text: str, segment: str = "clients", minutes: float = 0, lang: str = "fr",
            run: str = "") -> EnrichedMention:
    return EnrichedMention(id=ident, created_at=T0 + timedelta(minutes=minutes), text=text, lang=lang,
                           analysed=True, relevance=0.5, segment=segment, author=f"@{ident}")


def test_a_declared_claim_matches_its_phrases_case_and_accents_aside_in_any_language() -> None:
    rule = rule_for(demo(), "toute_la_production")
    assert rule.id == "toute_la_production" and rule.phrases
    assert rule.verdict("TOUTE LA PRODUCTION Duval est contaminee !!", "fr") == "claim"
    assert rule.verdict("toute-la-production part à la benne", "und") == "claim"
    assert rule.verdict("Rumour: the whole Duval factory is contaminated", "en") == "claim"
    assert rule.verdict("Non, toute la production n'est PAS contaminée", "fr") == "denial"
    assert rule.verdict("So only two batches, not the whole production.", "en") == "denial"
    assert rule.verdict("La production reprend demain", "fr") is None  # one word of the phrase is not the phrase


@pytest.mark.parametrize(("claim", "carries", "not_carrying"), [
    ("Des enfants hospitalisés à Lyon", "3 ENFANTS HOSPITALISES a lyon, partagez", "Des enfants à Lyon vont bien"),
    ("Children were hospitalised in Lyon", "Two children HOSPITALISED near Lyon!", "Children in Lyon are fine"),
])
def test_a_claim_entered_by_hand_without_match_uses_its_own_significant_words(claim: str, carries: str,
                                                                              not_carrying: str) -> None:
    rule = rule_for(demo(), claim)
    assert rule.id.startswith("manual-") and not rule.phrases and len(rule.words) == 3
    assert rule.verdict(carries) == "claim"
    assert rule.verdict(not_carrying) is None
    assert rule_for(demo(), claim).id == rule.id  # the same text is the same claim (tracking meets it)


def test_a_long_claim_needs_two_thirds_of_its_words_and_a_typed_match_splits_on_commas() -> None:
    rule = manual_rule("La Laiterie Duval cache une contamination à la listeria")
    assert rule.words == ("laiteri", "duval", "cach", "contamination", "listeria") and rule.needed == 4  # stems
    assert rule.verdict("Duval cache la listeria, contamination confirmée") == "claim"
    assert rule.verdict("Laiterie Duval : contamination ?") is None
    typed = manual_rule("peu importe", match=["listeria, salmonelle", "", "usine fermée"])
    assert typed.phrases == ("listeria", "salmonelle", "usine fermée")


def test_a_claim_quoting_template_syntax_stays_inert_data() -> None:
    rule = rule_for(demo(), JINJA_CLAIM)
    assert rule.text == JINJA_CLAIM and "enfant" in rule.words
    assert rule.verdict(f"Vu sur Facebook : {JINJA_CLAIM}") == "claim"
    pack = render_pack(demo(), ROOT / "templates", PackContext(
        inputs={}, claim={"text": JINJA_CLAIM, "truth": "Aucun enfant n'a été hospitalisé.", "source": ""},
        kinds=["correction"], audiences=["clients"], now=T0))
    (variant,) = pack.variants
    assert f"« {JINJA_CLAIM} »" in variant.text and "49" not in variant.text  # quoted verbatim, never rendered
    assert pack.problems == []  # the template syntax is the claim's, not a placeholder left by the template


def spread_of(rule: Rule, mentions: list[EnrichedMention], min_count: int = 2,
              min_share: float = 0.1) -> dict[str, Any]:
    return claims.Spread(rule, 300).add_all(mentions).record(demo(), min_count, min_share, "test").model_dump()


def test_the_spread_counts_per_audience_and_says_where_it_spreads_denials_apart() -> None:
    rule = rule_for(demo(), "toute_la_production")
    texts = [("c1", "toute la production est contaminée", "clients", 0),
             ("c2", "RT @c1: toute la production est contaminée", "clients", 1),
             ("c3", "Toute la production Duval contaminée !", "clients", 7),
             ("s1", "En salle de pause : toute la production serait contaminée ?", "salaries", 8),
             ("s2", "Des collègues disent que toute la production est perdue", "salaries", 12),
             ("d1", "On retire toute la production Duval de nos rayons", "distributeurs", 13),
             ("j1", "Non, toute la production n'est pas contaminée", "journalistes", 14),
             ("j2", "Toute la production ? Ces rumeurs sont fausses", "journalistes", 15),
             ("x", "Rien à voir : goût bizarre du yaourt", "clients", 16)]
    record = spread_of(rule, [mention(i, t, s, m) for i, t, s, m in texts])
    assert (record["read"], record["mentions"], record["denials"]) == (9, 6, 2)
    assert record["audiences"] == ["salaries", "clients"]  # distributors: 1 mention, under min_count 2
    assert record["by_audience"]["journalistes"] == {"title": "Journalistes", "kind": "media", "count": 0,
                                                     "share": 0.0, "denials": 2, "spreading": False}
    assert record["by_audience"]["clients"]["share"] == 0.5
    assert (record["first_seen"], record["last_seen"]) == (T0.isoformat(), (T0 + timedelta(minutes=13)).isoformat())
    assert [(p["mentions"], p["denials"]) for p in record["timeline"]] == [(2, 0), (2, 0), (2, 1), (0, 1)]
    assert (record["peak"], record["spreading"]) == (2, True)  # the demo claim's threshold is 2 a window
    assert record["examples"][0]["shares"] == 2  # the retweet counts as a share of its original
    assert spread_of(rule, [mention(i, t, s, m) for i, t, s, m in texts], min_share=0.4)["audiences"] == ["clients"]


def test_the_correction_pack_holds_exactly_the_audiences_where_the_claim_spreads() -> None:
    claim = {"text": "Toute la production est contaminée.", "truth": "Deux lots seulement.", "source": ""}
    context = PackContext(inputs={}, claim=claim, kinds=["correction"], audiences=["salaries", "distributeurs"],
                          now=T0)
    pack = render_pack(demo(), ROOT / "templates", context)
    assert [v.id for v in pack.variants] == ["correction/salaries/intranet/fr",
                                            "correction/distributeurs/email_partenaires/fr"]
    assert pack.problems == []
    assert all("Deux lots seulement." in v.text and "« Toute la production est contaminée. »" in v.text
               for v in pack.variants)
    usual = render_pack(demo(), ROOT / "templates", PackContext(inputs={}, now=T0))
    assert "correction" not in {v.kind for v in usual.variants}  # no claim: no correction in the usual pack
    nobody = render_pack(demo(), ROOT / "templates", PackContext(inputs={}, claim=claim, kinds=["correction"],
                                                                 audiences=[], now=T0))
    assert nobody.variants == []


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "monitoring.db")


def stored(store: Store, run: str, mentions: list[EnrichedMention]) -> None:
    store.commit_batch("rappel-produit", "demo", run, mentions, [], {"offset": 0}, len(mentions))


def test_monitoring_raises_a_spreading_claim_once_per_cooldown(store: Store, tmp_path: Path) -> None:
    book = correction.Corrections(tmp_path / "monitoring.db")
    pb = demo()
    stored(store, "r1", [mention("a", "toute la production contaminée", "clients", 1),
                         mention("b", "Toute la production ? Ces rumeurs sont fausses", "clients", 2),
                         mention("c", "rien à voir", "clients", 3)])
    assert claimwatch.spreading(pb, store, book, "r1", 300) == []  # one mention carries it (threshold 2)
    stored(store, "r2", [mention("d", "TOUTE la production contaminée", "salaries", 4)])
    (event,) = claimwatch.spreading(pb, store, book, "r2", 300)  # the window counts the earlier run's mention too
    assert (event["claim_id"], event["mentions"], event["audiences"]) == ("toute_la_production", 2,
                                                                       {"clients": 1, "salaries": 1})
    assert event["window_start"] == T0.isoformat()
    stored(store, "r3", [mention(f"e{i}", "toute la production contaminée", "clients", 60 + i) for i in range(3)])
    assert claimwatch.spreading(pb, store, book, "r3", 300) == []  # within the 2 h cooldown of the last event
    stored(store, "r4", [mention(f"f{i}", "toute la production contaminée", "clients", 121 + i) for i in range(2)])
    assert [e["window_start"] for e in claimwatch.spreading(pb, store, book, "r4", 300)] == [
        (T0 + timedelta(hours=2)).isoformat()]


def test_a_correction_is_recorded_once_and_tracked_before_and_since(store: Store, tmp_path: Path) -> None:
    book = correction.Corrections(tmp_path / "monitoring.db")
    rule = rule_for(demo(), "toute_la_production")
    at = T0 + timedelta(minutes=30)
    made = correction.Correction("rappel-produit", rule, "ab" * 32, at, ["clients", "salaries"], "run-1", 3600)
    assert book.record(made) is True and book.record(made) is False
    (kept,) = book.all("rappel-produit")
    assert (kept.rule, kept.corrected_at, kept.audiences) == (rule, at, ["clients", "salaries"])
    stored(store, "r1", [mention("a", "toute la production contaminée", "clients", 5),
                         mention("b", "toute la production contaminée", "salaries", 10),
                         mention("c", "toute la production contaminée", "clients", 40),
                         mention("d", "toute la production n'est pas contaminée", "journalistes", 45),
                         mention("old", "toute la production contaminée", "clients", -120)])  # before the period
    (tracked,) = claimwatch.track([kept], store, 300, at + timedelta(minutes=20))
    row = tracked.row()
    assert (row["mentions_before"], row["mentions_since"], row["denials_since"]) == (2, 1, 1)
    assert row["per_audience_before_since"] == "clients 1→1, salaries 1→0"
    assert row["still_spreading"] is False  # one mention a window since, the threshold is 2
    labels, values, marks = charts.claim_series([tracked], 300)
    assert sum(values) == 3 and labels[0] == "2026-03-12 08:05" and marks == [(5.0, "08:30")]
