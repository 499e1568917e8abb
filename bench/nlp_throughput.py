"""Enrichment throughput against raw spaCy NER-only, measured in the same run; 2 processes against 1; memory.

    .venv/bin/python bench/nlp_throughput.py                    # all three parts (~10 min on 2 cores)
    .venv/bin/python bench/nlp_throughput.py --parts ratio,pool # without the 100 000-mention runs
    .venv/bin/python bench/nlp_throughput.py --parts e2e --count 100000 --processes 1,2

1. `ratio` — per corpus, the raw reference, `spacy.load(model, exclude=<all NER does not need>)` then
   `list(nlp.pipe(texts, batch_size=256))` on every text our enrichment would send to that model (repeats
   included: raw analyses every text), against `Enricher(playbook).enrich(mentions)` (language, watchlist,
   sentiment, entities, segment, relevance) in batches of 5 000 as `crisis monitor` reads them, its cache emptied
   before each run. Corpora:
   - `fr` and `en`: unique texts that our language identification gives that language (so both sides run NER
     on exactly the same texts); the French ones repeated to `min_french` mentions.
   - `stream`: the five CrisisLex events' tweets in the order they were posted, retweets and copies kept, every
     language (monitor_throughput.real_stream); raw runs the English model on the tweets ours calls English.
   Beside "ours" (each distinct text analysed once), "ours, every text analysed" is the enrichment without any
   reuse (what it was before the cache: `analyse_texts` on every mention, then `finish`): on a corpus that
   repeats texts (fr, stream) the gap between the two is what the cache buys; on unique texts (en), what it costs.
   Ours runs NER's matrix products through numpy's BLAS on one thread (crisiscomms.monitoring.nlp._numpy_products):
   a second reference, raw spaCy with that same change, shows what everything else costs. Rounds rotate which side
   runs first; best of the rounds, wall clock and CPU time (CPU time is what a shared machine disturbs least).
2. `pool` — `PoolEnricher(playbook, 2)` (warm) against `Enricher` on the French and English mentions together,
   wall clock, best of the rounds; both caches emptied before each run.
3. `e2e` — `crisis monitor rappel-produit --input <count mentions> --processes N` in a fresh process: mentions/s
   from start to exit (imports and model loads included), peak resident memory of the whole process tree
   (sampled every 0.2 s from /proc) and of its largest process.

Data: CrisisLexT26 (Olteanu, Vieweg, Castillo, CSCW 2015; MIT) for English and the 100 000-mention stream (built
as bench/monitor_throughput.py does: ids made unique, copies shifted by 30 days, crowd labels dropped);
tests/data/fr_posts.jsonl and fr_entities.jsonl for French (written by the project authors).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]

from monitor_throughput import crisislex, real_stream  # noqa: E402

from crisiscomms.mention import EnrichedMention, Mention  # noqa: E402
from crisiscomms.monitoring import (  # noqa: E402
    language,
    nlp,
)
from crisiscomms.monitoring.enrich import key_of  # noqa: E402
from crisiscomms.monitoring.monitor import FILE_CHUNK, Enricher  # noqa: E402
from crisiscomms.monitoring.parallel import PoolEnricher  # noqa: E402
from crisiscomms.playbook.models import Playbook  # noqa: E402
from crisiscomms.stack.project import Project  # noqa: E402

BATCH = 256  # spaCy batch size on both sides: EntityExtractor.extract's default, and raw's best (64/256/1000)
FRENCH = [ROOT / "tests" / "data" / "fr_posts.jsonl", ROOT / "tests" / "data" / "fr_entities.jsonl"]


@dataclass
class Corpus:
    name: str
    mentions: list[Mention]
    ner: dict[str, list[str]]  # per model language, the texts raw spaCy analyses: every one ours would send it


def corpora(min_french: int) -> list[Corpus]:
    """Unique texts per language, kept when our identification agrees (both sides then NER the same texts), and
    the real stream.

    French has 186 texts only; they are repeated up to `min_french`: ours analyses each once (the cache), so the
    French ratio with the cache says little; "every text analysed" is the one to compare with earlier runs.
    """
    english = list({r["text"]: r for r in crisislex()}.values())
    french = list({r["text"]: r for path in FRENCH for r in map(json.loads, path.read_text("utf-8").splitlines())
                   }.values())
    out = []
    for lang, records in (("fr", french), ("en", english)):
        found = language.identify([r["text"] for r in records], ["fr", "en"])
        kept = [r for r, (code, _) in zip(records, found, strict=True) if code == lang]
        print(f"{lang}: {len(kept)} unique texts identified as {lang} (of {len(records)})")
        copies = max(1, -(-min_french // len(kept))) if lang == "fr" else 1
        mentions = [Mention(id=f"{r['id']}-{k}", created_at=r.get("created_at") or "2024-03-12T08:00:00Z",
                            text=r["text"]) for k in range(copies) for r in kept]
        out.append(Corpus(lang, mentions, {lang: [m.text for m in mentions]}))
    return [*out, stream_corpus()]


def stream_corpus() -> Corpus:
    """The real stream; raw analyses what ours would send to a model: the tweets it identifies as fr or en."""
    mentions = [Mention.model_validate(record) for record in real_stream()]
    found = language.identify([m.text for m in mentions], ["fr", "en"])
    codes = [code for code, _ in found]
    ner = {lang: [m.text for m, code in zip(mentions, codes, strict=True) if code == lang] for lang in ("fr", "en")}
    print(f"stream: {len(mentions)} tweets, {len({m.text for m in mentions})} distinct texts; "
          + ", ".join(f"{len(texts)} identified as {lang}" for lang, texts in ner.items()))
    return Corpus("stream", mentions, {lang: texts for lang, texts in ner.items() if texts})


def analysed_once(enricher: Enricher, mentions: Sequence[Mention]) -> list[EnrichedMention]:
    """`crisis monitor`'s enrichment: batches of FILE_CHUNK, each distinct text analysed once (cache emptied first)."""
    enricher.cache.clear()
    batches = (mentions[start : start + FILE_CHUNK] for start in range(0, len(mentions), FILE_CHUNK))
    return [m for batch in batches for m in enricher.enrich(batch)]


