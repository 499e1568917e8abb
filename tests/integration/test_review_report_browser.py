"""The post-mortem's HTML file in real headless Chromium, on a laptop and on a phone, as a comms director opens it
from a file: the charts are drawn (not blank, axes titled, every kind of moment marked, no label over another, no
text cut off) and the page never scrolls sideways. Screenshots are kept under the test's tmp_path.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import Page

from crisiscomms.review.charts import MARKER_STYLE
from crisiscomms.review.html import render_html
from tests.review_samples import complete_postmortem, empty_postmortem

from .browser import chromium, require_chromium

LAPTOP, PHONE = (1400, 1000), (390, 844)
AXES = {"crisis": ("volume", "sentiment", "time"), "approvals": ("minutes",)}
# What the crisis chart says it draws, by colour, each to be found in the pixels of its plot area (not blank):
# [what, colour, a filled area (its exact colour) or a line (anti-aliased: nearly its colour)]
DRAWN = """svg => [
    ['bars', svg.querySelector('rect > title').parentElement.getAttribute('fill'), true],
    ['pre-crisis band', svg.querySelector('[data-band]').getAttribute('fill'), true],
    ['sentiment line', svg.querySelector('[data-series=sentiment]').getAttribute('stroke'), false],
    ...[...svg.querySelectorAll('[data-marker] line')].map(l => [
        l.parentElement.dataset.marker + ' marker', l.getAttribute('stroke'), false])]"""


def png_colours(data: bytes) -> set[bytes]:
    """The distinct pixel values of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes), without PIL."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        header, idat = (body, idat) if kind == b"IHDR" else (header, idat + body if kind == b"IDAT" else idat)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, "a PNG Chromium would not write"
    step, raw, previous, colours = (3 if colour == 2 else 4), zlib.decompress(idat), bytearray(), set()
    stride = width * step
    for y in range(height):
        kind, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        above = previous or bytearray(stride)
        for i in range(stride):
            left, up, corner = (row[i - step] if i >= step else 0), above[i], (above[i - step] if i >= step else 0)
            row[i] = (row[i] + _predict(kind, left, up, corner)) & 0xFF
        colours.update(bytes(row[i:i + step]) for i in range(0, stride, step))
        previous = row
    return colours


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 4:  # Paeth
        p = left + up - corner
        pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
        return left if pa <= pb and pa <= pc else up if pb <= pc else corner
    return (0, left, up, (left + up) // 2)[kind]


def near(colour: bytes, drawn: set[bytes], tolerance: int = 40) -> bool:
    """A pixel of that colour, or of it blended with a little white: a 2 px line scaled to 1.7 px is anti-aliased."""
    return any(max(abs(a - b) for a, b in zip(colour, pixel, strict=True)) <= tolerance for pixel in drawn)


def boxes(page: Page, selector: str) -> list[dict[str, float]]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.getBoundingClientRect().toJSON())")


def overlapping(rects: list[dict[str, float]]) -> list[tuple[int, int]]:
    return [(i, j) for i, a in enumerate(rects) for j, b in enumerate(rects[i + 1:], i + 1)
            if a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_chromium()
    path = tmp_path_factory.mktemp("review") / "post-mortem.html"
    path.write_text(render_html(complete_postmortem()), encoding="utf-8")
    return path


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_the_report_reads_on_a_laptop_and_on_a_phone(report: Path, viewport: tuple[int, int],
                                                     tmp_path: Path) -> None:
    with chromium(tmp_path / "profile", viewport=viewport) as context:
        page = context.new_page()
        page.goto(report.as_uri())
        name = f"{viewport[0]}x{viewport[1]}"
        page.screenshot(path=str(tmp_path / f"report-{name}.png"), full_page=True)
        charts = {kind: page.locator(f"svg[data-chart={kind}]:visible") for kind in AXES}
        for kind, chart in charts.items():
            assert chart.count() == 1, f"one {kind} chart shown at {name}"
            box = chart.bounding_box()
            assert box and box["width"] > 0.8 * min(viewport[0] - 40, 1000) and box["height"] > 100, (kind, box)
            chart.scroll_into_view_if_needed()
            chart.screenshot(path=str(tmp_path / f"{kind}-{name}.png"))
            if kind == "crisis":  # inside the plot's frame: not the axis lines, not the legend's swatches
                plot = chart.locator("[data-plot]").bounding_box()
                assert plot
                inner = {"x": plot["x"] + 3, "y": plot["y"] + 3, "width": plot["width"] - 6,
                         "height": plot["height"] - 6}
                page.screenshot(path=str(tmp_path / f"crisis-plot-{name}.png"), clip=inner)
            for axis in AXES[kind]:
                title = chart.locator(f"[data-axis={axis}]")
                assert title.is_visible() and (title.text_content() or "").strip(), (kind, axis)
            inside = page.evaluate("""svg => { const b = svg.getBoundingClientRect();
                return [...svg.querySelectorAll('text')].filter(t => { const r = t.getBoundingClientRect();
                  return r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1;
                }).map(t => t.textContent); }""", chart.element_handle())
            assert inside == [], f"text cut off at the edge of the {kind} chart at {name}: {inside}"
        crisis = "svg[data-chart=crisis]:visible"
        drawn = {colour[:3] for colour in png_colours((tmp_path / f"crisis-plot-{name}.png").read_bytes())}
        for what, colour, area in page.eval_on_selector(crisis, DRAWN):
            rgb = bytes.fromhex(colour.lstrip("#"))
            assert rgb in drawn if area else near(rgb, drawn), f"no {what} ({colour}) in the plot at {name}"
        for kind in MARKER_STYLE:
            assert page.locator(f"{crisis} [data-marker={kind}]").count() >= 1, kind
        labels = boxes(page, f"{crisis} [data-marker-label]")
        assert len(labels) == len(complete_postmortem().markers) and overlapping(labels) == []
        assert overlapping(boxes(page, f"{crisis} text[data-axis]")) == []
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"the page scrolls sideways at {name}: {widths}"


def test_an_empty_report_says_no_data_where_the_charts_would_be(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text(render_html(empty_postmortem()), encoding="utf-8")
    with chromium(tmp_path / "profile", viewport=PHONE) as context:
        page = context.new_page()
        page.goto(path.as_uri())
        page.screenshot(path=str(tmp_path / "empty-390x844.png"), full_page=True)
        empty = page.locator("svg[data-chart]:visible [data-empty]")
        assert empty.count() == 2 and all(empty.nth(i).is_visible() for i in range(2))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
