"""A drill's own project: a copy of the project whose playbook reads the drill's mentions, on the drill's clock.

The recorded crisis is placed in the past (it ends a day before the drill starts, in real time), so that whatever
Prefect schedules on the drill's clock — an approval deadline, an update reminder — is due at once and then waits
on that clock, which the conductor moves on. Each mention keeps its place in the crisis: re-stamped by one shift.
A line that is not a mention (broken JSON, no date) keeps its place too, right after the line before it:
monitoring quarantines it and the score counts it. Injects add their mentions to the timeline; a channel going
down is written where the drill's outbox reads it (`drill-down.json`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.record import parse_time
from crisiscomms.monitoring.sources.base import iso
from crisiscomms.monitoring.windows import window_floor
from crisiscomms.playbook.models import Playbook
from crisiscomms.stack.drills import curve
from crisiscomms.stack.drills.spec import DrillSpec, Inject

PROJECT_ITEMS = ("prefect.yaml", "playbooks", "templates", "flows", "tasks", "data")
SOURCE = "data/drill/mentions.jsonl"  # what the drill's playbook monitors, appended to as the drill goes
DOWN = "drill-down.json"  # channels an inject takes down: {channel: [from, until]} on the drill's clock
MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Line:
    at: datetime  # on the drill's clock
    text: str  # the JSONL line as monitoring will read it


@dataclass(frozen=True)
class Prepared:
    root: Path  # the drill's project
    start: datetime  # the drill's clock at the replay's first mention
    lines: list[Line]  # every line of the replay and the injects, in time order
    replay_lines: int
    unreadable: int  # lines of the replay that are not a mention (kept: monitoring quarantines them)
    notes: tuple[str, ...] = ()  # what the drill says of its replay before it starts (a curve's gaps)


def prepare(root: Path, spec: DrillSpec, playbook: Playbook, folder: Path, now: datetime) -> Prepared:
    """The drill's project in `folder`/project, ready for its stack."""
    recorded, notes = _recorded(root, spec)
    first, last = recorded[0][0], recorded[-1][0]
    tail = (spec.team.all_clear.after if spec.team.all_clear else 0) + spec.team.lessons_after + 6 * 3600
    span = last - first + timedelta(seconds=max(tail, max((i.at for i in spec.injects), default=0)))
    start = window_floor(now - span - MARGIN, spec.monitor_every)
    shift = start - first
    lines = [Line(at + shift, _restamped(text, at + shift)) for at, text in recorded]
    for inject in spec.injects:
        lines += _inject(inject, playbook, start)
    lines.sort(key=lambda line: line.at)
    project = folder / "project"
    _copy(root, project)
    _monitor_the_drill(project, spec.playbook)
    _write_downs(project, spec.injects, start)
    (project / SOURCE).parent.mkdir(parents=True, exist_ok=True)
    (project / SOURCE).write_text("", encoding="utf-8")
    unreadable = sum(1 for _, text in recorded if _mention(text) is None)
    return Prepared(project, start, lines, len(recorded), unreadable, notes)


def _recorded(root: Path, spec: DrillSpec) -> tuple[list[tuple[datetime, str]], tuple[str, ...]]:
    """(recorded time, line) of the replay: the mentions of a JSONL or CSV file, or those a volume curve gives
    with the scenario's posts (stack/drills/curve.py)."""
    path = root / spec.replay
    if not curve.is_curve(path):
        return _read(path), ()
    texts = root / (spec.curve.texts or f"drills/{spec.playbook}.texts.yaml")
    made = curve.replay(path, texts, spec.curve)
    if not made.mentions:
        raise CrisisError(f"{spec.replay}: the curve gives no mention with this shape (curve: {spec.curve})")
    lines = [(_stamp(m["created_at"]), json.dumps(m, ensure_ascii=False)) for m in made.mentions]
    return lines, (f"{spec.replay}: a volume curve, replayed as {len(lines)} mentions over {made.minutes} minutes "
                   f"with the posts of {texts.relative_to(root)}", *made.gaps)


