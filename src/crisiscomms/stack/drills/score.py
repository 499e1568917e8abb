"""The drill score: the drill's post-mortem (the review code, reading the drill's run history) held to the targets
of the drill file, and what became of each inject. Nothing here comes from the drill's script: a slower approver
shows as a longer approval wait because the review measured it so."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from crisiscomms.errors import printable
from crisiscomms.review.model import PostMortem
from crisiscomms.stack.drills.spec import DrillSpec


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target, or nothing to hold it to
    note: str = ""


@dataclass
class Score:
    drill: str
    playbook: str
    crisis: str | None
    rows: list[Row] = field(default_factory=list)
    data: dict[str, int] = field(default_factory=dict)

    @property
    def met(self) -> int:
        return sum(row.met is True for row in self.rows)

    @property
    def held(self) -> int:
        return sum(row.met is not None for row in self.rows)

    def as_json(self) -> str:
        return json.dumps({**asdict(self), "met": self.met, "held": self.held}, indent=2, ensure_ascii=False,
                          default=str)


def score(drill: str, spec: DrillSpec, pm: PostMortem | None, start: datetime, data: dict[str, int],
          crisis: str | None = None) -> Score:
    result = Score(drill, spec.playbook, pm.crisis.id if pm else crisis, data=data)
    if pm is None and crisis is not None:
        result.rows.append(Row("crisis closed and reviewed", "no: the all-clear was never released, so no review "
                               "was made", "closed", False, "see what the drill printed and its runs (--keep-up)"))
        return result
    if pm is None:
        result.rows.append(Row("time to detect", "never: no crisis was opened", _minutes(spec.targets.time_to_detect),
                               False, "monitoring never raised an alert-level alert on the replay"))
        return result
    targets = spec.targets
    result.rows += [_timed(pm, "time_to_detect", "time to detect", targets.time_to_detect),
                    _timed(pm, "time_to_first_statement", "time to first statement", targets.time_to_first_statement)]
    result.rows += _approvals(pm, targets.approval_stage)
    result.rows += _cadence(pm)
    for inject in spec.injects:
        at = start + timedelta(seconds=inject.at)
        if inject.claim:
            result.rows.append(_correction(pm, inject.claim, at, targets.correction))
        elif inject.question:
            result.rows.append(_question(pm, at))
        elif inject.channel_down:
            result.rows.append(_outage(pm, inject.channel_down, at, at + timedelta(seconds=inject.lasting)))
    return result


def _timed(pm: PostMortem, key: str, label: str, target: int) -> Row:
    figure = next((f for f in pm.figures if f.key == key), None)
    if figure is None or figure.value is None:
        return Row(label, "not measured", _minutes(target), False, figure.missing if figure else "")
    seconds = float(figure.value)
    return Row(label, _minutes(seconds), _minutes(target), seconds <= target)


def _approvals(pm: PostMortem, target: int) -> list[Row]:
    rows = []
    for wait in pm.approvals:
        label = f"approval wait, pack {wait.pack[:8]} stage {wait.stage} ({wait.approver})"
        if wait.seconds is None:
            rows.append(Row(label, f"no answer ({wait.decision or 'open'})", _minutes(target), False))
        else:
            rows.append(Row(label, _minutes(wait.seconds), _minutes(target), wait.seconds <= target,
                            wait.decision or ""))
    return rows


def _cadence(pm: PostMortem) -> list[Row]:
    values = {f.key: f.value for f in pm.figures if f.key.startswith("updates_")}
    if not values.get("updates_promised"):
        return [Row("update cadence", "no update promised")]
    late, missed = int(values.get("updates_late") or 0), int(values.get("updates_missed") or 0)
    return [Row("update cadence", f"{values.get('updates_on_time', 0)} on time, {late} late, {missed} missed of "
                f"{values['updates_promised']} promised", "all on time", late == 0 and missed == 0)]


def _correction(pm: PostMortem, claim: str, at: datetime, target: int) -> Row:
    sent = sorted(m.at for m in pm.sent if m.kind == "correction" and m.status == "sent" and m.at and m.at >= at)
    label = f"inject: false claim '{claim}' at {at:%H:%M}"
    if not sent:
        return Row(label, "no correction released", _minutes(target), False)
    seconds = (sent[0] - at).total_seconds()
    return Row(label, f"corrected after {_minutes(seconds)}", _minutes(target), seconds <= target)


def _question(pm: PostMortem, at: datetime) -> Row:
    sent = sorted(m.at for m in pm.sent if m.status == "sent" and m.at and m.at >= at)
    label = f"inject: a journalist's question at {at:%H:%M}"
    if not sent:
        return Row(label, "nothing released after it", "a release that answers it", False)
    return Row(label, f"next release {_minutes((sent[0] - at).total_seconds())} after it",
               "a release that answers it", None, "whether it answered the question is the team's to judge")


def _outage(pm: PostMortem, channel: str, start: datetime, end: datetime) -> Row:
    during = [m for m in pm.sent if m.channel == channel and m.at and start <= m.at < end]
    failed = sum(m.status == "failed" for m in during)
    after = sum(m.status == "sent" for m in pm.sent if m.channel == channel and m.at and m.at >= end)
    label = f"inject: channel {channel} down {start:%H:%M}–{end:%H:%M}"
    lost = [m for m in during if m.status == "sent"]
    return Row(label, f"{failed} send(s) reported failed during the outage, {after} sent on it after",
               "every failure reported", not lost, "a send counted as delivered during the outage" if lost else "")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def markdown(result: Score) -> str:
    lines = [f"# Drill {result.drill}: {result.met} of {result.held} targets met", "",
             f"Playbook `{result.playbook}`, crisis `{result.crisis or '—'}` (a drill: kept out of real-crisis "
             "figures).", "", "| measure | value | target | met | note |", "|---|---|---|---|---|"]
    for row in result.rows:
        met = "—" if row.met is None else "✅" if row.met else "❌"
        lines.append(f"| {_cell(row.measure)} | {_cell(row.value)} | {_cell(row.target)} | {met} | {_cell(row.note)} |")
    if result.data:
        lines += ["", "## Data", "", *[f"- {key.replace('_', ' ')}: {value}" for key, value in result.data.items()]]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return printable(" ".join(str(text).splitlines())).replace("|", "\\|")


SCORE_LINE = "score: "  # how `crisis drill` names its score file, last thing it prints


def score_line(score_file: Path, folder: Path) -> str:
    return f"{SCORE_LINE}{score_file}; the drill's folder: {folder}"


def score_file_in(output: str) -> Path | None:
    """The score file a `crisis drill` named in what it printed (or its run logged), if it got that far."""
    line = next((t for t in output.splitlines() if t.startswith(SCORE_LINE)), None)
    return Path(line.removeprefix(SCORE_LINE).split(";")[0]) if line else None


def write(folder: Path, result: Score) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.json").write_text(result.as_json() + "\n", encoding="utf-8")
    path = folder / "score.md"
    path.write_text(markdown(result), encoding="utf-8")
    return path
