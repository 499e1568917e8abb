"""Audience segmentation and relevance against the CrisisLexT26 crowd labels, on the real enrichment path.

    .venv/bin/python bench/crisislex_quality.py            # Markdown table on stdout
    .venv/bin/python bench/crisislex_quality.py --json     # the same figures as JSON
    .venv/bin/python bench/crisislex_quality.py --details  # + per-class F1 and the most frequent errors
    .venv/bin/python bench/crisislex_quality.py --playbook my-rules.yaml   # other audience rules, same events
    .venv/bin/python bench/crisislex_quality.py --fit      # relevance weights fitted on all five (RELEVANCE)

Each of the five events in data/crisislex/ goes through `Enricher(playbook).enrich(mentions)`, exactly as the
monitoring pass runs it. The playbook is bench/crisislex.yaml (one English audience rule set for every event)
plus the event's watch terms, derived mechanically from `<event>-event.json` (`event_watch`) and the CrisisLex
lexicon as `context` words. The crowd labels (`gold`) are removed before the mentions are built: only the
scoring below reads them.

- Audience: macro-F1 over the six `gold.source` classes, rows labelled `Not labeled`/`Not applicable` left out,
  next to the majority baseline (the event's most frequent class predicted for every row, same six classes).
- Relevance: ROC AUC (Mann–Whitney, average ranks for ties) of `relevance` for `Related …` (informative or
  not) against `Not related`, `Not applicable` left out; and for `Related and informative` against the rest.
  Twice: with the shipped weights (`watchlist.RELEVANCE`, fitted on all five events: in-sample), and held out
  (leave one event out: the same fit, `fit_relevance`, on the four other events scores the fifth), which is the
  figure that predicts an unseen crisis. Held-out AUCs are also given per language of the tweets (the language
  the enrichment identified: en, es, fr, other), per event and pooled over the events.

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

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from crisiscomms.mention import EnrichedMention, Mention  # noqa: E402
from crisiscomms.monitoring.monitor import Enricher  # noqa: E402
from crisiscomms.monitoring.watchlist import RelevanceFeatures, RelevanceModel, fold, relevance_features  # noqa: E402
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
LANGUAGES = ("en", "es", "fr")  # reported apart; every other language (und included) is "other"
# Relevance fit: a light L2 penalty on the weights (not the intercept); each event and, within it, each class
# (related / not related) weigh the same, so that Spain's 6 unrelated tweets count as much as Savar's 305.
L2 = 0.01


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
class Judged:
    """One tweet judged for relevance: what `relevance()` weighs, its language and its crowd label."""

    features: RelevanceFeatures
    lang: str
    related: bool
    informative: bool


@dataclass
class EventScore:
    event: str
    rows: int  # tweets with a source label, scored for audience
    macro_f1: float
    baseline: float
    class_f1: dict[str, float]
    auc_related: float  # shipped weights (fitted on all five events, this one included)
    auc_informative: float
    relevance_rows: int  # tweets scored for related vs not related
    not_related: int
    confusion: dict[str, int]  # "gold → predicted": count, errors only
    seconds: float
    judged: list[Judged]
    held_out: list[float] | None = None  # relevance of each judged tweet, weights fitted on the other events
    held_out_related: float | None = None
    held_out_informative: float | None = None


def measure(event: str, base: Path = PLAYBOOK) -> EventScore:
    """Enrich the event's tweets as the monitoring pass does, then score segments and relevance."""
    started = time.perf_counter()
    playbook = event_playbook(event, base)
    mentions, gold = load_event(event)
    enricher = Enricher(playbook)
    enriched = enricher.enrich(mentions)
    truth, said = _audiences(playbook, enriched, gold)
    judged = [(m.relevance, g["informativeness"]) for m, g in zip(enriched, gold, strict=True)
              if g["informativeness"] != "Not applicable"]
    scores = [score for score, _ in judged]
    # The match again, as the enrichment made it (same text, same language), for its relevance features.
    rows = [Judged(relevance_features(enricher.matcher.match(m.text, m.lang), m.text), m.lang,
                   g["informativeness"] in RELATED, g["informativeness"] == INFORMATIVE)
            for m, g in zip(enriched, gold, strict=True) if g["informativeness"] != "Not applicable"]
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
        judged=rows,
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
    """Every event measured; with two or more, each one's relevance is also scored held out (`hold_out`)."""
    scores = [measure(event, base) for event in events]
    if len(scores) > 1:
        hold_out(scores)
    return scores


