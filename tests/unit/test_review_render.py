"""The post-mortem as Markdown and as one HTML file: every figure shown or explained, texts from people kept as
text, banners for drills and provisional reports, and "no data" rather than an empty chart. No Prefect."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from crisiscomms.review import figures as review_figures
from crisiscomms.review.charts import MARKER_STYLE, approval_chart, crisis_chart, duration, usual_sentiment
from crisiscomms.review.html import render_html
from crisiscomms.review.markdown import render_markdown, value_text
from crisiscomms.review.model import Action, Event, Figure, Marker, PostMortem, WindowPoint
from tests.review_samples import complete_postmortem, empty_postmortem, provisional_postmortem

SCRIPT = "<script>alert('x')</script>"
UNESCAPE_MD = re.compile(r"\\(.)")
PIPE = re.compile(r"(?<!\\)\|")


class _Text(HTMLParser):
    """The text a reader sees, and whether any <script> element exists."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(pm: PostMortem) -> tuple[str, set[str]]:
    parser = _Text()
    parser.feed(render_html(pm))
    return re.sub(r"[ \t\r\n]+", " ", "".join(parser.parts)), parser.tags  # a narrow no-break space stays


def markdown_text(pm: PostMortem) -> str:
    plain = UNESCAPE_MD.sub(r"\1", render_markdown(pm))
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def tables(markdown: str) -> list[list[str]]:
    blocks, current = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def hostile(pm: PostMortem) -> PostMortem:
    """The same post-mortem where people and the public typed markup, pipes and newlines."""
    assert pm.lessons is not None
    lessons = pm.lessons.model_copy(update={
        "answers": {f"Question {SCRIPT}": f"Réponse | avec {SCRIPT}\n# pas un titre\n- pas une liste"},
        "worked": f"**gras** [lien](http://example.invalid) {SCRIPT}",
        "actions": [Action(what=f"Corriger | le | tableau\n{SCRIPT}", owner="A | B", due=pm.lessons.actions[0].due)]})
    event = Event(at=pm.timeline[0].at, kind="claim", title=f"« {SCRIPT} » | colonne\nligne 2", source="claims")
    crisis = pm.crisis.model_copy(update={"title": f"Rappel {SCRIPT} | **urgent**"})
    approvals = [pm.approvals[0].model_copy(update={"approver": f"Eve | {SCRIPT}", "role": "x_y"}), *pm.approvals[1:]]
    markers = [*pm.markers, Marker(at=pm.markers[0].at, kind="update", label=f"Point {SCRIPT}")]
    figures = [*pm.figures, Figure(key="x", label=f"Chiffre | {SCRIPT}", value=f"v | {SCRIPT}", unit="text",
                                   group="effort")]
    return pm.model_copy(update={"lessons": lessons, "timeline": [event, *pm.timeline], "crisis": crisis,
                                 "approvals": approvals, "markers": markers, "figures": figures})


@pytest.mark.parametrize("build", [complete_postmortem, provisional_postmortem, empty_postmortem])
def test_every_figure_shows_its_label_and_its_value_or_why_it_is_missing(build) -> None:
    pm = build()
    shown_html, _ = html_text(pm)
    shown_md = markdown_text(pm)
    for figure in pm.figures:
        wanted = [figure.label, value_text(figure), *([figure.missing] if figure.missing else [])]
        for text in wanted:
            assert text in shown_html, (figure.key, text)
            assert text in shown_md, (figure.key, text)


def test_values_read_as_a_person_says_them() -> None:
    shown_html, _ = html_text(complete_postmortem())
    shown_md = markdown_text(complete_postmortem())
    for text in ("6 h 55 min", "75 %", "1\u202f412.50", "2025-03-14 07:40 UTC", "−0.04", "0.37"):
        assert text in shown_html and text in shown_md, text
    assert [duration(s) for s in (45, 270, 720, 3599, 3900, 100_000)] == [
        "45 s", "4 min 30 s", "12 min", "1 h 00 min", "1 h 05 min", "27 h 47 min"]