def _stamp(text: str) -> datetime:
    moment = parse_time(text)
    assert moment is not None, text  # curve.mentions writes every created_at
    return moment


def _read(path: Path) -> list[tuple[datetime, str]]:
    """(recorded time, line) of every non-blank line, in time order; a line without a time takes the time of the
    line before it in the file (of the first dated line, at the top of the file)."""
    if not path.is_file():
        raise CrisisError(f"replay {path}: no such file")
    found: list[tuple[datetime, str]] = []
    leading: list[str] = []
    last: datetime | None = None
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            record = _mention(text)
            when = parse_time(record.get("created_at")) if record else None
            if when is None and last is None:
                leading.append(text)
                continue
            last = when or last
            found.append((when or last, text))  # type: ignore[arg-type]
    if last is None:
        raise CrisisError(f"replay {path}: not one mention with a `created_at` in it")
    first = min(at for at, _ in found)
    return sorted([(first, text) for text in leading] + found, key=lambda item: item[0])


def _mention(text: str) -> dict[str, Any] | None:
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _restamped(text: str, at: datetime) -> str:
    record = _mention(text)
    if record is None or parse_time(record.get("created_at")) is None:
        return text
    record.pop("gold", None)  # crowd labels are for measuring, never for the product
    return json.dumps({**record, "created_at": iso(at)}, ensure_ascii=False)


def _inject(inject: Inject, playbook: Playbook, start: datetime) -> list[Line]:
    at = start + timedelta(seconds=inject.at)
    if inject.channel_down:
        return []
    if inject.claim:
        claims = {c.id: c for c in playbook.communication.claims}
        if inject.claim not in claims:
            raise CrisisError(f"inject at {inject.at} s: claim '{inject.claim}' is not declared by the playbook "
                              f"(declared: {', '.join(claims) or 'none'})")
        claim = claims[inject.claim]
        words = claim.match or [claim.claim]
        texts = [f"{claim.claim} {words[i % len(words)]} ?!" for i in range(inject.mentions)]
        author = "@drill_public{}"
    else:
        texts = [inject.question or ""] * inject.mentions
        author = inject.author + "{}"
    return [Line(at + timedelta(minutes=i), json.dumps(
        {"id": f"inject-{inject.kind}-{inject.at}-{i}", "created_at": iso(at + timedelta(minutes=i)), "text": text,
         "author": author.format("" if inject.question else i), "channel": "twitter", "lang": playbook.language},
        ensure_ascii=False)) for i, text in enumerate(texts)]


def _copy(root: Path, project: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".crisis")
    project.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_ITEMS:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=ignore, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, project / name)


def _monitor_the_drill(project: Path, playbook: str) -> None:
    """The drill's playbook watches the drill's mentions only and leaves communicating to the drill's team; no
    deployment runs on a schedule (the conductor starts each monitoring pass on the drill's clock)."""
    path = project / "playbooks" / f"{playbook}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    monitoring = data.setdefault("monitoring", {})
    monitoring["sources"] = [{"id": "drill", "type": "file", "title": "Drill replay", "path": SOURCE}]
    # The drill's team starts the communication phase (`team.communicate_after`), scored as its own decision.
    (data.get("assessment") or {}).pop("communicate_on_alert", None)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    flows = project / "prefect.yaml"
    config = yaml.safe_load(flows.read_text(encoding="utf-8"))
    for deployment in config.get("deployments", []):
        for schedule in deployment.get("schedules") or []:
            schedule["active"] = False
    flows.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _write_downs(project: Path, injects: list[Inject], start: datetime) -> None:
    downs = {i.channel_down: [iso(start + timedelta(seconds=i.at)),
                              iso(start + timedelta(seconds=i.at + i.lasting))]
             for i in injects if i.channel_down}
    state = project / ".crisis"
    state.mkdir(parents=True, exist_ok=True)
    (state / DOWN).write_text(json.dumps(downs), encoding="utf-8")
