"""Write a drill's replay: mentions in the shape of a real crisis's volume curve, with texts of the playbook's
scenario. Deterministic (seeded): the same command writes the same file.

    .venv/bin/python scripts/drill_replay.py \\
        --curve data/crisislex/2013_Spain_train_crash-volume_per_minute.csv --before 45 --after 180 --peak 60 \\
        --calm 0.8 --texts drills/rappel-produit.texts.yaml --out data/drills/rappel-produit.jsonl

(the command that wrote the shipped data/drills/rappel-produit.jsonl)

Method: the curve's onset (the first minute whose trailing 10 minutes hold at least 5 tweets and 5 times the mean
of the 6 hours before, as bench/detection_onset.py computes it) is placed at `--before` minutes into the replay;
the curve is cut `--after` minutes past it and scaled so that its busiest 5-minute window holds `--peak` mentions
(rounded per minute, at least the calm level `--calm` mentions a 5-minute window before the onset). Each mention
gets a text drawn from the scenario's `calm` posts before the onset and its `crisis` posts after (`lang`, authors
`@client<n>`), its own id, and a time spread evenly over its minute. The curves are CrisisLex's (MIT, © 2014
Alexandra Olteanu, Carlos Castillo; Olteanu, Vieweg, Castillo, CSCW 2015): only their shape is used; the texts
are the project's own.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from detection_onset import onset  # noqa: E402  (one definition of the onset, the bench's)

START = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)  # the replay's own clock; a drill re-stamps it anyway


def counts(path: Path) -> list[int]:
    rows = [(datetime.fromisoformat(r["minute_utc"].replace("Z", "+00:00")), int(r["tweets"]))
            for r in csv.DictReader(path.open(newline=""))]
    first = min(m for m, _ in rows)
    dense = [0] * (int((max(m for m, _ in rows) - first).total_seconds() // 60) + 1)
    for minute, tweets in rows:
        dense[int((minute - first).total_seconds() // 60)] += tweets
    return dense


def shaped(curve: list[int], before: int, after: int, peak: int, calm: float) -> list[float]:
    start = onset(curve)
    if start is None:
        raise SystemExit("the curve has no onset")
    cut = curve[start:start + after]
    busiest = max(sum(cut[i:i + 5]) for i in range(0, max(1, len(cut) - 4)))
    scale = peak / busiest if busiest else 1.0
    return [calm / 5] * before + [max(calm / 5, c * scale) for c in cut]


def mentions(rates: list[float], before: int, texts: dict[str, list[str]], lang: str, seed: int) -> list[dict]:
    draw = random.Random(seed)
    out, carry = [], 0.0
    for minute, rate in enumerate(rates):
        carry += rate
        n, carry = int(carry), carry - int(carry)
        bank = texts["calm"] if minute < before else texts["crisis"]
        for i in range(n):
            at = START + timedelta(minutes=minute, seconds=int(i * 60 / n))
            out.append({"id": f"r{minute:05d}-{i}", "created_at": at.isoformat().replace("+00:00", "Z"),
                        "text": draw.choice(bank), "author": f"@client{draw.randrange(200)}", "channel": "twitter",
                        "lang": lang})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curve", type=Path, required=True)
    parser.add_argument("--texts", type=Path, required=True, help="YAML: lang, calm: [...], crisis: [...]")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--before", type=int, default=45, help="minutes of calm before the onset")
    parser.add_argument("--after", type=int, default=240, help="minutes of the curve after the onset")
    parser.add_argument("--peak", type=int, default=60, help="mentions in the busiest 5-minute window")
    parser.add_argument("--calm", type=float, default=2.0, help="mentions a 5-minute window before the onset")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    texts = yaml.safe_load(args.texts.read_text(encoding="utf-8"))
    rates = shaped(counts(args.curve), args.before, args.after, args.peak, args.calm)
    found = mentions(rates, args.before, texts, texts.get("lang", "fr"), args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(m, ensure_ascii=False) + "\n" for m in found)
    print(f"{len(found)} mentions over {len(rates)} minutes → {args.out}")


if __name__ == "__main__":
    main()