def test_missing_figures_are_listed_with_their_reason_under_what_could_not_be_computed() -> None:
    pm = complete_postmortem()
    markdown = markdown_text(pm)
    section = markdown[markdown.index("## What could not be computed"):markdown.index("## Lessons")]
    missing = [f for f in pm.figures if f.missing]
    assert len(missing) == 3
    for figure in missing:
        assert f"- **{figure.label}**: {figure.missing}" in section
        assert f"| {figure.label} | — ({figure.missing}) |" in markdown
    for piece in pm.missing:
        assert f"- {piece}" in section
    shown_html, _ = html_text(pm)
    assert all(f"{f.label}: {f.missing}" in shown_html for f in missing)


def test_markdown_tables_keep_their_columns_whatever_people_typed() -> None:
    markdown = render_markdown(hostile(complete_postmortem()))
    found = tables(markdown)
    assert len(found) >= 12
    for table in found:
        columns = {len(PIPE.findall(line)) for line in table}
        assert len(columns) == 1, table
    assert "<script>" not in markdown
    assert "[lien](" not in markdown and "**gras**" not in markdown
    assert not any(line.startswith(("> # ", "> - ")) for line in markdown.splitlines())


def test_html_shows_markup_typed_by_people_as_text_and_runs_no_script() -> None:
    pm = hostile(complete_postmortem())
    html = render_html(pm)
    shown, tags = html_text(pm)
    assert "script" not in tags
    assert "<script" not in html
    assert html.count("&lt;script&gt;") >= 8  # title, approver, event, marker (in both charts), figure, lessons
    for text in (f"Rappel {SCRIPT} | **urgent**", f"Eve | {SCRIPT}", f"Corriger | le | tableau {SCRIPT}"[:30]):
        assert text in shown


def test_html_needs_nothing_but_itself() -> None:
    html = render_html(complete_postmortem())
    assert html.startswith("<!DOCTYPE html>") and '<html lang="fr">' in html
    assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"] * 4  # the SVG namespace only
    for tag in ("<script", "<link", "<img", "<iframe", "@import", "url("):
        assert tag not in html
    assert html.count('role="img"') == 4  # two charts, each drawn for a wide and a narrow screen


def test_a_provisional_report_says_so_at_the_top_and_a_closed_one_does_not() -> None:
    provisional, closed = provisional_postmortem(), complete_postmortem()
    assert "> **PROVISIONAL** — the crisis is still under way" in render_markdown(provisional)
    assert 'data-banner="provisional"' in render_html(provisional)
    assert "still under way" in html_text(provisional)[0]
    assert "PROVISIONAL" not in render_markdown(closed) and "data-banner" not in render_html(closed)


def test_a_drill_is_marked_as_a_drill() -> None:
    drill = complete_postmortem(drill=True)
    assert render_markdown(drill).count("**DRILL**") == 1
    assert 'data-banner="drill"' in render_html(drill)
    assert "DRILL" not in render_markdown(complete_postmortem())


def test_an_empty_post_mortem_renders_with_no_data_charts_and_says_what_is_missing() -> None:
    pm = empty_postmortem()
    html, markdown = render_html(pm), render_markdown(pm)
    assert html.count('data-empty="true"') == 4  # both charts, wide and narrow
    assert "No data" in html_text(pm)[0]
    for sentence in ("No approval was requested.", "No message was released.", "Nothing was recorded.",
                     "No flow run was found for this crisis.", "The review questions have not been answered yet."):
        assert sentence in markdown
    assert all(piece in markdown for piece in pm.missing)


