"""The brands ruler is skipped only on docs where no brand pattern can start: entities are exactly those of the
ruler run on every doc, and it does run where a brand is written, however it is spelled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crisiscomms.monitoring import language, nlp
from crisiscomms.playbook.monitoring import Watchlist

ROOT = Path(__file__).resolve().parents[2]
WATCH = {"any": Watchlist(brands=["Laiterie Duval", "Société Générale", "Orange"])}
BRANDED = ["La Laiterie Duval rappelle ses yaourts", "laiterie-duval encore en rupture", "LAITERIE  DUVAL",
           "Panne chez Orange ce matin", "Societe Generale ferme 3 agences", "Duval's yogurt recall: Laiterie Duval"]

pytestmark = pytest.mark.usefixtures("no_network")  # models come from installed packages only


def texts() -> list[str]:
    tweets = [json.loads(line)["text"] for line in
              (ROOT / "data" / "crisislex" / "2013_West_Texas_explosion.jsonl").open(encoding="utf-8")][:300]
    posts = [json.loads(line)["text"] for line in (ROOT / "tests/data/fr_posts.jsonl").open(encoding="utf-8")]
    return tweets + posts + BRANDED


def test_gated_ruler_gives_the_entities_of_the_ruler_run_on_every_doc(monkeypatch: pytest.MonkeyPatch) -> None:
    extractor = nlp.EntityExtractor(WATCH)
    sample = texts()
    langs = [code for code, _ in language.identify(sample, ["fr", "en"])]
    gated = extractor.extract(sample, langs)
    for pipeline in extractor._nlp.values():
        monkeypatch.setattr(pipeline.get_pipe("entity_ruler").pipe, "starts", None)  # None: always run the ruler
    assert extractor.extract(sample, langs) == gated
    assert sum(entity["label"] == "ORG" for found in gated[-len(BRANDED):] for entity in found) >= len(BRANDED)


def test_the_ruler_runs_on_branded_docs_only(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = nlp.EntityExtractor(WATCH, {"fr": "fr_core_news_sm"})._nlp["fr"]
    gate = pipeline.get_pipe("entity_ruler").pipe
    ran: list[str] = []
    tag = gate._tag

    def spy(doc: object) -> None:
        ran.append(str(doc))
        tag(doc)

    monkeypatch.setattr(gate, "_tag", spy)
    list(pipeline.pipe(["Rien à voir ici", *BRANDED, "Une orangeade, svp"]))
    assert ran == BRANDED
