"""SVG charts of a post-mortem: the crisis over time, and how long each approver took.

Self-contained SVG (no plotting library, no script, no external resource): the same text goes inline in the HTML
report or in a `data:` URL for a Prefect artifact. Every text is XML-escaped — marker labels, names and roles come
from people. A chart with nothing to draw says "No data" in place rather than showing an empty frame. Times are UTC,
as everywhere in the report. Each chart can be drawn at a given width: text keeps its size in the drawing, so a
narrow drawing for a phone stays readable where a wide one scaled down would not. The wording of durations lives
here so that the charts and the tables say them alike.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from crisiscomms.review.model import ApprovalWait, Marker, WindowPoint

WIDE, NARROW = 800, 400
_PLOT_H, _LANE, _HEAD = 240, 22, 44
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="14"'
_HALO = 'paint-order="stroke" stroke="white" stroke-width="4" stroke-linejoin="round"'  # text stays legible on lines
_CHAR_W, _BOLD_W = 7.6, 8.6  # mean advance of a 14 px character, regular and bold, with room to spare
_BAR, _LINE, _BAND, _GRID, _MUTED = "#a9bbdf", "#6a1b9a", "#cdebd0", "#e3e6ea", "#5f6b7a"
MARKER_STYLE: dict[str, tuple[str, str, str]] = {  # kind → colour, dash pattern, legend word
    "alert": ("#c62828", "", "alert"),
    "statement": ("#1565c0", "", "statement"),
    "update": ("#00838f", "7,4", "update"),
    "correction": ("#e65100", "3,3", "correction"),
    "all_clear": ("#2e7d32", "", "all-clear"),
}
_TICK_MINUTES = (5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)
_MIN_BAND = 0.1  # review.figures.MIN_BAND (this module may not import it)
_MAX_ROWS = 7  # rows of marker labels above the plot; past them a marker is a line with a tooltip
_LABEL_FIRST = ("alert", "all_clear", "correction", "statement", "update")  # labelled first when rows run out


def utc(moment: datetime) -> datetime:
    """Naive datetimes in the records are UTC already; aware ones are converted."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def duration(seconds: float) -> str:
    """'45 s', '4 min 30 s', '12 min', '1 h 05 min': seconds only where they still matter to a reader."""
    sign, total = ("−" if seconds < 0 else ""), int(abs(seconds) + 0.5)
    if total < 60:
        return f"{sign}{total} s"
    if total < 600 and total % 60:
        return f"{sign}{total // 60} min {total % 60:02d} s"
    minutes = int(total / 60 + 0.5)
    return f"{sign}{minutes} min" if minutes < 60 else f"{sign}{minutes // 60} h {minutes % 60:02d} min"


def pack_names(waits: Sequence[ApprovalWait]) -> dict[str, str]:
    """Pack hash → "Pack 1 (3b1f0c9a4e21)", numbered in the order the records list them, as the figures do."""
    packs = dict.fromkeys(w.pack for w in waits)
    return {pack: f"Pack {i} ({pack[:12]})" for i, pack in enumerate(packs, start=1)}


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _svg(title: str, summary: str, size: tuple[int, float], body: list[str], kind: str) -> str:
    width, height = size[0], f"{size[1]:.0f}"
    label = escape(f"{title}: {summary}", {'"': "&quot;"})
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{label}" data-chart="{kind}" fill="#1d232b" {_FONT}>',
        f"<title>{escape(title)}</title>", f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="16" y="26" font-size="17" font-weight="bold">{escape(title)}</text>', *body, "</svg>"])


def _no_data(title: str, why: str, kind: str, width: int) -> str:
    body = [f'<rect x="16" y="44" width="{width - 32}" height="110" fill="#f6f7f9" stroke="{_GRID}"/>',
            f'<text x="{width / 2}" y="96" text-anchor="middle" font-size="20" font-weight="bold" '
            f'fill="{_MUTED}" data-empty="true">No data</text>',
            f'<text x="{width / 2}" y="124" text-anchor="middle" fill="{_MUTED}">{escape(why)}</text>']
    return _svg(title, f"no data, {why}", (width, 170), body, kind)


def _nice_step(top: float, count: int = 4) -> float:
    raw = max(top, 1) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if raw <= m * magnitude)


