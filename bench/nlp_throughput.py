"""Enrichment throughput against raw spaCy NER-only, measured in the same run; 2 processes against 1; memory.

    .venv/bin/python bench/nlp_throughput.py                    # all three parts (~10 min on 2 cores)
    .venv/bin/python bench/nlp_throughput.py --parts ratio,pool # without the 100 000-mention runs
    .venv/bin/python bench/nlp_throughput.py --parts e2e --count 100000 --processes 1,2

1. `ratio` — per language, on unique texts that our language identification gives that language (so both sides
   run NER on exactly the same texts): the raw reference, `spacy.load(model, exclude=<all NER does not need>)`
   then `list(nlp.pipe(texts, batch_size=256))`, against `Enricher(playbook).enrich(mentions)` (language,
   watchlist, sentiment, entities, segment, relevance). Ours runs NER's matrix products through numpy's BLAS
   on one thread (crisiscomms.monitoring.nlp._numpy_products): a second reference, raw spaCy with that same
   change, shows what everything else costs. Rounds rotate which side runs first; best of the rounds, wall clock
   and CPU time (CPU time is what a shared machine disturbs least).
2. `pool` — `PoolEnricher(playbook, 2)` (warm) against `Enricher` on the French and English mentions together,
   wall clock, best of the rounds.
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
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]

from monitor_throughput import crisislex  # noqa: E402

from crisiscomms.mention import Mention  # noqa: E402
from crisiscomms.monitoring import (  # noqa: E402
    language,
    nlp,
)
from crisiscomms.monitoring.monitor import Enricher  # noqa: E402
from crisiscomms.playbook.models import Playbook  # noqa: E402
from crisiscomms.stack.project import Project  # noqa: E402

if TYPE_CHECKING:
    from spacy.language import Language

BATCH = 256  # spaCy batch size on both sides: EntityExtractor.extract's default, and raw's best (64/256/1000)
FRENCH = [ROOT / "tests" / "data" / "fr_posts.jsonl", ROOT / "tests" / "data" / "fr_entities.jsonl"]


def corpora(min_french: int) -> dict[str, list[Mention]]:
    """Unique texts per language, kept when our identification agrees: both sides then NER the same texts.

    French has 186 texts only; they are repeated up to `min_french` (no stage caches per text: a repeat costs
    the same as a new text, except spaCy's tokenizer cache, which raw and ours share alike).
    """
    english = list({r["text"]: r for r in crisislex()}.values())
    french = list({r["text"]: r for path in FRENCH for r in map(json.loads, path.read_text("utf-8").splitlines())
                   }.values())
    out = {}
    for lang, records in (("fr", french), ("en", english)):
        found = language.identify([r["text"] for r in records], ["fr", "en"])
        kept = [r for r, (code, _) in zip(records, found, strict=True) if code == lang]
        print(f"{lang}: {len(kept)} unique texts identified as {lang} (of {len(records)})")
        copies = max(1, -(-min_french // len(kept))) if lang == "fr" else 1
        out[lang] = [Mention(id=f"{r['id']}-{k}", created_at=r.get("created_at") or "2024-03-12T08:00:00Z",
                             text=r["text"]) for k in range(copies) for r in kept]
    return out


def timed(run: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def best(rounds: list[tuple[float, float]]) -> tuple[float, float]:
    return min(w for w, _ in rounds), min(c for _, c in rounds)


def ratio_part(playbook: Playbook, data: dict[str, list[Mention]], rounds: int) -> None:
    """Ours against two references on the same texts: raw spaCy as installed (the target's reference), and raw
    spaCy with the one change ours makes to spaCy itself (matrix products through numpy's BLAS, one thread), so
    that the second ratio is the cost of everything else we do."""
    import spacy

    enricher = Enricher(playbook)
    print("\n| corpus | mentions | raw NER-only, mentions/s (wall · CPU) | raw, numpy products | ours, 1 process "
          "| **ours / raw** (wall · CPU) | ours / raw with numpy products |\n|---|---:|---:|---:|---:|---:|---:|")
    for lang, mentions in data.items():
        texts = [m.text for m in mentions]
        raw = spacy.load(nlp.DEFAULT_MODELS[lang], exclude=list(nlp._NOT_FOR_NER))
        same = spacy.load(nlp.DEFAULT_MODELS[lang], exclude=list(nlp._NOT_FOR_NER))
        nlp._numpy_products(same)

        def on_one_thread(texts: list[str] = texts, same: Language = same) -> object:
            with nlp._one_thread():
                return list(same.pipe(texts, batch_size=BATCH))

        sides: dict[str, Callable[[], object]] = {
            "raw": lambda raw=raw, texts=texts: list(raw.pipe(texts, batch_size=BATCH)),
            "same": on_one_thread,
            "ours": lambda mentions=mentions: enricher.enrich(mentions),
        }
        list(raw.pipe(texts[:300], batch_size=BATCH)), enricher.enrich(mentions[:300])  # warm-up
        list(same.pipe(texts[:300], batch_size=BATCH))
        times: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
        for k in range(rounds):
            for side in list(sides)[k % 3 :] + list(sides)[: k % 3]:  # each side in each position in turn
                times[side].append(timed(sides[side]))
        (raw_wall, raw_cpu), (same_wall, same_cpu), (our_wall, our_cpu) = map(best, times.values())
        n = len(mentions)
        print(f"| {lang} | {n} | {n / raw_wall:,.0f} · {n / raw_cpu:,.0f} | {n / same_wall:,.0f} · {n / same_cpu:,.0f} "
              f"| {n / our_wall:,.0f} · {n / our_cpu:,.0f} | **{raw_wall / our_wall:.3f}** · {raw_cpu / our_cpu:.3f} "
              f"| {same_wall / our_wall:.3f} · {same_cpu / our_cpu:.3f} |")


def pool_part(playbook: Playbook, data: dict[str, list[Mention]], rounds: int) -> None:
    """Wall clock, and where the CPU goes: a loaded machine moves the first, hardly the second."""
    import multiprocessing

    from crisiscomms.monitoring.parallel import PoolEnricher

    french, english = data["fr"], data["en"]
    mixed = [m for k, mention in enumerate(english) for m in (mention, french[k % len(french)])]
    enricher = Enricher(playbook)
    enricher.enrich(mixed[:300])
    others = {child.pid for child in multiprocessing.active_children()}
    with PoolEnricher(playbook, 2) as pool:
        pool.enrich(mixed[:300])
        workers = [child.pid for child in multiprocessing.active_children() if child.pid not in others]
        one: list[tuple[float, float]] = []
        two: list[tuple[float, float, list[float]]] = []
        for k in range(rounds):
            for name in ("one", "two") if k % 2 == 0 else ("two", "one"):
                if name == "one":
                    one.append(timed(lambda: enricher.enrich(mixed)))
                    continue
                before = [cpu_seconds(pid) for pid in workers]
                wall, parent = timed(lambda: pool.enrich(mixed))
                two.append((wall, parent, [cpu_seconds(pid) - b for pid, b in zip(workers, before, strict=True)]))
    n, (one_wall, one_cpu) = len(mixed), best(one)
    wall, parent, spent = min(two)
    print(f"\n| mentions (fr + en) | 1 process, mentions/s | 2 processes, mentions/s | 2 / 1 (wall) |"
          f" CPU s: 1 process · 2 processes (parent + workers) | 2 / 1 if CPU-bound |\n|---:|---:|---:|---:|---|---:|\n"
          f"| {n} | {n / one_wall:,.0f} | {n / wall:,.0f} | **{one_wall / wall:.2f}** | {one_cpu:.1f} · "
          f"{parent:.1f} + {' + '.join(f'{s:.1f}' for s in spent)} | {one_cpu / max(spent):.2f} |")


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
    print("\n| processes | mentions | wall (s) | mentions/s | peak RSS, process tree (MB) | largest process (MB) |"
          "\n|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "stream.jsonl"
        build_stream(count, stream)
        for n in processes:
            command = [str(Path(sys.executable).parent / "crisis"), "monitor", "rappel-produit", "--input",
                       str(stream), "--out", str(Path(folder) / "out.jsonl"), "--processes", str(n)]
            wall, (total, largest), summary = sampled(command, env)
            print(f"| {n} | {count} | {wall:.1f} | {count / wall:,.0f} | {total / 1024:,.0f} | {largest / 1024:,.0f} |"
                  f"  <!-- {summary} -->")
            print("    " + " ".join(command[1:]).replace(folder, "$TMP"), file=sys.stderr)
    exact = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"largest single process of these runs, exact (ru_maxrss): {exact:,.0f} MB")


def sampled(command: list[str], env: dict[str, str]) -> tuple[float, tuple[int, int], str]:
    """Run `command`: its wall time, the peaks of its process tree's resident memory (sum and largest process,
    kB; sampled every 0.2 s, so a shorter spike can be missed), its last stderr line."""
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
    return wall, peak, err.strip().splitlines()[-1]


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
