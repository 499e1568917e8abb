"""A volume curve turned into a drill's replay: mentions in the shape of a real crisis's per-minute volume, with the
texts of the playbook's scenario. Deterministic (seeded): the same curve, texts and shape give the same mentions.

A curve is a CSV with `minute_utc` and `tweets` columns, one row per minute that had any (CrisisLex's format: a
minute without a row had none). The curve's onset — the first minute whose trailing 10 minutes hold at least 5
tweets and 5 times the mean of the 6 hours before, the definition bench/detection_onset.py measures detection
against — is placed `before` minutes into the replay; the curve is cut `after` minutes past it and scaled so that its
busiest 5-minute window holds `peak` mentions (rounded per minute; at least the calm level, `calm` mentions a
5-minute window, which is also the level before the onset). Each mention gets a text drawn from the scenario's
`calm` posts before the onset and its `crisis` posts after, its own id, an author `@client<n>`, and a time spread
evenly over its minute. A stretch of an hour or more without a row after the onset is replayed as silence and
reported: it may be a recording gap rather than a quiet hour.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from crisiscomms.errors import CrisisError
from crisiscomms.playbook.steps import Spec

ONSET_MINUTES = 10
ONSET_TWEETS = 5
ONSET_RATIO = 5
ONSET_HISTORY = 360
LONG_GAP = 60  # minutes without a row, after the onset, reported as a possible recording gap
START = datetime(2026, 3, 12, 6, 0, tzinfo=UTC)  # the replay's own clock; a drill re-stamps it anyway


class Shape(Spec):
    """How a volume curve becomes the drill's replay (the drill file's `curve:`; scripts/drill_replay.py's
    options)."""

    texts: str = Field("", description="The scenario's posts (YAML: lang, calm, crisis); default "
                       "drills/<playbook>.texts.yaml.")
    before: int = Field(45, ge=0, le=1440, description="Minutes of calm before the onset.")
    after: int = Field(240, ge=10, le=10080, description="Minutes of the curve after the onset.")
    peak: int = Field(60, ge=1, le=100_000, description="Mentions in the busiest 5-minute window.")
    calm: float = Field(2.0, ge=0, le=10_000, description="Mentions a 5-minute window before the onset.")
    seed: int = 1


@dataclass(frozen=True)
class Curve:
    path: Path
    first: datetime
    counts: list[int]


@dataclass(frozen=True)
class Texts:
    lang: str
    calm: list[tuple[str, str]]  # (text, language)
    crisis: list[tuple[str, str]]


@dataclass
class Replay:
    mentions: list[dict[str, Any]]
    minutes: int
    gaps: list[str] = field(default_factory=list)  # what the drill says about long silences after the onset


def is_curve(path: Path) -> bool:
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    return {"minute_utc", "tweets"} <= {name.strip() for name in header.split(",")}


def read_curve(path: Path) -> Curve:
    """The curve, dense (a count for every minute from its first row), or CrisisError naming the file, the line
    and the field of the first bad row."""
    rows: list[tuple[datetime, int]] = []
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            rows.append((_minute(path, line, row.get("minute_utc")), _tweets(path, line, row.get("tweets"))))
    if not rows:
        raise CrisisError(f"{path}: a volume curve needs rows of minute_utc,tweets; it has none")
    first = min(minute for minute, _ in rows)
    dense = [0] * (int((max(minute for minute, _ in rows) - first).total_seconds() // 60) + 1)
    for minute, tweets in rows:
        dense[int((minute - first).total_seconds() // 60)] += tweets
    return Curve(path, first, dense)


def _minute(path: Path, line: int, text: str | None) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise CrisisError(f"{path}:{line}: minute_utc: {text!r} is not a time (2013-04-23T09:59:00Z)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).replace(second=0, microsecond=0)


def _tweets(path: Path, line: int, text: str | None) -> int:
    try:
        count = int(str(text).strip())
    except ValueError:
        raise CrisisError(f"{path}:{line}: tweets: {text!r} is not a whole number") from None
    if count < 0:
        raise CrisisError(f"{path}:{line}: tweets: {count} is below 0")
    return count


def onset(counts: Sequence[int]) -> int | None:
    """Index of the onset minute: the first whose trailing 10 minutes hold ≥ 5 tweets and ≥ 5× the mean
    10-minute volume of the 6 hours before them (an absolute floor, so a silent history does not make one tweet
    an onset, and a relative one, so a busy history needs a real rise)."""
    prefix = [0]
    for count in counts:
        prefix.append(prefix[-1] + count)
    for end in range(1, len(counts) + 1):
        recent = prefix[end] - prefix[max(0, end - ONSET_MINUTES)]
        history_start = max(0, end - ONSET_MINUTES - ONSET_HISTORY)
        history_minutes = max(1, end - ONSET_MINUTES - history_start)
        history = (prefix[max(0, end - ONSET_MINUTES)] - prefix[history_start]) * ONSET_MINUTES / history_minutes
        if recent >= ONSET_TWEETS and recent >= ONSET_RATIO * history:
            return end - 1
    return None


def shaped(curve: Curve, shape: Shape) -> tuple[list[float], list[str]]:
    """Mentions per minute of the replay, and what to say of the long silences after the onset."""
    start = onset(curve.counts)
    if start is None:
        raise CrisisError(f"{curve.path}: the curve never rises to an onset (10 minutes with at least "
                          f"{ONSET_TWEETS} tweets and {ONSET_RATIO}× the 6 hours before): nothing to drill on")
    cut = curve.counts[start:start + shape.after]
    busiest = max(sum(cut[i:i + 5]) for i in range(0, max(1, len(cut) - 4)))
    scale = shape.peak / busiest if busiest else 1.0
    floor = shape.calm / 5
    return [floor] * shape.before + [max(floor, c * scale) for c in cut], _gaps(curve, start, cut)


def _gaps(curve: Curve, start: int, cut: list[int]) -> list[str]:
    found, run = [], 0
    for index, count in enumerate([*cut, 1]):
        if count == 0:
            run += 1
            continue
        if run >= LONG_GAP:
            begin = curve.first + timedelta(minutes=start + index - run)
            found.append(f"{curve.path.name}: no row for {run} minutes from {begin:%Y-%m-%d %H:%M} UTC, "
                         f"{index - run} minutes after the onset: replayed as silence (a recording gap?)")
        run = 0
    return found


def read_texts(path: Path) -> Texts:
    """The scenario's posts: `lang`, `calm: [...]`, `crisis: [...]`; a post is a text in `lang` or
    `{text: ..., lang: en}`."""
    if not path.is_file():
        raise CrisisError(f"{path}: no such file (the scenario's posts a curve is replayed with)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise CrisisError(f"{path}: the posts are a mapping: lang, calm: [...], crisis: [...]")
    lang = str(data.get("lang") or "fr")
    banks = {key: [_post(path, key, i, post, lang) for i, post in enumerate(data.get(key) or [])]
             for key in ("calm", "crisis")}
    for key, bank in banks.items():
        if not bank:
            raise CrisisError(f"{path}: {key}: at least one post is needed")
    return Texts(lang, banks["calm"], banks["crisis"])


def _post(path: Path, key: str, index: int, post: Any, lang: str) -> tuple[str, str]:
    if isinstance(post, dict) and isinstance(post.get("text"), str) and post["text"].strip():
        return post["text"], str(post.get("lang") or lang)
    if isinstance(post, str) and post.strip():
        return post, lang
    raise CrisisError(f"{path}: {key}[{index}]: a post is a text or {{text: ..., lang: en}}")


def mentions(rates: list[float], before: int, texts: Texts, seed: int) -> list[dict[str, Any]]:
    draw = random.Random(seed)
    out, carry = [], 0.0
    for minute, rate in enumerate(rates):
        carry += rate
        n, carry = int(carry), carry - int(carry)
        bank = texts.calm if minute < before else texts.crisis
        for i in range(n):
            at = START + timedelta(minutes=minute, seconds=int(i * 60 / n))
            text, lang = draw.choice(bank)
            out.append({"id": f"r{minute:05d}-{i}", "created_at": at.isoformat().replace("+00:00", "Z"),
                        "text": text, "author": f"@client{draw.randrange(200)}", "channel": "twitter",
                        "lang": lang})
    return out


def replay(curve_path: Path, texts_path: Path, shape: Shape) -> Replay:
    rates, gaps = shaped(read_curve(curve_path), shape)
    return Replay(mentions(rates, shape.before, read_texts(texts_path), shape.seed), len(rates), gaps)
