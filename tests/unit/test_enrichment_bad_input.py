"""Bad input through the gate and the enrichment (process_batch, Enricher.enrich) and through `crisis monitor`.

Whatever a source delivers — empty, blank or emoji-only texts, 50 000 characters, right-to-left scripts,
languages the playbook does not analyse, mixed scripts, control characters, NULs, lone surrogates — nothing
crashes and nothing is lost: every record read comes out processed or quarantined with a reason
(read = processed + quarantined); a language the playbook does not analyse is flagged `analysed: false`, with
no sentiment and no entities; entity offsets always slice the text they come from.

The fixture playbook (tests/fixtures/audiences) analyses fr and en, watches the brand Laiterie Duval and lets
texts of up to 60 000 characters through its gate (the default limit is 10 000).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crisiscomms.mention import EnrichedMention, Mention
from crisiscomms.monitoring import monitor, nlp
from crisiscomms.monitoring.sources import Batch
from crisiscomms.monitoring.sources.base import RawRecord
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.monitoring import Gate, Monitoring
from crisiscomms.stack.project import Project

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "audiences"
CRISIS = str(Path(sys.executable).parent / "crisis")
NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)
CREATED = "2026-03-12T08:00:00Z"
LABELS = {"PER", "ORG", "LOC", "MISC", "PRODUCT"}

LONG_FRENCH = ("La Laiterie Duval rappelle ses yaourts vendus à Lyon et à Grenoble. " * 800)[:50_000]
# Languages the playbook does not analyse, with the code they must be identified as.
UNSUPPORTED = {
    "spanish": ("es", "Un tren ha descarrilado cerca de Santiago de Compostela, hay muchos muertos y heridos"),
    "german": ("de", "Zugunglück bei Berlin: viele Tote und Verletzte, die Polizei ermittelt noch"),
    "japanese": ("ja", "東京で大きな地震が発生しました。多くの建物が倒壊しました。"),
    "russian": ("ru", "Сильное наводнение в Москве, власти эвакуируют жителей"),
    "chinese": ("zh", "北京发生严重洪水，政府正在疏散居民"),
    "arabic": ("ar", "انفجار في مصنع في باريس والسلطات تحقق في الحادث"),
    "hebrew": ("he", "פיצוץ במפעל בתל אביב, המשטרה חוקרת את האירוע"),
    "italian": ("it", "Il richiamo dei prodotti Laiterie Duval preoccupa i genitori in tutta Italia"),
    "spanish-brand": ("es", "La Laiterie Duval retira sus yogures en Madrid por una contaminación con listeria"),
    "arabic-brand": ("ar", "سحب منتجات Laiterie Duval من الأسواق في باريس بسبب التلوث"),
}
WITHOUT_LETTERS = {
    "whitespace": "   \n\t  ",
    "emoji": "😡😡🔥🔥👍🏽❤️",
    "zero-width": "\u200b\u200d\ufeff",
}
# French around other scripts, direction marks, decomposed accents, Windows line ends: analysed, brand found.
FRENCH_ODDITIES = {
    "mixed-script": "Rappel Laiterie Duval à Paris — 東京 — مرحبا — שלום 😡 #rappelconso",
    "rtl-override": "\u202eRappel des yaourts Laiterie Duval à Lyon",
    "bidi": "La Laiterie Duval rappelle ses yaourts à Lyon, selon son porte-parole (شركة دوفال)",
    "decomposed-accents": "La Laiterie Duval rappelle les yaourts vendus a\u0300 Lyon, c'est inquie\u0301tant",
    "crlf": "La Laiterie Duval rappelle ses yaourts.\r\nLes magasins de Lyon sont vides.\r\n",
    "one-control": "Rappel\x07 des yaourts Laiterie Duval à Lyon",  # one stray control is text noise (record.py)
}
LONG = {"long-french": LONG_FRENCH, "long-unbroken": "x" * 50_000}
# What the gate sets aside, and the words of its reason.
QUARANTINED = {
    "empty": ("", "text is empty"),
    "nul": ("Rappel\x00 des yaourts Laiterie Duval", "binary data"),
    "controls": ("\x01\x02\x03 Laiterie Duval rappelle", "binary data"),
    "lone-high-surrogate": ("Rappel \ud800 Laiterie Duval à Lyon", "invalid Unicode"),
    "lone-low-surrogate": ("😡 \udc00 Laiterie Duval", "invalid Unicode"),
}


def _texts() -> dict[str, str]:
    return {
        **{key: text for key, (_, text) in UNSUPPORTED.items()},
        **WITHOUT_LETTERS, **FRENCH_ODDITIES, **LONG,
        **{key: text for key, (text, _) in QUARANTINED.items()},
    }


def _records(texts: dict[str, str], **extra: object) -> list[RawRecord]:
    return [RawRecord(f"bad.jsonl:{n}", {"id": key, "created_at": CREATED, "text": text, **extra})
            for n, (key, text) in enumerate(texts.items(), start=1)]


def _process(enricher: monitor.Enricher, records: list[RawRecord], monitoring: Monitoring) -> monitor.BatchOutcome:
    return monitor.process_batch(Batch(records=records), "bad", monitoring, enricher, NOW)


@pytest.fixture(scope="module")
def playbook() -> Playbook:
    return Project(FIXTURE).load("veille-marque").playbook


@pytest.fixture(scope="module")
def enricher(playbook: Playbook) -> monitor.Enricher:
    return monitor.Enricher(playbook)


@pytest.fixture(scope="module")
def outcome(playbook: Playbook, enricher: monitor.Enricher) -> monitor.BatchOutcome:
    """Every bad text of this module in one batch, through the fixture playbook's gate."""
    assert playbook.monitoring is not None
    return _process(enricher, _records(_texts()), playbook.monitoring)


