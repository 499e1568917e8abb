"""Audience segmentation and relevance against the CrisisLexT26 crowd labels, on the real enrichment path.

    .venv/bin/python bench/crisislex_quality.py            # Markdown table on stdout
    .venv/bin/python bench/crisislex_quality.py --json     # the same figures as JSON
    .venv/bin/python bench/crisislex_quality.py --details  # + per-class F1 and the most frequent errors
    .venv/bin/python bench/crisislex_quality.py --playbook my-rules.yaml   # other audience rules, same events

Each of the five events in data/crisislex/ goes through `Enricher(playbook).enrich(mentions)`, exactly as the
monitoring pass runs it. The playbook is bench/crisislex.yaml (one English audience rule set for every event)
plus the event's watch terms, derived mechanically from `<event>-event.json` (`event_watch`) and the CrisisLex
lexicon as `context` words. The crowd labels (`gold`) are removed before the mentions are built: only the
scoring below reads them.

- Audience: macro-F1 over the six `gold.source` classes, rows labelled `Not labeled`/`Not applicable` left out,
  next to the majority baseline (the event's most frequent class predicted for every row, same six classes).
- Relevance: ROC AUC (Mann–Whitney, average ranks for ties) of `relevance` for `Related …` (informative or
  not) against `Not related`, `Not applicable` left out; and for `Related and informative` against the rest.

Data: CrisisLexT26 (MIT) — Olteanu, Vieweg, Castillo, *What to Expect When the Unexpected Happens: Social Media
Communications Across Crises*, CSCW 2015. Nothing here uses the network.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import yaml  # noqa: E402

from crisiscomms.mention import EnrichedMention, Mention  # noqa: E402
from crisiscomms.monitoring.monitor import Enricher  # noqa: E402
from crisiscomms.monitoring.watchlist import fold  # noqa: E402
from crisiscomms.playbook.models import Playbook  # noqa: E402

DATA = ROOT / "data" / "crisislex"
PLAYBOOK = Path(__file__).resolve().with_name("crisislex.yaml")
LEXICON = DATA / "crisislex_lexicon.txt"
EVENTS = (
    "2012_Venezuela_refinery",
    "2013_Glasgow_helicopter_crash",
    "2013_Savar_building_collapse",
    "2013_Spain_train_crash",
    "2013_West_Texas_explosion",
)
# gold.source → the audience kind that stands for it in the benchmark playbook.
CLASSES = {
    "Media": "media",
    "Government": "government",
    "NGOs": "ngo",
    "Business": "business",
    "Eyewitness": "witnesses",
    "Outsiders": "public",
}
UNLABELLED_SOURCE = ("Not labeled", "Not applicable")
RELATED = ("Related and informative", "Related - but not informative")
INFORMATIVE = "Related and informative"


# --- metrics ----------------------------------------------------------------------------------------------


def f1_per_class(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    """F1 of each class; 0 for a class never predicted or never true (precision or recall undefined)."""
    pairs = Counter(zip(gold, predicted, strict=True))
    scores = {}
    for cls in classes:
        hits = pairs[(cls, cls)]
        true = sum(n for (g, _), n in pairs.items() if g == cls)
        said = sum(n for (_, p), n in pairs.items() if p == cls)
        scores[cls] = 2 * hits / (true + said) if hits else 0.0
    return scores


def macro_f1(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> float:
    scores = f1_per_class(gold, predicted, classes)
    return sum(scores.values()) / len(scores)


def majority_baseline(gold: Sequence[str], classes: Sequence[str]) -> float:
    """Macro-F1 of predicting the most frequent gold class for every row."""
    majority = Counter(gold).most_common(1)[0][0]
    return macro_f1(gold, [majority] * len(gold), classes)


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def roc_auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Probability that a random positive outscores a random negative, ties counting half (Mann–Whitney U)."""
    n_pos = sum(positive)
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        raise ValueError("ROC AUC needs positives and negatives")
    rank_sum = sum(rank for rank, pos in zip(average_ranks(scores), positive, strict=True) if pos)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


# --- data and playbook ------------------------------------------------------------------------------------


