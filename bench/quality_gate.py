"""Benchmark of the data-quality gate: 100 000 CrisisLex tweets (ids made unique) through one `gate()` call —
each record validated once by the mention model, the batch checked by the Great Expectations suite.

    .venv/bin/python bench/quality_gate.py [--rows 100000] [--repeat 3]

Prints the one-off cost (GE import and context), the gate time and rows/s (best of --repeat) with the share
spent in GE's validation, the expectations GE ran and which failed, the peak of
Python allocations during one gate call (tracemalloc, run separately: tracing slows it down) and the
process peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from crisiscomms.monitoring.quality import gate  # noqa: E402
from crisiscomms.playbook.monitoring import Gate  # noqa: E402

NOW = datetime(2014, 1, 1, tzinfo=UTC)


def tweets() -> list[dict[str, Any]]:
    """Every bundled CrisisLex tweet, without the annotation."""
    found = []
    for path in sorted((ROOT / "data" / "crisislex").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record.pop("gold", None)
            found.append(record)
    return found


def batch(size: int) -> list[tuple[str, dict[str, Any]]]:
    """`size` records cycling over the tweets, each copy with its own id (the gate rejects duplicates)."""
    base = tweets()
    records = []
    for n in range(size):
        record = dict(base[n % len(base)])
        record["id"] = f"{record['id']}-{n // len(base)}"
        records.append((f"bench.jsonl:{n + 1}", record))
    return records


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = Gate()
    records = batch(args.rows)
    print(f"records: {len(records)}; peak RSS before the gate: {peak_rss_mb():.0f} MB")

    started = time.perf_counter()
    gate(records[:10], "bench", settings, NOW)
    print(f"first call (GE import, context and suite): {time.perf_counter() - started:.2f} s; "
          f"peak RSS {peak_rss_mb():.0f} MB")

    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        result = gate(records, "bench", settings, NOW)
        timings.append(time.perf_counter() - started)
    best = min(timings)
    assert len(result.mentions) + len(result.quarantined) == len(records)
    print(f"gate: {best:.2f} s best of {args.repeat} ({', '.join(f'{t:.2f}' for t in timings)}), "
          f"{len(records) / best:,.0f} rows/s; GE validation {result.summary['validation_seconds']:.2f} s; "
          f"valid {len(result.mentions)}, quarantined {len(result.quarantined)}, issues {result.batch_issues}")
    checks = result.summary["expectations"]
    failed = [name for name, check in checks.items() if not check["success"]]
    print(f"GE expectations: {len(checks)}, failed: {', '.join(failed) or 'none'}")

    tracemalloc.start()
    gate(records, "bench", settings, NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak Python allocations during one gate call (tracemalloc): {peak / 2**20:.0f} MB; "
          f"process peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