@pytest.fixture(scope="module")
def by_id(outcome: monitor.BatchOutcome) -> dict[str, EnrichedMention]:
    return {m.id: m for m in outcome.mentions}


def _assert_offsets_slice(mention: EnrichedMention) -> None:
    for entity in mention.entities:
        assert 0 <= entity["start"] < entity["end"] <= len(mention.text), (mention.id, entity)
        assert mention.text[entity["start"] : entity["end"]] == entity["text"], (mention.id, entity)
        assert entity["label"] in LABELS


# --------------------------------------------------------------------------------------- process_batch


def test_every_bad_record_is_processed_or_quarantined_with_its_reason(outcome: monitor.BatchOutcome) -> None:
    texts = _texts()
    assert outcome.read == len(texts) == len(outcome.mentions) + len(outcome.quarantined)
    quarantined = {int(q.position.rsplit(":", 1)[1]): q for q in outcome.quarantined}
    keys = list(texts)
    assert {keys[n - 1] for n in quarantined} == set(QUARANTINED)
    assert {m.id for m in outcome.mentions} == set(texts) - set(QUARANTINED)
    for n, record in quarantined.items():
        words = QUARANTINED[keys[n - 1]][1]
        assert any(words in reason for reason in record.reasons), record.reasons
    assert outcome.gate["rows_read"] == outcome.read
    assert outcome.gate["valid"] + outcome.gate["quarantined"] == outcome.read


def test_the_gate_quarantines_an_empty_text_by_default(outcome: monitor.BatchOutcome) -> None:
    # Gate.min_text_length defaults to 1: "" is a text that is too short, not a missing one (record.ReadMention).
    assert Gate().min_text_length == 1
    [empty] = [q for q in outcome.quarantined if '"id": "empty"' in q.raw]
    assert empty.reasons == ["text is empty"]


def test_an_empty_text_is_processed_when_min_text_length_is_zero_and_not_analysed(
        playbook: Playbook, enricher: monitor.Enricher) -> None:
    assert playbook.monitoring is not None
    allowing = playbook.monitoring.model_copy(update={"gate": Gate(min_text_length=0)})
    result = _process(enricher, _records({"empty": ""}), allowing)
    [mention] = result.mentions
    assert result.quarantined == []
    assert (mention.text, mention.lang, mention.analysed, mention.sentiment) == ("", "und", False, None)
    assert mention.entities == [] and mention.relevance == 0
    assert mention.segment == "clients"  # the playbook's default audience


@pytest.mark.parametrize("key", list(WITHOUT_LETTERS))
def test_a_text_without_letters_is_undetermined_and_not_analysed(by_id: dict[str, EnrichedMention], key: str) -> None:
    mention = by_id[key]
    assert mention.text == WITHOUT_LETTERS[key]
    assert (mention.lang, mention.analysed, mention.sentiment, mention.entities) == ("und", False, None, [])
    assert mention.segment == "clients" and mention.segment_reason


@pytest.mark.parametrize("key", list(UNSUPPORTED))
def test_an_unsupported_language_is_flagged_with_no_sentiment_and_no_entities(
        by_id: dict[str, EnrichedMention], key: str) -> None:
    mention = by_id[key]
    assert mention.lang == UNSUPPORTED[key][0]
    assert mention.analysed is False
    assert mention.sentiment is None
    assert mention.entities == []


def test_an_unsupported_language_naming_the_brand_is_still_relevant(by_id: dict[str, EnrichedMention]) -> None:
    # `any` brands apply to every language: the mention is about the brand even if it is not analysed.
    for key in ("spanish-brand", "arabic-brand", "italian"):
        assert "Laiterie Duval" in by_id[key].keywords and by_id[key].relevance > 0, key
    assert by_id["spanish"].keywords == [] and by_id["spanish"].relevance == 0


