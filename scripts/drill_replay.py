"""Write a drill's replay: mentions in the shape of a real crisis's volume curve, with texts of the playbook's
scenario. Deterministic (seeded): the same command writes the same file.

    .venv/bin/python scripts/drill_replay.py \\
        --curve data/crisislex/2013_Spain_train_crash-volume_per_minute.csv --before 45 --after 180 --peak 60 \\
        --calm 0.8 --texts drills/rappel-produit.texts.yaml --out data/drills/rappel-produit.jsonl

(the command that wrote the shipped data/drills/rappel-produit.jsonl). A drill can also take the curve itself
(`crisis drill PLAYBOOK --replay data/crisislex/<event>-volume_per_minute.csv`): it does the same on the fly.

Method (crisiscomms.stack.drills.curve): the curve's onset (the first minute whose trailing 10 minutes hold at least
5 tweets and 5 times the mean of the 6 hours before, as bench/detection_onset.py computes it) is placed at
`--before` minutes into the replay; the curve is cut `--after` minutes past it and scaled so that its busiest
5-minute window holds `--peak` mentions (rounded per minute, at least the calm level `--calm` mentions a 5-minute
window before the onset). Each mention gets a text drawn from the scenario's `calm` posts before the onset and its
`crisis` posts after (a post is a text in the file's `lang`, or `{text, lang}`), authors `@client<n>`, its own id,
and a time spread evenly over its minute. The curves are CrisisLex's (MIT, © 2014 Alexandra Olteanu, Carlos
Castillo; Olteanu, Vieweg, Castillo, CSCW 2015): only their shape is used; the texts are the project's own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crisiscomms.errors import CrisisError
from crisiscomms.stack.drills.curve import Shape, replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curve", type=Path, required=True)
    parser.add_argument("--texts", type=Path, required=True,
                        help="YAML: lang, calm: [...], crisis: [...]; a post is a text or {text, lang}")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--before", type=int, default=45, help="minutes of calm before the onset")
    parser.add_argument("--after", type=int, default=240, help="minutes of the curve after the onset")
    parser.add_argument("--peak", type=int, default=60, help="mentions in the busiest 5-minute window")
    parser.add_argument("--calm", type=float, default=2.0, help="mentions a 5-minute window before the onset")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    shape = Shape(texts=str(args.texts), before=args.before, after=args.after, peak=args.peak, calm=args.calm,
                  seed=args.seed)
    try:
        made = replay(args.curve, args.texts, shape)
    except CrisisError as exc:
        sys.exit(str(exc))
    for gap in made.gaps:
        print(gap, file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(m, ensure_ascii=False) + "\n" for m in made.mentions)
    print(f"{len(made.mentions)} mentions over {made.minutes} minutes → {args.out}")


if __name__ == "__main__":
    main()