def test_charts_are_valid_self_described_svg() -> None:
    pm = complete_postmortem()
    for svg in (crisis_chart(pm.windows, pm.markers), approval_chart(pm.approvals),
                crisis_chart([], []), approval_chart([])):
        root = ET.fromstring(svg)
        assert root.get("role") == "img" and root.get("aria-label")
        assert root.get("viewBox") and not any(el.tag.endswith("script") for el in root.iter())


def test_the_crisis_chart_marks_every_kind_of_moment_and_titles_its_axes() -> None:
    pm = complete_postmortem()
    root = ET.fromstring(crisis_chart(pm.windows, pm.markers))
    kinds = {el.get("data-marker") for el in root.iter() if el.get("data-marker")}
    assert kinds == set(MARKER_STYLE)
    axes = {el.get("data-axis"): el.text for el in root.iter() if el.get("data-axis")}
    assert axes == {"volume": "Mentions per 5 min", "sentiment": "Mean sentiment (−1 to +1)", "time": "Time (UTC)"}
    assert sum(1 for el in root.iter() if el.tag.endswith("rect") and el.find("{*}title") is not None) == 120


def test_time_ticks_read_hh_mm_with_the_date_when_the_day_changes() -> None:
    start = datetime(2025, 3, 14, 20, 0, tzinfo=UTC)
    windows = [WindowPoint(start=start + timedelta(minutes=15 * i), volume=5 + i % 7, sentiment=-0.1,
                           period="during") for i in range(40)]
    texts = [el.text for el in ET.fromstring(crisis_chart(windows, [])).iter() if el.tag.endswith("text")]
    assert {"20:00", "00:00", "2025-03-14", "2025-03-15"} <= set(texts)
    assert texts.count("2025-03-14") == 1 and texts.count("2025-03-15") == 1


def test_never_answered_approvals_are_drawn_apart_from_answered_ones() -> None:
    root = ET.fromstring(approval_chart(complete_postmortem().approvals))
    waits = [el.get("data-wait") for el in root.iter() if el.get("data-wait")]
    assert waits.count("answered") == 3 and waits.count("never") == 1
    assert any((el.text or "").startswith("never answered") for el in root.iter())


def test_the_band_drawn_is_the_band_the_figures_measure_the_return_against() -> None:
    windows = complete_postmortem().windows
    assert usual_sentiment(windows) == review_figures.band([w for w in windows if w.period == "before"])


def test_a_crowd_of_moments_keeps_the_alert_and_the_all_clear_labelled_and_every_line() -> None:
    start = datetime(2025, 3, 14, 6, 0, tzinfo=UTC)
    windows = [WindowPoint(start=start + timedelta(minutes=5 * i), volume=10, sentiment=0.0, period="during")
               for i in range(120)]
    updates = [Marker(at=start + timedelta(minutes=20 * i), kind="update", label=f"Point d'étape n° {i}")
               for i in range(1, 30)]
    markers = [*updates, Marker(at=start + timedelta(minutes=30), kind="alert", label="Alerte"),
               Marker(at=start + timedelta(hours=9), kind="all_clear", label="Fin d'alerte")]
    root = ET.fromstring(crisis_chart(windows, markers))
    labelled = [el.get("data-marker-label") for el in root.iter() if el.get("data-marker-label")]
    assert {"alert", "all_clear"} <= set(labelled) and len(labelled) < len(markers)
    assert sum(1 for el in root.iter() if el.get("data-marker")) == len(markers)
    assert float(root.get("height") or 0) < 700


def test_the_sentiment_line_breaks_where_windows_are_missing() -> None:
    start = datetime(2025, 3, 14, 6, 0, tzinfo=UTC)
    minutes = [*range(0, 60, 5), *range(180, 240, 5)]  # nothing collected between 07:00 and 09:00
    windows = [WindowPoint(start=start + timedelta(minutes=m), volume=10, sentiment=-0.2, period="during")
               for m in minutes]
    lines = [el for el in ET.fromstring(crisis_chart(windows, [])).iter() if el.get("data-series") == "sentiment"]
    assert len(lines) == 2