def test_a_declared_language_does_not_make_a_foreign_text_analysed(
        playbook: Playbook, enricher: monitor.Enricher) -> None:
    assert playbook.monitoring is not None
    text = UNSUPPORTED["japanese"][1]
    [mention] = _process(enricher, _records({"ja-as-fr": text}, lang="fr"), playbook.monitoring).mentions
    assert (mention.lang, mention.analysed, mention.sentiment, mention.entities) == ("ja", False, None, [])


@pytest.mark.parametrize("key", list(FRENCH_ODDITIES))
def test_french_around_other_scripts_marks_and_controls_is_analysed_with_the_brand(
        by_id: dict[str, EnrichedMention], key: str) -> None:
    mention = by_id[key]
    assert (mention.lang, mention.analysed) == ("fr", True)
    assert mention.sentiment is not None
    assert "Laiterie Duval" in mention.keywords
    start = mention.text.index("Laiterie Duval")
    assert {"text": "Laiterie Duval", "label": "ORG", "start": start, "end": start + 14} in mention.entities


def test_entity_offsets_always_slice_the_original_text(by_id: dict[str, EnrichedMention]) -> None:
    for mention in by_id.values():
        _assert_offsets_slice(mention)
    assert sum(len(m.entities) for m in by_id.values()) >= 20  # not vacuous: the French texts have entities


def test_a_50000_character_text_is_processed_whole_and_searched_for_entities_in_its_head(
        by_id: dict[str, EnrichedMention]) -> None:
    long = by_id["long-french"]
    assert long.text == LONG_FRENCH and len(long.text) == 50_000  # stored whole, not cut
    assert (long.lang, long.analysed) == ("fr", True) and long.sentiment is not None
    assert "Laiterie Duval" in long.keywords and long.relevance > 0
    assert long.entities and max(e["end"] for e in long.entities) <= nlp.MAX_CHARS
    assert {"text": "Laiterie Duval", "label": "ORG", "start": 3, "end": 17} in long.entities
    unbroken = by_id["long-unbroken"]
    assert (len(unbroken.text), unbroken.lang, unbroken.analysed, unbroken.entities) == (50_000, "und", False, [])


def test_the_default_gate_quarantines_a_50000_character_text_with_its_length(
        playbook: Playbook, enricher: monitor.Enricher) -> None:
    assert playbook.monitoring is not None
    default = playbook.monitoring.model_copy(update={"gate": Gate()})
    result = _process(enricher, _records({"long": LONG_FRENCH, "short": "Rappel Laiterie Duval à Lyon"}), default)
    assert [m.id for m in result.mentions] == ["short"]
    [long] = result.quarantined
    assert long.reasons == ["text longer than 10000 characters (50000)"]
    assert len(long.raw) <= 2000  # the quarantine keeps a readable excerpt, not 50 000 characters


@pytest.mark.parametrize("control", ["\x08", "\x1b"])
def test_a_stray_control_character_after_the_brand_does_not_make_it_a_place_or_a_person(
        playbook: Playbook, enricher: monitor.Enricher, control: str) -> None:
    # The gate lets one stray control through (a real CrisisLex tweet has a backspace); the watchlist still
    # sees the brand, so the entities must too.
    assert playbook.monitoring is not None
    text = f"La Laiterie Duval{control} rappelle ses yaourts à Lyon"
    [mention] = _process(enricher, _records({"stray": text}), playbook.monitoring).mentions
    assert "Laiterie Duval" in mention.keywords
    assert {"text": "Laiterie Duval", "label": "ORG", "start": 3, "end": 17} in mention.entities
    assert not [e for e in mention.entities if e["label"] in {"LOC", "PER"} and e["start"] < 17 and e["end"] > 3]


# ----------------------------------------------------------------------------------- Enricher.enrich


def _mentions(texts: dict[str, str]) -> list[Mention]:
    return [Mention(id=key, created_at=NOW, text=text) for key, text in texts.items()]


def test_enrich_alone_survives_texts_the_gate_would_quarantine(enricher: monitor.Enricher) -> None:
    texts = {"empty": "", "nul": "\x00", "nul-brand": "La Laiterie Duval\x00 à Lyon", "controls": "\x01\x02\x03\x04",
             "blank": " \u3000\u00a0", **WITHOUT_LETTERS, "long": LONG_FRENCH}
    enriched = enricher.enrich(_mentions(texts))
    assert [m.id for m in enriched] == list(texts)  # one result per mention, in order
    for mention in enriched:
        assert mention.text == texts[mention.id]
        assert mention.analysed == (mention.lang in ("fr", "en"))
        assert (mention.sentiment is None) == (not mention.analysed)
        _assert_offsets_slice(mention)


