"""The post-mortem as one standalone HTML file: inline CSS, inline SVG charts, no script, nothing fetched.

It opens from a file, an e-mail attachment or the evidence pack, on a laptop, a phone (tables scroll inside their
box, charts scale to the width) and on paper. Every text is HTML-escaped: mention texts, names and comments come from
people and may hold markup. The wording of values is the Markdown report's (`review.markdown`), so both agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from html import escape

from crisiscomms.review.charts import NARROW, WIDE, approval_chart, crisis_chart, duration, pack_names, utc
from crisiscomms.review.markdown import (
    by_group,
    crisis_span,
    group_title,
    in_order,
    key_figures,
    message_counts,
    missing_pieces,
    statuses,
    value_text,
    when,
)
from crisiscomms.review.model import Figure, PostMortem

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#1d232b;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px}
header,section{background:#fff;border:1px solid #e3e6ea;border-radius:10px;padding:18px 22px;margin:0 0 18px}
h1{font-size:1.7rem;line-height:1.25;margin:.2rem 0 .6rem}
h2{font-size:1.3rem;margin:0 0 .8rem}
h3{font-size:1.05rem;margin:1.2rem 0 .5rem}
.eyebrow{margin:0;color:#5f6b7a;font-size:.9rem;letter-spacing:.04em;text-transform:uppercase}
.meta{margin:0;color:#3d4752;overflow-wrap:anywhere}
.meta code{font-size:.9em}
.banner{border-radius:8px;padding:10px 14px;margin:.6rem 0;font-weight:600}
.banner.drill{background:#fff4d6;border:2px solid #d49b00;color:#6b4d00}
.banner.provisional{background:#e8f0fe;border:2px solid #1a5bd6;color:#123f94}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,220px),1fr));gap:12px}
.card{border:1px solid #dfe3e8;border-radius:8px;padding:10px 14px;break-inside:avoid;min-width:0;
  overflow-wrap:anywhere}
.card .label{color:#3d4752;font-size:.92rem}
.card .value{font-size:1.45rem;font-weight:650;font-variant-numeric:tabular-nums}
.card{box-shadow:inset 4px 0 0 #1a5bd6}.card.missing{box-shadow:inset 4px 0 0 #c9ced6}
.groups{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,500px),1fr));gap:0 24px}
.group{min-width:0}td.value{font-weight:600;min-width:7rem;font-variant-numeric:tabular-nums}
td.value .why{font-weight:400}
.card.missing .value{color:#8a94a0}
.why{color:#8a4b00;font-size:.88em}.nowrap{white-space:nowrap}
figure.chart{margin:0 0 8px}
figure.chart svg{display:block;width:100%;max-width:1000px;height:auto;margin:0 auto}
.for-narrow{display:none}
figcaption{color:#5f6b7a;font-size:.9rem;margin-top:6px}
/* a table wider than the screen scrolls in its box, a shadow on the side that has more */
.table-box{overflow-x:auto;max-width:100%;border:1px solid #e3e6ea;border-radius:8px;margin:.4rem 0 1rem;
  background:linear-gradient(to right,#fff 30%,#fff0) left/40px 100% no-repeat local,
  linear-gradient(to left,#fff 30%,#fff0) right/40px 100% no-repeat local,
  radial-gradient(farthest-side at 0 50%,#0003,#0000) left/12px 100% no-repeat scroll,
  radial-gradient(farthest-side at 100% 50%,#0003,#0000) right/12px 100% no-repeat scroll #fff}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{padding:7px 12px;text-align:left;vertical-align:top;border-bottom:1px solid #eceef1}
th{background:#f7f8fa;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.time{white-space:nowrap;font-variant-numeric:tabular-nums}
td.wide{min-width:16rem}
.badge{display:inline-block;border-radius:999px;padding:0 .55em;font-size:.82em;font-weight:600;white-space:nowrap;
  background:#eceef1;color:#3d4752}
.badge.bad{background:#fde2e1;color:#a3201c}.badge.doubt{background:#ffedd5;color:#8a4b00}
.badge.good{background:#dcf3de;color:#1f6a25}
.muted,.day{color:#5f6b7a}.day{font-size:.85em}
.source{display:inline-block;min-width:9rem;overflow-wrap:anywhere;color:#3d4752;font-size:.9em}
blockquote{margin:.3rem 0 .8rem;padding:.2rem 0 .2rem 1rem;border-left:4px solid #cfd6de;white-space:pre-line}
.text{white-space:pre-line}
ul.missing li{margin:.25rem 0}
@media (max-width:640px){main{padding:10px}header,section{padding:14px 14px;border-radius:8px}
  h1{font-size:1.35rem}table{font-size:.88rem}th,td{padding:6px 9px}td.wide{min-width:13rem}
  .cards{grid-template-columns:repeat(auto-fill,minmax(min(100%,140px),1fr));gap:8px}
  .card{padding:8px 10px}.card .value{font-size:1.15rem}
  .for-wide{display:none}.for-narrow{display:block}}
@media print{body{background:#fff;font-size:11pt}main{max-width:none;padding:0}
  header,section{border:none;padding:0;margin:0 0 14pt}.table-box{overflow:visible;border:none;background:none}
  table{font-size:8.5pt}th,td{padding:3pt 5pt}th,td.time,.badge{white-space:normal}td.wide{min-width:0}
  h2,h3{break-after:avoid}tr,figure.chart{break-inside:avoid}
  .banner,.badge,.card{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""
_BAD = {"failed", "crashed", "rejected", "halted", "alert", "claim"}
_DOUBT = {"in_doubt", "paused", "cancelled", "halt", "run", "update_due"}
_GOOD = {"sent", "already_sent", "completed", "approve", "approved", "all_clear", "correction"}


class _Html(str):
    """Markup built here from escaped parts: a table puts it in as it is."""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _badge(word: str) -> _Html:
    """A status or an event kind as a coloured word: red what went wrong, orange what needs a look."""
    tone = "bad" if word.lower() in _BAD else "doubt" if word.lower() in _DOUBT else \
        "good" if word.lower() in _GOOD else ""
    return _Html(f'<span class="badge {tone}">{_e(word.replace("_", " "))}</span>')


def _table(label: str, header: Sequence[str], rows: Iterable[Sequence[object]], kinds: str = "") -> str:
    """A table in a box that scrolls sideways on a narrow screen; `kinds` per column: n number, t time, w wide
    text, v a figure's value."""
    classes = {"n": ' class="num"', "t": ' class="time"', "w": ' class="wide"', "v": ' class="value"'}
    kinds = kinds.ljust(len(header))
    head = "".join(f"<th{classes['n'] if k == 'n' else ''}>{_e(h)}</th>" for h, k in zip(header, kinds, strict=True))
    body = "".join("<tr>" + "".join(f"<td{classes.get(k, '')}>{c if isinstance(c, _Html) else _e(c)}</td>"
                                    for c, k in zip(row, kinds, strict=True)) + "</tr>" for row in rows)
    return (f'<div class="table-box" role="region" aria-label="{_e(label)}" tabindex="0"><table>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _header(pm: PostMortem) -> str:
    crisis = pm.crisis
    banners = []
    if crisis.drill:
        banners.append('<p class="banner drill" data-banner="drill">DRILL — this crisis was an exercise: '
                       "keep it out of comparisons with real crises.</p>")
    if pm.provisional:
        banners.append('<p class="banner provisional" data-banner="provisional">PROVISIONAL — the crisis is still '
                       f"under way: the report as of {_e(when(pm.generated_at))} UTC.</p>")
    git = f" · git <code>{_e(pm.git_revision)}</code>" if pm.git_revision else ""
    return (f'<header><p class="eyebrow">Post-mortem · {_e(crisis.playbook)}</p><h1>{_e(crisis.title)}</h1>'
            f"{''.join(banners)}<p class=\"meta\">Crisis <strong>{_e(crisis.id)}</strong> · playbook version "
            f"{_e(pm.playbook_version)} (sha256 <code>{_e(pm.playbook_sha256[:12])}</code>){git}<br>"
            f"{_e(crisis_span(pm))}<br>Report generated {_e(when(pm.generated_at))} UTC</p></header>")


def _card(figure: Figure) -> str:
    classes = "card missing" if figure.missing else "card"
    why = f'<div class="why">{_e(figure.missing)}</div>' if figure.missing else ""
    return (f'<div class="{classes}" data-figure="{_e(figure.key)}"><div class="label">{_e(figure.label)}</div>'
            f'<div class="value">{_e(value_text(figure))}</div>{why}</div>')


def _key_figures(pm: PostMortem) -> str:
    cards = "".join(_card(f) for f in key_figures(pm.figures))
    body = f'<div class="cards">{cards}</div>' if cards else '<p class="muted">No figure was computed.</p>'
    return f'<section id="key-figures"><h2>Key figures</h2>{body}</section>'


def _figure_value(figure: Figure) -> _Html:
    why = f'<br><span class="why">{_e(figure.missing)}</span>' if figure.missing else ""
    return _Html(f'<span class="nowrap">{_e(value_text(figure))}</span>{why}')


def _all_figures(pm: PostMortem) -> str:
    groups = "".join(f'<div class="group"><h3>{_e(group_title(name))}</h3>'
                     + _table(group_title(name), ("Figure", "Value"), [(f.label, _figure_value(f)) for f in figures],
                              " v") + "</div>" for name, figures in by_group(pm.figures))
    return f'<section id="figures"><h2>Figures by group</h2><div class="groups">{groups}</div></section>' \
        if groups else ""


def _chart(draw: Callable[[int], str]) -> str:
    """The chart drawn twice, for a wide and for a narrow screen; CSS shows one (text the same size in both)."""
    return f'<div class="for-wide">{draw(WIDE)}</div><div class="for-narrow">{draw(NARROW)}</div>'


def _over_time(pm: PostMortem) -> str:
    chart = _chart(lambda width: crisis_chart(pm.windows, pm.markers, width=width))
    caption = ("<figcaption>Mentions per monitoring window (bars, left axis) and their mean sentiment (line, right "
               "axis); the green band is the pre-crisis band (mean ± 2 standard deviations, at least ± 0.1) that "
               "sentiment is expected to return to. Times UTC.</figcaption>") if pm.windows else ""
    return (f'<section id="over-time"><h2>The crisis over time</h2><figure class="chart">{chart}{caption}</figure>'
            "</section>")


def _approvals(pm: PostMortem) -> str:
    packs = pack_names(pm.approvals)
    rows = [(packs[a.pack], a.stage, a.role, a.approver, when(a.opened_at),
             "never answered" if a.seconds is None else duration(a.seconds),
             _badge(a.decision) if a.decision else "—")
            for a in pm.approvals]
    table = _table("Approvals", ("Pack", "Stage", "Role", "Approver", "Asked (UTC)", "Wait", "Decision"), rows,
                   " n  t") if rows else ""
    return (f'<section id="approvals"><h2>Approvals</h2><figure class="chart">'
            f"{_chart(lambda width: approval_chart(pm.approvals, width=width))}"
            f"</figure>{table}</section>")


def _messages(pm: PostMortem) -> str:
    if not pm.sent:
        return '<section id="messages"><h2>Messages</h2><p class="muted">No message was released.</p></section>'
    shown = statuses(pm)
    counts = [(audience, channel, *(c[s] or "" for s in shown), c.total()) for audience, channel, c in
              message_counts(pm)]
    every = [(when(m.at), m.kind, m.audience, m.channel, m.language, _badge(m.status), m.receipt or "—")
             for m in pm.sent]
    return ('<section id="messages"><h2>Messages</h2><h3>Per audience and channel</h3>'
            + _table("Messages per audience and channel", ("Audience", "Channel", *(s.replace("_", " ")
                     for s in shown), "Total"), counts, "  " + "n" * (len(shown) + 1))
            + "<h3>Every message</h3>"
            + _table("Every message", ("Sent (UTC)", "Kind", "Audience", "Channel", "Language", "Status",
                                       "Receipt"), every, "t") + "</section>")


def _clock(events: Sequence[datetime]) -> list[_Html]:
    """HH:MM, with the date above it on the first row and wherever the day changes: a column a phone can hold."""
    days = [None, *(utc(moment).date() for moment in events)]
    return [_Html(("" if days[i] == utc(moment).date() else f'<span class="day">{utc(moment):%Y-%m-%d}</span><br>')
                  + f"{utc(moment):%H:%M}") for i, moment in enumerate(events)]


def _timeline(pm: PostMortem) -> str:
    rows = [(clock, _Html(f"{_badge(e.kind)} {_e(e.title)}"), _Html(f'<span class="source">{_e(e.source)}</span>'))
            for clock, e in zip(_clock([e.at for e in pm.timeline]), pm.timeline, strict=True)]
    body = _table("Timeline", ("Time (UTC)", "What", "Source"), rows, "tw") if rows else \
        '<p class="muted">Nothing was recorded.</p>'
    return f'<section id="timeline"><h2>Timeline</h2>{body}</section>'


def _runs(pm: PostMortem) -> str:
    rows = [(_badge(r.state), r.name, when(r.started), when(r.ended), r.task_runs, r.failed_task_runs, r.warnings)
            for r in pm.runs]
    body = _table("Runs", ("State", "Name", "Started (UTC)", "Ended (UTC)", "Task runs", "Failed", "Warnings"),
                  rows, "  ttnnn") if rows else '<p class="muted">No flow run was found for this crisis.</p>'
    return f'<section id="runs"><h2>Runs</h2>{body}</section>'


def _missing(pm: PostMortem) -> str:
    items = "".join(f"<li><strong>{_e(what)}</strong>: {_e(why)}</li>" if what else f"<li>{_e(why)}</li>"
                    for what, why in missing_pieces(pm))
    body = f'<ul class="missing">{items}</ul>' if items else '<p class="muted">Everything could be computed.</p>'
    return f'<section id="missing"><h2>What could not be computed</h2>{body}</section>'


def _lessons(pm: PostMortem) -> str:
    lessons = pm.lessons
    if lessons is None:
        return ('<section id="lessons"><h2>Lessons</h2><p class="muted">The review questions have not been '
                "answered yet.</p></section>")
    answers = "".join(f"<h3>{_e(q)}</h3><blockquote>{_e(a)}</blockquote>" for q, a in lessons.answers.items())
    said = "".join(f'<h3>{title}</h3><p class="text">{_e(text) or "—"}</p>'
                   for title, text in (("What worked", lessons.worked), ("What did not work", lessons.not_worked)))
    actions = _table("Actions", ("Action", "Owner", "Due"), [(a.what, a.owner, a.due.isoformat())
                                                               for a in lessons.actions], "  t") \
        if lessons.actions else '<p class="muted">None.</p>'
    return (f'<section id="lessons"><h2>Lessons</h2><p class="muted">Answered by {_e(lessons.answered_by)} on '
            f"{_e(when(lessons.at))} UTC</p>{answers}{said}<h3>Actions</h3>{actions}</section>")


def render_html(pm: PostMortem) -> str:
    """The whole post-mortem as one HTML document that needs nothing else."""
    sections = (_header, _key_figures, _over_time, _approvals, _messages, _all_figures, _timeline, _runs, _missing,
                _lessons)
    title = f"Post-mortem — {pm.crisis.title}" + (" (provisional)" if pm.provisional else "")
    ordered = in_order(pm)
    return ('<!DOCTYPE html>\n<html lang="fr"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
            + "".join(section(ordered) for section in sections) + "</main></body></html>\n")