def load_event(event: str) -> tuple[list[Mention], list[dict[str, str]]]:
    """The event's tweets as mentions (the crowd labels removed) and, aside, those labels."""
    mentions, gold = [], []
    for line in (DATA / f"{event}.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        gold.append(record.pop("gold"))
        mentions.append(Mention.model_validate(record))
    return mentions, gold


def event_watch(event: str) -> dict[str, dict[str, list[str]]]:
    """Watch terms from `<event>-event.json`, mechanically: the collection's `#x` keywords → hashtags, its other
    keywords → keywords, the location's description (split at "/") → context words of any language (a place
    named beside a crisis word, not alone, says which crisis); the CrisisLex lexicon → English context words."""
    described = json.loads((DATA / f"{event}-event.json").read_text(encoding="utf-8"))
    keywords = _unique(described["keywords"])
    places = [part.strip() for part in described["location"]["location_description"].split("/")]
    return {
        "any": {
            "keywords": [k for k in keywords if not k.startswith("#")],
            "hashtags": [k for k in keywords if k.startswith("#")],
            "context": _unique(places),
        },
        "en": {"context": lexicon()},
    }


def lexicon() -> list[str]:
    return [line.strip() for line in LEXICON.read_text(encoding="utf-8").splitlines() if line.strip()]


def _unique(terms: Sequence[str]) -> list[str]:
    """First spelling of each term, case and accents aside."""
    seen: dict[str, str] = {}
    for term in terms:
        seen.setdefault(fold(term), term)
    return list(seen.values())


def event_playbook(event: str, base: Path = PLAYBOOK) -> Playbook:
    """The base playbook (bench/crisislex.yaml) with the event's watch terms."""
    data = yaml.safe_load(base.read_text(encoding="utf-8"))
    watch = data["monitoring"].setdefault("watch", {})
    for lang, terms in event_watch(event).items():
        for kind, found in terms.items():
            watch.setdefault(lang, {}).setdefault(kind, []).extend(found)
    return Playbook.model_validate(data)


# --- measure ----------------------------------------------------------------------------------------------


@dataclass
class EventScore:
    event: str
    rows: int  # tweets with a source label, scored for audience
    macro_f1: float
    baseline: float
    class_f1: dict[str, float]
    auc_related: float
    auc_informative: float
    relevance_rows: int  # tweets scored for related vs not related
    not_related: int
    confusion: dict[str, int]  # "gold → predicted": count, errors only
    seconds: float


def measure(event: str, base: Path = PLAYBOOK) -> EventScore:
    """Enrich the event's tweets as the monitoring pass does, then score segments and relevance."""
    started = time.perf_counter()
    playbook = event_playbook(event, base)
    mentions, gold = load_event(event)
    enriched = Enricher(playbook).enrich(mentions)
    truth, said = _audiences(playbook, enriched, gold)
    judged = [(m.relevance, g["informativeness"]) for m, g in zip(enriched, gold, strict=True)
              if g["informativeness"] != "Not applicable"]
    scores = [score for score, _ in judged]
    return EventScore(
        event=event,
        rows=len(truth),
        macro_f1=macro_f1(truth, said, list(CLASSES)),
        baseline=majority_baseline(truth, list(CLASSES)),
        class_f1=f1_per_class(truth, said, list(CLASSES)),
        auc_related=roc_auc(scores, [label in RELATED for _, label in judged]),
        auc_informative=roc_auc(scores, [label == INFORMATIVE for _, label in judged]),
        relevance_rows=len(judged),
        not_related=sum(label == "Not related" for _, label in judged),
        confusion=dict(Counter(f"{t} → {p}" for t, p in zip(truth, said, strict=True) if t != p).most_common(5)),
        seconds=time.perf_counter() - started,
    )


def _audiences(playbook: Playbook, enriched: Sequence[EnrichedMention],
               gold: Sequence[dict[str, str]]) -> tuple[list[str], list[str]]:
    """(gold source, predicted source) of the rows with a source label; a segment maps back through its kind."""
    to_class = {kind: cls for cls, kind in CLASSES.items()}
    kinds = {name: audience.kind for name, audience in playbook.audiences.items()}
    pairs = [(g["source"], to_class.get(kinds.get(m.segment, ""), m.segment))
             for m, g in zip(enriched, gold, strict=True) if g["source"] not in UNLABELLED_SOURCE]
    return [t for t, _ in pairs], [p for _, p in pairs]


def measure_all(events: Sequence[str] = EVENTS, base: Path = PLAYBOOK) -> list[EventScore]:
    return [measure(event, base) for event in events]


# --- report -----------------------------------------------------------------------------------------------


def table(scores: Sequence[EventScore]) -> str:
    head = ("| event | rows | macro-F1 | majority baseline | AUC related vs not | AUC informative vs rest "
            "| not related / judged |\n|---|--:|--:|--:|--:|--:|--:|")
    lines = [head]
    for s in scores:
        lines.append(f"| {s.event} | {s.rows} | {s.macro_f1:.3f} | {s.baseline:.3f} | {s.auc_related:.3f} "
                     f"| {s.auc_informative:.3f} | {s.not_related} / {s.relevance_rows} |")
    n = len(scores)
    lines.append(f"| **mean** | {sum(s.rows for s in scores)} | **{sum(s.macro_f1 for s in scores) / n:.3f}** "
                 f"| {sum(s.baseline for s in scores) / n:.3f} | **{sum(s.auc_related for s in scores) / n:.3f}** "
                 f"| {sum(s.auc_informative for s in scores) / n:.3f} "
                 f"| {sum(s.not_related for s in scores)} / {sum(s.relevance_rows for s in scores)} |")
    return "\n".join(lines)


def details(scores: Sequence[EventScore]) -> str:
    head = "| event | " + " | ".join(CLASSES) + " | most frequent errors (gold → predicted) |"
    lines = [head, "|---|" + "--:|" * len(CLASSES) + "---|"]
    for s in scores:
        errors = ", ".join(f"{pair} {n}" for pair, n in s.confusion.items())
        lines.append(f"| {s.event} | " + " | ".join(f"{s.class_f1[c]:.2f}" for c in CLASSES) + f" | {errors} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--details", action="store_true", help="also per-class F1 and the most frequent errors")
    parser.add_argument("--event", action="append", choices=EVENTS, help="only this event (repeatable)")
    parser.add_argument("--playbook", type=Path, default=PLAYBOOK, help="another base playbook (audience rules)")
    args = parser.parse_args(argv)
    scores = measure_all(args.event or EVENTS, args.playbook)
    if args.json:
        print(json.dumps([asdict(s) for s in scores], indent=2, ensure_ascii=False))
        return
    print(table(scores))
    if args.details:
        print()
        print(details(scores))
    print(f"\n{sum(s.seconds for s in scores):.1f} s (enrichment included)")


if __name__ == "__main__":
    main()