def every_text(enricher: Enricher, mentions: Sequence[Mention]) -> list[EnrichedMention]:
    """The enrichment without any reuse: every mention's text analysed, as before the cache."""
    out = []
    for start in range(0, len(mentions), FILE_CHUNK):
        batch = mentions[start:start + FILE_CHUNK]
        found = enricher.analyse_texts([key_of(m) for m in batch])
        out += [enricher.finish(m, analysis) for m, analysis in zip(batch, found, strict=True)]
    return out


def share_analysed(enricher: Enricher, mentions: Sequence[Mention]) -> int:
    """How many texts one `analysed_once` run analyses."""
    before = enricher.texts_analysed
    analysed_once(enricher, mentions)
    return enricher.texts_analysed - before


def timed(run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def best(rounds: list[tuple[float, float]]) -> tuple[float, float]:
    return min(w for w, _ in rounds), min(c for _, c in rounds)


def ratio_part(playbook: Playbook, data: list[Corpus], rounds: int) -> None:
    """Ours against two references on the same texts: raw spaCy as installed (the target's reference), and raw
    spaCy with the one change ours makes to spaCy itself (matrix products through numpy's BLAS, one thread), so
    that the second ratio is the cost of everything else we do."""
    import spacy

    enricher = Enricher(playbook)
    raw = {lang: spacy.load(model, exclude=list(nlp._NOT_FOR_NER)) for lang, model in nlp.DEFAULT_MODELS.items()}
    same = {lang: spacy.load(model, exclude=list(nlp._NOT_FOR_NER)) for lang, model in nlp.DEFAULT_MODELS.items()}
    for model in same.values():
        nlp._numpy_products(model)
    print("\n| corpus | mentions | NER'd by raw | analysed by ours | raw NER-only, mentions/s (wall · CPU) | raw, "
          "numpy products | ours, every text analysed | ours | **ours / raw** (wall · CPU) | ours, every text / raw "
          "| ours / raw with numpy products |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for corpus in data:
        mentions = corpus.mentions

        def on_one_thread(corpus: Corpus = corpus) -> object:
            with nlp._one_thread():
                return [list(same[lang].pipe(texts, batch_size=BATCH)) for lang, texts in corpus.ner.items()]

        sides: dict[str, Callable[[], object]] = {
            "raw": lambda corpus=corpus: [list(raw[lang].pipe(texts, batch_size=BATCH))
                                          for lang, texts in corpus.ner.items()],
            "same": on_one_thread,
            "each": lambda mentions=mentions: every_text(enricher, mentions),
            "ours": lambda mentions=mentions: analysed_once(enricher, mentions),
        }
        for lang, texts in corpus.ner.items():  # warm-up
            list(raw[lang].pipe(texts[:300], batch_size=BATCH)), list(same[lang].pipe(texts[:300], batch_size=BATCH))
        every_text(enricher, mentions[:300]), analysed_once(enricher, mentions[:300])
        analysed = share_analysed(enricher, mentions)
        times: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
        for k in range(rounds):
            for side in list(sides)[k % 4 :] + list(sides)[: k % 4]:  # each side in each position in turn
                times[side].append(timed(sides[side]))
        print(row(corpus, analysed, *map(best, times.values())))


def row(corpus: Corpus, analysed: int, raw: tuple[float, float], same: tuple[float, float],
        each: tuple[float, float], ours: tuple[float, float]) -> str:
    n, ner = len(corpus.mentions), sum(map(len, corpus.ner.values()))

    def rate(side: tuple[float, float]) -> str:
        return f"{n / side[0]:,.0f} · {n / side[1]:,.0f}"

    return (f"| {corpus.name} | {n} | {ner} | {analysed} ({analysed / n:.1%}) | {rate(raw)} | {rate(same)} | "
            f"{rate(each)} | {rate(ours)} | **{raw[0] / ours[0]:.3f}** · {raw[1] / ours[1]:.3f} | "
            f"{raw[0] / each[0]:.3f} · {raw[1] / each[1]:.3f} | {same[0] / ours[0]:.3f} · {same[1] / ours[1]:.3f} |")


def pool_part(playbook: Playbook, data: list[Corpus], rounds: int) -> None:
    """Wall clock, and where the CPU goes: a loaded machine moves the first, hardly the second. Both caches are
    emptied before each run: the pool's parent sends each distinct text of a batch to one worker, once."""
    import multiprocessing

    by_name = {corpus.name: corpus.mentions for corpus in data}
    french, english = by_name["fr"], by_name["en"]
    mixed = [m for k, mention in enumerate(english) for m in (mention, french[k % len(french)])]
    enricher = Enricher(playbook)
    enricher.enrich(mixed[:300])
    others = {child.pid for child in multiprocessing.active_children()}
    print("\n| corpus | mentions | texts analysed | 1 process, mentions/s | 2 processes, mentions/s | 2 / 1 (wall) |"
          " CPU s: 1 process · 2 processes (parent + workers) | 2 / 1 if CPU-bound |"
          "\n|---|---:|---:|---:|---:|---:|---|---:|")
    with PoolEnricher(playbook, 2) as pool:
        pool.enrich(mixed[:300])
        workers = [child.pid for child in multiprocessing.active_children() if child.pid not in others]
        for name, mentions in (("fr + en", mixed), ("stream", by_name["stream"])):
            print(pool_row(name, mentions, enricher, pool, workers, rounds))


def pool_row(name: str, mentions: list[Mention], enricher: Enricher, pool: PoolEnricher, workers: list[int],
             rounds: int) -> str:
    one: list[tuple[float, float]] = []
    two: list[tuple[float, float, list[float]]] = []
    analysed = 0
    for k in range(rounds):
        for side in ("one", "two") if k % 2 == 0 else ("two", "one"):
            if side == "one":
                one.append(timed(lambda: analysed_once(enricher, mentions)))
                continue
            before = [cpu_seconds(pid) for pid in workers]
            pool.cache.clear()
            analysed = pool.texts_analysed
            wall, parent = timed(lambda: pool.enrich(mentions))
            analysed = pool.texts_analysed - analysed
            two.append((wall, parent, [cpu_seconds(pid) - b for pid, b in zip(workers, before, strict=True)]))
    n, (one_wall, one_cpu) = len(mentions), best(one)
    wall, parent, spent = min(two)
    return (f"| {name} | {n} | {analysed} | {n / one_wall:,.0f} | {n / wall:,.0f} | **{one_wall / wall:.2f}** | "
            f"{one_cpu:.1f} · {parent:.1f} + {' + '.join(f'{s:.1f}' for s in spent)} | {one_cpu / max(spent):.2f} |")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def tree_rss_kb(root: int) -> tuple[int, int]:
    """Resident memory of `root` and all its descendants, from /proc: their sum and the largest, in kB."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    family = {root}
    for _ in range(4):  # children, grandchildren (pool workers), their helpers
        family |= {pid for pid, parent in parents.items() if parent in family}
    sizes = []
    for pid in family:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        sizes.append(next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0))
    return sum(sizes), max(sizes, default=0)


def e2e_part(count: int, processes: list[int]) -> None:
    from monitor_throughput import build_stream

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    print("\n| processes | mentions | quarantined | wall (s) | mentions/s | peak RSS, process tree (MB) | largest "
          "process (MB) |\n|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "stream.jsonl"
        build_stream(count, stream)
        for n in processes:
            command = [str(Path(sys.executable).parent / "crisis"), "monitor", "rappel-produit", "--input",
                       str(stream), "--out", str(Path(folder) / "out.jsonl"), "--processes", str(n)]
            wall, (total, largest), err = sampled(command, env)
            # a mention set aside by the gate is not enriched: a run that quarantines measures less than it says
            quarantined = found.group(1) if (found := re.search(r"quarantined (\d+)", err)) else "?"
            summary = next((line for line in err.splitlines() if line.startswith("read ")), err.splitlines()[-1])
            print(f"| {n} | {count} | {quarantined} | {wall:.1f} | {count / wall:,.0f} | {total / 1024:,.0f} | "
                  f"{largest / 1024:,.0f} |  <!-- {summary} -->")
            print("    " + " ".join(command[1:]).replace(folder, "$TMP"), file=sys.stderr)
    exact = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest single process of these runs, exact (ru_maxrss): {exact:,.0f} MB")


def sampled(command: list[str], env: dict[str, str]) -> tuple[float, tuple[int, int], str]:
    """Run `command`: its wall time, the peaks of its process tree's resident memory (sum and largest process,
    kB; sampled every 0.2 s, so a shorter spike can be missed), its stderr."""
    peak, done = (0, 0), threading.Event()
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.2):
            total, largest = tree_rss_kb(child.pid)
            peak = (max(peak[0], total), max(peak[1], largest))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = child.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if child.returncode:
        raise SystemExit(f"crisis monitor failed:\n{err[-2000:]}")
    return wall, peak, err.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="ratio,pool,e2e")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-french", type=int, default=2_000)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--processes", default="1,2")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    playbook = Project(ROOT).load("rappel-produit").playbook
    if parts & {"ratio", "pool"}:
        data = corpora(args.min_french)
        if "ratio" in parts:
            ratio_part(playbook, data, args.rounds)
        if "pool" in parts:
            pool_part(playbook, data, args.rounds)
    if "e2e" in parts:
        e2e_part(args.count, [int(n) for n in args.processes.split(",")])
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
