"""Throughput and peak memory of the monitoring pass on 100 000 mentions built from the CrisisLex tweets.

    .venv/bin/python bench/monitor_throughput.py [--count 100000] [--every-text]

`--every-text`: every mention's text analysed, none reused (the enrichment as it was before its cache), to
measure what the reuse buys on the same stream.

The pass is the one `crisis monitor --input` runs (`monitor.monitor_file`, one process): framing (file source) →
gate (mention model per record, Great Expectations per batch) → language → watchlist → sentiment → relevance →
entities → detection. Reported: mentions/s end to end, the share of time each stage takes (the gate's share
included), the share of mentions whose text had to be analysed (the others reuse the analysis of an earlier
mention with the same text), and the peak resident memory of the process.

Data: CrisisLexT26 (Olteanu, Vieweg, Castillo, CSCW 2015; MIT), five events, as a real stream (`build_stream`):
the tweets in the order they were posted, retweets and copies kept, then copies of that stream to reach `count`.
Each copy k ≥ 1 is posted k hours later and its texts end with " #c<k>": copies never repeat each other's texts,
so the stream repeats itself exactly as much as the real tweets do (10 % of them repeat an earlier text), not 19
times more. Language id ignores the tag, NER keeps it out of entities, sentiment has no score for it.
The sample is sparse (5 350 tweets over 16 months, months between two events), so silences longer than 6 hours
are closed to 6 hours: the order and every shorter interval stay real, and a batch of 5 000 mentions spans days,
not the months that would make the gate set its older part aside (`gate.max_age`, 30 days before the newest read).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from crisiscomms.mention import Mention  # noqa: E402
from crisiscomms.monitoring import (  # noqa: E402
    detection,
    language,
    monitor,
    nlp,
    quality,
    sentiment,
    watchlist,
)
from crisiscomms.monitoring.analysis_cache import Analysis  # noqa: E402
from crisiscomms.monitoring.enrich import Enricher, key_of  # noqa: E402
from crisiscomms.stack.project import Project  # noqa: E402


def crisislex() -> list[dict[str, str]]:
    """The five events' tweets, without their crowd labels (never product input)."""
    records = []
    for path in sorted((ROOT / "data" / "crisislex").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record.pop("gold", None)
            records.append(record)
    return records


def real_stream() -> list[dict[str, str]]:
    """The five events' tweets in the order they were posted (ties by id), retweets and copies kept."""
    return sorted(crisislex(), key=lambda record: (record["created_at"], record["id"]))


def build_stream(count: int, target: Path) -> None:
    """`count` mentions in posting order: the real stream, then copies of it (see the module docstring)."""
    tweets = real_stream()
    times = without_long_silences([datetime.fromisoformat(t["created_at"].replace("Z", "+00:00")) for t in tweets])
    records = []
    for i in range(count):
        record = dict(tweets[i % len(tweets)])
        copy = i // len(tweets)
        created = times[i % len(tweets)] + timedelta(hours=copy)
        record["id"] = f"{record['id']}-{copy}"
        record["created_at"] = created.isoformat()
        record["text"] += f" #c{copy}" if copy else ""
        records.append((created, record))
    records.sort(key=lambda pair: pair[0])  # stable: same-instant tweets stay in the real stream's order
    with target.open("w", encoding="utf-8") as handle:
        for _, record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def without_long_silences(times: list[datetime], longest: timedelta = timedelta(hours=6)) -> list[datetime]:
    """The same moments, in the same order, with every gap longer than `longest` shortened to `longest`."""
    out = times[:1]
    for before, after in pairwise(times):
        out.append(out[-1] + min(after - before, longest))
    return out


class Counted:
    """Count the texts `Enricher.analyse_texts` is given: the ones analysed rather than reused."""

    def __init__(self) -> None:
        self.texts = 0
        original = Enricher.analyse_texts

        def counted(enricher: Enricher, keys: list[tuple[str, str | None]]) -> object:
            self.texts += len(keys)
            return original(enricher, keys)

        Enricher.analyse_texts = counted  # type: ignore[method-assign,assignment]


class Timed:
    """Wrap module functions to add up the time spent in each stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner: object, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def timed(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        setattr(owner, name, timed)


def analyse_every_text(enricher: Enricher, mentions: Sequence[Mention]) -> list[Analysis]:
    """`Enricher.analyse` without reuse: every mention's text analysed, as before the cache."""
    return enricher.analyse_texts([key_of(m) for m in mentions])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--every-text", action="store_true", help="analyse every mention's text (no reuse)")
    args = parser.parse_args()
    if args.every_text:
        Enricher.analyse = analyse_every_text  # type: ignore[method-assign]
    playbook = Project(ROOT).load("rappel-produit").playbook
    timer = Timed()
    timer.wrap(quality, "gate", "gate (records + GE)")
    timer.wrap(language, "identify", "language")
    timer.wrap(sentiment, "score", "sentiment")
    timer.wrap(watchlist.Matcher, "match", "watchlist")
    timer.wrap(detection, "detect_windows", "detection")
    timer.wrap(nlp.EntityExtractor, "extract", "entities (spaCy NER)")
    analysed = Counted()
    print(f"load average at the start {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "stream.jsonl"
        build_stream(args.count, stream)
        quality.gate([], "warm-up", playbook.monitoring.gate, datetime.now().astimezone())  # type: ignore[union-attr]
        timer.seconds.clear()  # GE's one-off start-up (import, context) is reported apart, below
        start = time.perf_counter()
        report = monitor.monitor_file(playbook, stream, lambda outcome: None, processes=1)
        elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not report.read == report.processed + report.quarantined == args.count or report.quarantined:
        raise SystemExit(f"read {report.read} = processed {report.processed} + quarantined {report.quarantined} "
                         f"of {args.count}: a bench whose mentions are set aside measures something else")
    print(f"mentions: {report.read} (processed {report.processed}, quarantined {report.quarantined}), "
          f"alerts: {len(report.alerts)}")
    print(f"end to end: {elapsed:.1f} s → {report.read / elapsed:,.0f} mentions/s; peak RSS {peak_mb:,.0f} MB")
    share = analysed.texts / report.processed
    print(f"texts analysed: {analysed.texts:,} of {report.processed:,} mentions ({share:.1%}); the others reused an "
          f"earlier analysis. Load average at the end {os.getloadavg()[0]:.2f}")
    print("| stage | seconds | share |\n|---|---:|---:|")
    for stage, seconds in sorted(timer.seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {stage} | {seconds:.1f} | {seconds / elapsed:.0%} |")
    rest = elapsed - sum(timer.seconds.values())
    print(f"| framing, records, windows (rest) | {rest:.1f} | {rest / elapsed:.0%} |")


if __name__ == "__main__":
    main()