# --- relevance weights, fitted and held out ---------------------------------------------------------------


def _design(judged: Sequence[Judged]) -> np.ndarray:
    """One row per tweet: 1 (intercept), keywords, hashtags, context, words (RelevanceModel's order)."""
    return np.array([[1.0, j.features.keywords, j.features.hashtags, j.features.context, j.features.words]
                     for j in judged])


def fit_relevance(events: Sequence[EventScore]) -> RelevanceModel:
    """Logistic regression of related vs not related on the tweets with a watched term (the others score 0
    whatever the weights), each event and each class weighing the same, L2 on the weights; a weight fitted
    negative (evidence lowering relevance) is fixed at 0 and the rest fitted again."""
    rows: list[Judged] = []
    weights: list[float] = []
    for event in events:
        found = [j for j in event.judged if j.features.subject]
        positives = sum(j.related for j in found)
        negatives = len(found) - positives
        if not positives or not negatives:
            raise ValueError(f"{event.event}: relevance needs related and unrelated tweets with a watched term")
        rows += found
        weights += [0.5 / (positives if j.related else negatives) for j in found]
    x, y, w = _design(rows), np.array([j.related for j in rows], dtype=float), np.array(weights)
    kept = np.ones(x.shape[1], dtype=bool)
    while True:
        beta = np.zeros(x.shape[1])
        beta[kept] = _newton(x[:, kept], y, w)
        negative = kept & (beta < 0)
        negative[0] = False  # the intercept may be anything
        if not negative.any():
            break
        kept &= ~negative
    return RelevanceModel(*(round(float(b), 3) for b in beta))


def _newton(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted, L2-penalised logistic regression by Newton's method (deterministic; converges in ~10 steps)."""
    penalty = np.full(x.shape[1], L2)
    penalty[0] = 0.0
    beta = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-x @ beta))
        gradient = x.T @ (w * (p - y)) + penalty * beta
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def hold_out(scores: Sequence[EventScore]) -> None:
    """Each event's relevance AUCs with weights fitted on the other events only (leave one event out)."""
    for event in scores:
        model = fit_relevance([other for other in scores if other is not event])
        event.held_out = [model.score(j.features) for j in event.judged]
        event.held_out_related = roc_auc(event.held_out, [j.related for j in event.judged])
        event.held_out_informative = roc_auc(event.held_out, [j.informative for j in event.judged])


@dataclass
class LanguageScore:
    lang: str
    event: str  # "all" for the events pooled
    related: int
    not_related: int
    auc: float | None  # None without both classes


def by_language(scores: Sequence[EventScore]) -> list[LanguageScore]:
    """Held-out related-vs-not AUC per language of the tweets, per event and over all events (each event scored
    by the weights fitted without it: `hold_out` first). Over all events, a related and an unrelated tweet are
    only compared within one event (each fold's weights put scores on its own scale): the per-event AUCs averaged
    with the number of such pairs as weights."""
    found: list[LanguageScore] = []
    for lang in (*LANGUAGES, "other"):
        per_event = []
        for event in scores:
            if event.held_out is None:
                raise ValueError(f"{event.event}: no held-out relevance (hold_out needs two events or more)")
            rows = [(score, j.related) for score, j in zip(event.held_out, event.judged, strict=True)
                    if _language(j.lang) == lang]
            per_event.append(_language_score(lang, event.event, rows))
        pairs = sum(e.related * e.not_related for e in per_event)
        pooled = sum((e.auc or 0.0) * e.related * e.not_related for e in per_event) / pairs if pairs else None
        related, unrelated = sum(e.related for e in per_event), sum(e.not_related for e in per_event)
        found += [*per_event, LanguageScore(lang, "all", related, unrelated, pooled)]
    return found