def test_enrich_alone_survives_lone_surrogates_in_a_french_text(enricher: monitor.Enricher) -> None:
    # The gate quarantines lone surrogates, but a Mention accepts any str and language.py strips them: the
    # entity extraction must not be the one step that raises (spaCy hashes tokens as UTF-8).
    texts = {"high": "La Laiterie Duval \ud800 rappelle ses yaourts à Lyon", "low": "Rappel Danone \udc00 à Paris"}
    enriched = enricher.enrich(_mentions(texts))
    assert [(m.id, m.lang, m.analysed) for m in enriched] == [("high", "fr", True), ("low", "fr", True)]
    for mention in enriched:
        _assert_offsets_slice(mention)


# --------------------------------------------------------------------------------------- crisis monitor


def _mixed_file(path: Path) -> tuple[dict[int, str], dict[int, str]]:
    """Good and bad records, one a line; (line → id expected processed, line → words of the quarantine reason)."""
    processed = {**{key: text for key, (_, text) in UNSUPPORTED.items()}, **WITHOUT_LETTERS, **FRENCH_ODDITIES,
                 "long-french": LONG_FRENCH, "plain": "Rappel des yaourts Laiterie Duval à Lyon, mon fils est malade"}
    lines: list[bytes] = []
    expected_ok: dict[int, str] = {}
    expected_bad: dict[int, str] = {}
    for key, text in processed.items():
        # ensure_ascii: escapes for everything, as many exporters write them
        lines.append(json.dumps({"id": key, "created_at": CREATED, "text": text}).encode())
        expected_ok[len(lines)] = key
    for key, (text, words) in QUARANTINED.items():
        lines.append(json.dumps({"id": key, "created_at": CREATED, "text": text}).encode())  # \ud800 stays an escape
        expected_bad[len(lines)] = words
    lines.append(b"")  # a blank line is no record: not counted
    head = b'{"id": "raw", "created_at": "%s", "text": "' % CREATED.encode()
    raw = [
        (head + b'a\x00b"}', "NUL bytes"),  # raw NUL: binary, not text
        (head + b'\xed\xa0\x80"}', "UTF-8"),  # a surrogate encoded in UTF-8 bytes is not UTF-8
        (head + b'\x01\x02"}', "JSON"),
    ]
    for line, words in raw:
        lines.append(line)
        expected_bad[len(lines)] = words
    path.write_bytes(b"\n".join(lines) + b"\n")
    return expected_ok, expected_bad


def test_crisis_monitor_reconciles_a_mixed_bad_file_and_flags_what_it_does_not_analyse(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURE, project)
    source, out, bad = tmp_path / "bad.jsonl", tmp_path / "enriched.jsonl", tmp_path / "quarantine.jsonl"
    expected_ok, expected_bad = _mixed_file(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([CRISIS, "monitor", "veille-marque", "--input", str(source), "--out", str(out),
                           "--quarantine", str(bad)], cwd=project, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = re.search(r"read (\d+) = processed (\d+) \+ quarantined (\d+)", done.stderr)
    assert summary, done.stderr[-3000:]
    read, processed, quarantined = map(int, summary.groups())
    assert (read, processed, quarantined) == (len(expected_ok) + len(expected_bad), len(expected_ok),
                                              len(expected_bad))
    enriched = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    set_aside = [json.loads(line) for line in bad.read_text(encoding="utf-8").splitlines()]
    assert len(enriched) == processed and len(set_aside) == quarantined

    assert sorted(e["id"] for e in enriched) == sorted(expected_ok.values())
    for record in set_aside:
        line = int(record["position"].rsplit(":", 1)[1])
        assert record["reasons"] and any(expected_bad[line] in reason for reason in record["reasons"]), record

    by_id = {e["id"]: e for e in enriched}
    for key, (lang, _) in UNSUPPORTED.items():
        assert (by_id[key]["lang"], by_id[key]["analysed"], by_id[key]["sentiment"], by_id[key]["entities"]) == (
            lang, False, None, []), key
    for key in WITHOUT_LETTERS:
        assert (by_id[key]["analysed"], by_id[key]["sentiment"], by_id[key]["entities"]) == (False, None, []), key
    assert len(by_id["long-french"]["text"]) == 50_000 and by_id["long-french"]["analysed"] is True
    for mention in enriched:
        for entity in mention["entities"]:
            assert mention["text"][entity["start"] : entity["end"]] == entity["text"], (mention["id"], entity)
    assert sum(len(e["entities"]) for e in enriched) >= 15
