"""Small self-contained SVG charts for the Prefect UI (image artifacts take a URL: a `data:` URL needs no server).

No plotting library: two chart shapes are all the assessment needs, and an SVG of a few kilobytes renders in
the UI, in a browser and in a Markdown viewer alike. Texts are XML-escaped (entity names come from the public).
The series a chart draws are computed here too (`claim_series`), from the records of the domains.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from crisiscomms.assessment.scoring import MAX_POINTS
from crisiscomms.monitoring.claimwatch import Tracked
from crisiscomms.monitoring.windows import window_index

WIDTH, HEIGHT = 720, 260
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 48, 48, 28, 36
_BAR = "#4f6bed"
_LINE = "#d64545"
_GRID = "#d9dde3"
_FONT = 'font-family="sans-serif" font-size="11"'  # text is dark grey by default (the root's `fill`)


def data_url(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _attribute(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _frame(title: str, body: list[str], width: int = WIDTH, height: int = HEIGHT) -> str:
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_attribute(title)}" fill="#333">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{_PAD_LEFT}" y="16" {_FONT} font-weight="bold">{escape(title)}</text>',
        *body, "</svg>",
    ])


_PLOT_W = WIDTH - _PAD_LEFT - _PAD_RIGHT
_PLOT_H = HEIGHT - _PAD_TOP - _PAD_BOTTOM
_BOTTOM = _PAD_TOP + _PLOT_H


def _bars_over_time(labels: Sequence[str], values: Sequence[int]) -> tuple[list[str], float]:
    """Axis, one bar per period (its label and value as a tooltip), first and last labels; and the slot width."""
    top = max(values, default=0) or 1
    slot = _PLOT_W / max(len(values), 1)
    body = [f'<line x1="{_PAD_LEFT}" y1="{_BOTTOM}" x2="{_PAD_LEFT + _PLOT_W}" y2="{_BOTTOM}" stroke="{_GRID}"/>',
            f'<text x="{_PAD_LEFT - 6}" y="{_PAD_TOP + 4}" text-anchor="end" {_FONT}>{top}</text>',
            f'<text x="{_PAD_LEFT - 6}" y="{_BOTTOM}" text-anchor="end" {_FONT}>0</text>']
    for i, value in enumerate(values):
        h = value / top * _PLOT_H
        body.append(f'<rect x="{_PAD_LEFT + i * slot + slot * 0.1:.1f}" y="{_BOTTOM - h:.1f}" '
                    f'width="{max(slot * 0.8, 1):.1f}" height="{h:.1f}" fill="{_BAR}">'
                    f'<title>{escape(labels[i] if i < len(labels) else "")}: {value}</title></rect>')
    for i in sorted({0, len(labels) - 1}) if labels else []:
        anchor = "start" if i == 0 else "end"
        x = _PAD_LEFT if i == 0 else _PAD_LEFT + _PLOT_W
        body.append(f'<text x="{x}" y="{HEIGHT - 12}" text-anchor="{anchor}" {_FONT}>{escape(labels[i])}</text>')
    return body, slot


def timeline(title: str, labels: Sequence[str], volumes: Sequence[int],
             negative_shares: Sequence[float | None]) -> str:
    """Bars: mentions per period (left axis). Line: share of negative mentions, 0–100 % (right axis)."""
    body, slot = _bars_over_time(labels, volumes)
    body += [f'<text x="{_PAD_LEFT + _PLOT_W + 6}" y="{_PAD_TOP + 4}" {_FONT} fill="{_LINE}">100 %</text>',
             f'<text x="{_PAD_LEFT + _PLOT_W + 6}" y="{_BOTTOM}" {_FONT} fill="{_LINE}">0 %</text>']
    points = [f"{_PAD_LEFT + (i + 0.5) * slot:.1f},{_BOTTOM - share * _PLOT_H:.1f}"
              for i, share in enumerate(negative_shares) if share is not None]
    if len(points) > 1:
        body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{_LINE}" stroke-width="2"/>')
    body.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 12}" text-anchor="middle" {_FONT}>'
                f'<tspan fill="{_BAR}">■ mentions</tspan>  <tspan fill="{_LINE}">— negative share</tspan></text>')
    return _frame(title, body)


def bars(title: str, rows: Sequence[tuple[str, float, str]]) -> str:
    """Horizontal bars, one per row: (label, value 0..1, text shown after the bar)."""
    row_h, label_w = 24, 200
    height = _PAD_TOP + row_h * max(len(rows), 1) + 12
    plot_w = WIDTH - label_w - 120
    body = []
    for i, (label, value, text) in enumerate(rows):
        y = _PAD_TOP + i * row_h
        w = max(0.0, min(1.0, value)) * plot_w
        body += [f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" {_FONT}>{escape(label[:32])}</text>',
                 f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{_BAR}"/>',
                 f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" {_FONT}>{escape(text)}</text>']
    return _frame(title, body, height=height)


def counts(title: str, labels: Sequence[str], values: Sequence[int], marks: Sequence[tuple[float, str]] = (),
           legend: str = "mentions", marked: str = "correction") -> str:
    """Bars: a count per period; each mark a dashed vertical line at a (fractional) bar index, labelled."""
    body, slot = _bars_over_time(labels, values)
    for position, label in marks:
        x = _PAD_LEFT + max(0.0, min(position, len(values))) * slot
        late = position > len(values) / 2  # a mark in the right half is labelled on its left, where bars rarely are
        body += [f'<line x1="{x:.1f}" y1="{_PAD_TOP}" x2="{x:.1f}" y2="{_BOTTOM}" stroke="{_LINE}" '
                 f'stroke-width="2" stroke-dasharray="5,3"/>',
                 f'<text x="{x - 4 if late else x + 4:.1f}" y="{_PAD_TOP + 12}" '
                 f'text-anchor="{"end" if late else "start"}" {_FONT} fill="{_LINE}">{escape(label)}</text>']
    key = f'<tspan fill="{_BAR}">■ {escape(legend)}</tspan>'
    if marks:
        key += f'  <tspan fill="{_LINE}">┆ {escape(marked)}</tspan>'
    body.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 12}" text-anchor="middle" {_FONT}>{key}</text>')
    return _frame(title, body)


def claim_series(tracked: Sequence[Tracked], window: int) -> tuple[list[str], list[int], list[tuple[float, str]]]:
    """Labels, mentions per point and the corrections' positions, for one claim's corrections (for `counts`)."""
    indexes = [i for t in tracked for i in t.windows]
    indexes += [window_index(t.correction.corrected_at, window) for t in tracked]
    first, last = min(indexes), max(indexes)
    step = max(1, -(-(last - first + 1) // MAX_POINTS))  # at most MAX_POINTS bars: windows merged by `step`
    starts = list(range(first, last + 1, step))
    total: Counter[int] = Counter()
    for t in tracked:
        total.update(t.windows)
    values = [sum(total.get(i, 0) for i in range(s, s + step)) for s in starts]
    labels = [datetime.fromtimestamp(s * window, UTC).strftime("%Y-%m-%d %H:%M") for s in starts]
    marks = [((t.correction.corrected_at.timestamp() / window - first) / step,
              t.correction.corrected_at.strftime("%H:%M")) for t in tracked]
    return labels, values, marks