def _language(code: str) -> str:
    return code if code in LANGUAGES else "other"


def _language_score(lang: str, event: str, rows: Sequence[tuple[float, bool]]) -> LanguageScore:
    related = sum(r for _, r in rows)
    unrelated = len(rows) - related
    auc = roc_auc([s for s, _ in rows], [r for _, r in rows]) if related and unrelated else None
    return LanguageScore(lang, event, related, unrelated, auc)


# --- report -----------------------------------------------------------------------------------------------


def table(scores: Sequence[EventScore]) -> str:
    head = ("| event | rows | macro-F1 | majority baseline | AUC related vs not, held out (in-sample) "
            "| AUC informative vs rest, held out (in-sample) | not related / judged |\n|---|--:|--:|--:|--:|--:|--:|")
    lines = [head]
    for s in scores:
        lines.append(f"| {s.event} | {s.rows} | {s.macro_f1:.3f} | {s.baseline:.3f} "
                     f"| {_figure(s.held_out_related)} ({s.auc_related:.3f}) "
                     f"| {_figure(s.held_out_informative)} ({s.auc_informative:.3f}) "
                     f"| {s.not_related} / {s.relevance_rows} |")
    n = len(scores)
    held_related = _mean([s.held_out_related for s in scores])
    held_informative = _mean([s.held_out_informative for s in scores])
    lines.append(f"| **mean** | {sum(s.rows for s in scores)} | **{sum(s.macro_f1 for s in scores) / n:.3f}** "
                 f"| {sum(s.baseline for s in scores) / n:.3f} "
                 f"| **{_figure(held_related)}** ({sum(s.auc_related for s in scores) / n:.3f}) "
                 f"| {_figure(held_informative)} ({sum(s.auc_informative for s in scores) / n:.3f}) "
                 f"| {sum(s.not_related for s in scores)} / {sum(s.relevance_rows for s in scores)} |")
    return "\n".join(lines)


def held_out_mean(scores: Sequence[EventScore]) -> float:
    """Mean held-out related-vs-not AUC (what an unseen crisis should expect)."""
    mean = _mean([s.held_out_related for s in scores])
    if mean is None:
        raise ValueError("held-out figures need at least two events")
    return mean


def _mean(values: Sequence[float | None]) -> float | None:
    return None if any(v is None for v in values) else sum(v for v in values if v is not None) / len(values)


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def language_table(scores: Sequence[EventScore]) -> str:
    """Held-out related-vs-not AUC by language: one row per language, one column per event, then pooled."""
    found = by_language(scores)
    events = [s.event for s in scores]
    lines = ["| language | " + " | ".join(events) + " | all events |", "|---|" + "--:|" * (len(events) + 1)]
    for lang in (*LANGUAGES, "other"):
        cells = [next(f for f in found if f.lang == lang and f.event == event) for event in (*events, "all")]
        lines.append(f"| {lang} | " + " | ".join(f"{_figure(c.auc)} ({c.related}+/{c.not_related}−)" for c in cells)
                     + " |")
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
    parser.add_argument("--fit", action="store_true", help="print the relevance weights fitted on the events")
    args = parser.parse_args(argv)
    scores = measure_all(args.event or EVENTS, args.playbook)
    if args.fit:
        print(f"RELEVANCE = {fit_relevance(scores)!r}")
        return
    if args.json:
        # Per-tweet rows (features, held-out scores) left out: the figures, and how many tweets were judged.
        figures = [{k: v for k, v in asdict(s).items() if k not in ("judged", "held_out")} | {"judged": len(s.judged)}
                   for s in scores]
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        return
    print(table(scores))
    if len(scores) > 1:
        print("\nHeld-out AUC related vs not, by language of the tweets (related+/not related−):\n")
        print(language_table(scores))
    if args.details:
        print()
        print(details(scores))
    print(f"\n{sum(s.seconds for s in scores):.1f} s (enrichment included)")


if __name__ == "__main__":
    main()