def _fill(items: Sequence[tuple[int, str]], room: float) -> list[list[tuple[int, str]]]:
    lines: list[list[tuple[int, str]]] = [[]]
    for item in items:
        if lines[-1] and (sum(n + 2 for n, _ in lines[-1]) + item[0]) * _CHAR_W > room:
            lines.append([])
        lines[-1].append(item)
    return lines


def _lines(items: Sequence[tuple[int, str]], room: float) -> list[str]:
    """Legend items (visible length, markup) on as few lines as fit in `room`, of even lengths (no lone word)."""
    lines = _fill(items, room)
    even = _fill(items, min(room, (sum(n + 2 for n, _ in items) / len(lines) + 12) * _CHAR_W))
    # SVG collapses spaces: items are set apart by an offset of about two characters
    return ["".join(f'<tspan dx="{15 if i else 0}">{markup}</tspan>' for i, (_, markup) in enumerate(line))
            for line in (even if len(even) == len(lines) else lines)]


@dataclass(frozen=True)
class _TimeAxis:
    start: datetime
    end: datetime
    width: int

    @property
    def left(self) -> float:
        return 70 if self.width >= WIDE else 66

    @property
    def plot_w(self) -> float:
        return self.width - 2 * self.left

    def x(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1
        return self.left + (utc(moment) - self.start).total_seconds() / span * self.plot_w


def _time_ticks(start: datetime, end: datetime, most: int = 7) -> list[datetime]:
    """Round times (every 5 min … every day, on the clock) between start and end, at most `most` of them."""
    minutes = (end - start).total_seconds() / 60
    step = next((s for s in _TICK_MINUTES if minutes / s <= most), math.ceil(minutes / most / 1440) * 1440)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    tick = midnight + timedelta(minutes=math.ceil((start - midnight).total_seconds() / 60 / step) * step)
    ticks = []
    while tick <= end:
        ticks.append(tick)
        tick += timedelta(minutes=step)
    return ticks


def _time_axis(axis: _TimeAxis, bottom: float) -> list[str]:
    """HH:MM under each tick, and the date under the first one and wherever the day changes."""
    right = axis.left + axis.plot_w
    body = [f'<line x1="{axis.left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{_MUTED}"/>']
    day = None
    for tick in _time_ticks(axis.start, axis.end, most=min(6, int(axis.plot_w // 62))):
        x = axis.x(tick)
        body += [f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="{_MUTED}"/>',
                 f'<text x="{x:.1f}" y="{bottom + 21}" text-anchor="middle">{tick:%H:%M}</text>']
        if tick.date() != day:
            day = tick.date()
            body.append(f'<text x="{x:.1f}" y="{bottom + 38}" text-anchor="middle" fill="{_MUTED}">'
                        f"{tick:%Y-%m-%d}</text>")
    return [*body, f'<text x="{axis.left + axis.plot_w / 2}" y="{bottom + 62}" text-anchor="middle" '
                   'font-weight="bold" data-axis="time">Time (UTC)</text>']


def _window_length(points: Sequence[WindowPoint]) -> timedelta:
    gaps = [utc(b.start) - utc(a.start) for a, b in itertools.pairwise(points)]
    return statistics.median(gaps) if gaps and min(gaps) > timedelta(0) else timedelta(minutes=5)


def usual_sentiment(windows: Sequence[WindowPoint]) -> tuple[float, float] | None:
    """The pre-crisis band as `review.figures.band` defines it (mean ± max(2 standard deviations, 0.1) of the
    windows before the crisis), so that the band drawn is the one "sentiment returned" is measured against."""
    scores = [w.sentiment for w in windows if w.period == "before" and w.sentiment is not None]
    if len(scores) < 2:
        return None
    mean, spread = statistics.fmean(scores), max(2 * statistics.pstdev(scores), _MIN_BAND)
    return mean - spread, mean + spread


def _volume_layer(points: Sequence[WindowPoint], axis: _TimeAxis, step: timedelta, top: float) -> list[str]:
    """Left axis, its grid, one bar per window (its numbers in a tooltip)."""
    highest = max(w.volume for w in points)
    tick = _nice_step(highest)
    ceiling = max(tick * math.ceil(highest / tick), tick)
    body = []
    for i in range(int(ceiling / tick) + 1):
        y = top + _PLOT_H - i * tick / ceiling * _PLOT_H
        body += [f'<line x1="{axis.left}" y1="{y:.1f}" x2="{axis.left + axis.plot_w}" y2="{y:.1f}" '
                 f'stroke="{_GRID}"/>',
                 f'<text x="{axis.left - 8}" y="{y + 5:.1f}" text-anchor="end">{i * tick:g}</text>']
    for w in points:
        x, h = axis.x(w.start), w.volume / ceiling * _PLOT_H
        width = max((axis.x(w.start + step) - x) * 0.85, 1)
        mood = "no sentiment" if w.sentiment is None else f"sentiment {w.sentiment:+.2f}"
        body.append(f'<rect x="{x:.1f}" y="{top + _PLOT_H - h:.1f}" width="{width:.1f}" height="{h:.1f}" '
                    f'fill="{_BAR}"><title>{utc(w.start):%H:%M} UTC: {w.volume} mentions, {mood}</title></rect>')
    return body


def _sentiment_y(value: float, top: float) -> float:
    return top + (1 - max(-1.0, min(1.0, value))) / 2 * _PLOT_H


def _band_layer(points: Sequence[WindowPoint], axis: _TimeAxis, top: float) -> list[str]:
    """The plot's area (marked for tests and tools), then the pre-crisis band: bars and the line go over it."""
    area = f'<rect x="{axis.left}" y="{top}" width="{axis.plot_w}" height="{_PLOT_H}" fill="none" data-plot="area"/>'
    band = usual_sentiment(points)
    if band is None:
        return [area]
    high, low = _sentiment_y(band[1], top), _sentiment_y(band[0], top)
    return [area, f'<rect x="{axis.left}" y="{high:.1f}" width="{axis.plot_w}" height="{max(low - high, 2):.1f}" '
                  f'fill="{_BAND}" data-band="before"/>']


def _sentiment_layer(points: Sequence[WindowPoint], axis: _TimeAxis, step: timedelta, top: float) -> list[str]:
    """Right axis −1..+1 and the mean sentiment line (broken where no mention was analysed)."""
    def y(value: float) -> float:
        return _sentiment_y(value, top)

    right = axis.left + axis.plot_w
    body = [f'<line x1="{right}" y1="{top}" x2="{right}" y2="{top + _PLOT_H}" stroke="{_LINE}"/>']
    for value in (-1, -0.5, 0, 0.5, 1):
        shown = f"{value:+g}".replace("-", "−") if value else "0"
        body.append(f'<text x="{right + 8}" y="{y(value) + 5:.1f}" fill="{_LINE}">{shown}</text>')
    runs: list[list[str]] = [[]]
    for before, w in zip([None, *points], points, strict=False):
        if w.sentiment is None or (before and utc(w.start) - utc(before.start) > step * 1.5):
            runs.append([])  # no line across a window with nothing analysed, nor across missing windows
        if w.sentiment is not None:
            runs[-1].append(f"{axis.x(w.start + step / 2):.1f},{y(w.sentiment):.1f}")
    for run in filter(None, runs):
        if len(run) == 1:
            cx, cy = run[0].split(",")
            body.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{_LINE}"/>')
        else:
            body.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{_LINE}" stroke-width="2.5" '
                        'stroke-linejoin="round" data-series="sentiment"/>')
    return body


def _lanes(spans: Sequence[tuple[float, float]], order: Sequence[int], gap: float = 12) -> list[int | None]:
    """A row for each label, taken in `order`, so that no two labels of a row overlap; None past _MAX_ROWS."""
    taken: list[list[tuple[float, float]]] = []
    rows: list[int | None] = [None] * len(spans)
    for i in order:
        low, high = spans[i]
        row = next((r for r, held in enumerate(taken) if all(high + gap <= a or b + gap <= low for a, b in held)),
                   len(taken))
        if row >= _MAX_ROWS:
            continue
        if row == len(taken):
            taken.append([])
        taken[row].append((low, high))
        rows[i] = row
    return rows


@dataclass(frozen=True)
class _Label:
    marker: Marker
    text: str
    left: float
    row: int | None  # None: no room left above the plot, the line alone (its tooltip names it)


def _marker_labels(markers: Sequence[Marker], axis: _TimeAxis) -> list[_Label]:
    """Each marker's label, right of its line (left of it near the right edge), in the first row where it fits."""
    ordered = sorted(markers, key=lambda m: utc(m.at))
    texts = [_clip(f"{utc(m.at):%H:%M} {m.label}", 34 if axis.width >= WIDE else 30) for m in ordered]
    spans = []
    for m, text in zip(ordered, texts, strict=True):
        x, width = axis.x(m.at), len(text) * _BOLD_W
        spans.append((x + 5, x + 5 + width) if x + 5 + width <= axis.width - 8 else (max(x - 5 - width, 8), x - 5))
    rows = _lanes(spans, range(len(ordered)))  # in time order: labels step down from left to right
    if None in rows:  # too many to label them all: the alert and the all-clear first, the updates last
        rows = _lanes(spans, sorted(range(len(ordered)), key=lambda i: (_LABEL_FIRST.index(ordered[i].kind), i)))
    return [_Label(m, t, s[0], r) for m, t, s, r in zip(ordered, texts, spans, rows, strict=True)]


def _marker_layer(labels: Sequence[_Label], axis: _TimeAxis, top: float) -> list[str]:
    """A vertical line per marker from its label down through the plot; labels drawn last, over the lines."""
    lines, texts = [], []
    for label in labels:
        m = label.marker
        colour, dash, word = MARKER_STYLE[m.kind]
        x, y = axis.x(m.at), _HEAD + (label.row or 0) * _LANE + 16
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        lines.append(f'<g data-marker="{m.kind}"><title>{word}: {utc(m.at):%Y-%m-%d %H:%M} UTC, '
                     f'{escape(m.label)}</title><line x1="{x:.1f}" y1="{y - 14 if label.row is not None else top}" '
                     f'x2="{x:.1f}" y2="{top + _PLOT_H}" stroke="{colour}" stroke-width="2"{dashes}/></g>')
        if label.row is not None:
            texts.append(f'<text x="{label.left:.1f}" y="{y}" fill="{colour}" font-weight="600" {_HALO} '
                         f'data-marker-label="{m.kind}">{escape(label.text)}</text>')
    return lines + texts


def _legend(axis: _TimeAxis, y: float, unit: str, band: bool, kinds: Sequence[str]) -> list[str]:
    items = [(len(unit) + 15, f'<tspan fill="{_BAR}">■</tspan> mentions per {unit}'),
             (16, f'<tspan fill="{_LINE}">━</tspan> mean sentiment')]
    if band:
        items.append((26, '<tspan fill="#8fcf95">■</tspan> pre-crisis sentiment band'))
    items += [(len(MARKER_STYLE[k][2]) + 2, f'<tspan fill="{MARKER_STYLE[k][0]}">┃ {MARKER_STYLE[k][2]}</tspan>')
              for k in MARKER_STYLE if k in kinds]
    return [f'<text x="{axis.width / 2}" y="{y + i * 22}" text-anchor="middle">{line}</text>'
            for i, line in enumerate(_lines(items, axis.width - 32))]


def crisis_chart(windows: Sequence[WindowPoint], markers: Sequence[Marker],
                 title: str = "Mentions and sentiment over the crisis", width: int = WIDE) -> str:
    """Bars: mentions per window (left axis). Line: mean sentiment (right axis, −1..+1) over the band where it sat
    before the crisis. Vertical lines: alert, statements, updates, corrections, all-clear, each labelled."""
    if not windows:
        return _no_data(title, "no monitoring window was collected", "crisis", width)
    points = sorted(windows, key=lambda w: utc(w.start))
    step = _window_length(points)
    moments = [utc(m.at) for m in markers]
    axis = _TimeAxis(min([utc(points[0].start), *moments]), max([utc(points[-1].start) + step, *moments]), width)
    labels = _marker_labels(markers, axis)
    rows = [label.row for label in labels if label.row is not None]
    top = _HEAD + (max(rows) + 1) * _LANE + 8 if rows else _HEAD + 12
    bottom, unit, middle = top + _PLOT_H, duration(step.total_seconds()), top + _PLOT_H / 2
    body = [*_band_layer(points, axis, top), *_volume_layer(points, axis, step, top),
            *_sentiment_layer(points, axis, step, top), *_marker_layer(labels, axis, top), *_time_axis(axis, bottom),
            f'<text transform="translate(20 {middle}) rotate(-90)" text-anchor="middle" font-weight="bold" '
            f'data-axis="volume">Mentions per {unit}</text>',
            f'<text transform="translate({width - 16} {middle}) rotate(90)" text-anchor="middle" font-weight="bold" '
            f'fill="{_LINE}" data-axis="sentiment">Mean sentiment (−1 to +1)</text>']
    legend = _legend(axis, bottom + 92, unit, usual_sentiment(points) is not None, [m.kind for m in markers])
    peak = max(points, key=lambda w: w.volume)
    summary = (f"{len(points)} windows from {axis.start:%Y-%m-%d %H:%M} to {axis.end:%H:%M} UTC, peak of "
               f"{peak.volume} mentions at {utc(peak.start):%H:%M}, {len(markers)} moments marked")
    return _svg(title, summary, (width, bottom + 84 + 22 * len(legend)), body + legend, "crisis")


def _decision_colour(decision: str | None) -> str:
    word = (decision or "").lower()
    if word.startswith("approve"):
        return "#2e7d32"
    if word.startswith("reject"):
        return "#c62828"
    return "#e65100" if "change" in word else "#1565c0"


def _approval_row(wait: ApprovalWait, y: float, plot_w: float, ceiling: float) -> list[str]:
    """Stage, role and name above a bar as long as the wait; a dashed empty box when they never answered."""
    label = _clip(f"Stage {wait.stage} · {wait.role} · {wait.approver}", int((plot_w + 160) / _CHAR_W))
    body = [f'<text x="16" y="{y + 15}">{escape(label)}</text>']
    if wait.seconds is None:
        return [*body, f'<rect x="16" y="{y + 22}" width="{plot_w + 144}" height="18" fill="#f3f4f6" stroke="{_MUTED}" '
                       f'stroke-dasharray="5,4" data-wait="never"/>',
                f'<text x="24" y="{y + 36}" font-style="italic" fill="{_MUTED}">never answered (asked at '
                f'{utc(wait.opened_at):%H:%M} UTC)</text>']
    width = max(wait.seconds / 60 / ceiling * plot_w, 2)
    decision = escape(wait.decision or "no decision recorded")
    return [*body, f'<rect x="16" y="{y + 22}" width="{width:.1f}" height="18" '
                   f'fill="{_decision_colour(wait.decision)}" data-wait="answered"/>',
            f'<text x="{22 + width:.1f}" y="{y + 36}">{duration(wait.seconds)} · {decision}</text>']


def approval_chart(waits: Sequence[ApprovalWait], title: str = "How long each approver took",
                   width: int = WIDE) -> str:
    """One bar per approver and stage, its length the minutes from the request to the answer; grouped by pack."""
    if not waits:
        return _no_data(title, "no approval was requested", "approvals", width)
    rows = sorted(waits, key=lambda w: (utc(w.opened_at), w.stage, w.role, w.approver))
    answered = [w.seconds / 60 for w in rows if w.seconds is not None]
    step = _nice_step(max(answered, default=1))
    ceiling, plot_w = max(step * math.ceil(max(answered, default=1) / step), step), width - 16 - 160
    body, y = [], 44.0
    for pack, name in pack_names(waits).items():
        name = escape(_clip(name, int((width - 32) / _BOLD_W)))
        body.append(f'<text x="16" y="{y + 15}" font-weight="bold" data-pack="true">{name}</text>')
        y += 24
        for wait in (w for w in rows if w.pack == pack):
            body += _approval_row(wait, y, plot_w, ceiling)
            y += 50
    body.append(f'<line x1="16" y1="{y + 4}" x2="{16 + plot_w}" y2="{y + 4}" stroke="{_MUTED}"/>')
    for i in range(int(ceiling / step) + 1):
        x = 16 + i * step / ceiling * plot_w
        body += [f'<line x1="{x:.1f}" y1="{y + 4}" x2="{x:.1f}" y2="{y + 9}" stroke="{_MUTED}"/>',
                 f'<text x="{x:.1f}" y="{y + 25}" text-anchor="middle">{i * step:g}</text>']
    body.append(f'<text x="{width / 2}" y="{y + 50}" text-anchor="middle" font-weight="bold" '
                f'data-axis="minutes">Minutes from the request to the answer</text>')
    longest, unanswered = duration(max(answered, default=0) * 60), sum(w.seconds is None for w in rows)
    summary = f"{len(rows)} answers awaited, longest {longest}, {unanswered} never given"
    return _svg(title, summary, (width, y + 64), body, "approvals")
