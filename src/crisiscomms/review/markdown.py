"""The post-mortem as Markdown — a Prefect artifact and a file — and the wording the HTML report shares.

Every figure shows its value in a reader's unit ("1 h 05 min", "75 %", "1 250.00") or "—" and why it is missing.
Texts from people and the public (titles, names, comments, answers) are neutralised: a `|` or a newline must not
break a table, and `*`, `_`, `[`, `<` … must not turn a mention into formatting, a link or HTML.
Times are UTC.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from crisiscomms.review.charts import duration, pack_names, utc
from crisiscomms.review.model import Figure, PostMortem

GROUPS = ("detection", "statements", "approvals", "cadence", "messages", "sentiment", "claims", "effort")
STATUSES = ("sent", "already_sent", "failed", "in_doubt", "halted")
# The headline of a post-mortem, as `review.figures` names them; a report of other figures shows each group's first
KEY_FIGURES = ("duration", "time_to_detect", "time_to_first_statement", "pack_to_release", "messages_sent",
               "sends_failed", "sends_in_doubt", "sentiment_return", "cost_total")
_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")  # a text figure that is a date and time (the onset)
_THIN = "\u202f"  # narrow no-break space: thousands read the same in French and English, and never wrap
_INLINE = str.maketrans({"\\": "\\\\", "`": "\\`", "*": "\\*", "_": "\\_", "[": "\\[", "]": "\\]", "|": "\\|",
                         "~": "\\~", "#": "\\#", "&": "&amp;", "<": "&lt;", ">": "&gt;"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BLOCK_START = re.compile(r"^(\s*)([-+=]|\d+[.)])")  # a line starting so would become a list item or a heading


def in_order(pm: PostMortem) -> PostMortem:
    """The same post-mortem with its lists in reading order: by time (undated last), approvals by stage."""
    def at(moment: datetime | None) -> tuple[bool, datetime]:
        return moment is None, utc(moment) if moment else _EPOCH

    return pm.model_copy(update={
        "timeline": sorted(pm.timeline, key=lambda e: at(e.at)), "sent": sorted(pm.sent, key=lambda m: at(m.at)),
        "runs": sorted(pm.runs, key=lambda r: at(r.started)),
        "approvals": sorted(pm.approvals, key=lambda a: (at(a.opened_at), a.stage, a.role, a.approver))})


def when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{utc(moment):%Y-%m-%d %H:%M}"


def _number(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}".replace(",", _THIN)


def value_text(figure: Figure) -> str:
    """The value as a reader says it; "—" when there is none."""
    value = figure.value
    if value is None:
        return "—"
    if isinstance(value, str) or figure.unit == "text":
        return f"{when(datetime.fromisoformat(str(value)))} UTC" if _MOMENT.match(str(value)) else str(value)
    if figure.unit == "seconds":
        return duration(value)
    if figure.unit == "share":
        return f"{value * 100:.0f} %"
    if figure.unit == "money":
        return _number(value, 2)
    if figure.unit == "score":
        return f"{value:+.2f}".replace("-", "−")
    return _number(value, 0 if float(value).is_integer() else 2)


def figure_text(figure: Figure) -> str:
    """The value, or "— (why it is missing)"."""
    return value_text(figure) if figure.missing is None else f"— ({figure.missing})"


def by_group(figures: Sequence[Figure]) -> list[tuple[str, list[Figure]]]:
    """Figures in the report's group order; groups it does not know after, in order of appearance."""
    names = [*GROUPS, *dict.fromkeys(f.group for f in figures if f.group not in GROUPS)]
    return [(name, [f for f in figures if f.group == name]) for name in names if any(f.group == name for f in figures)]


def key_figures(figures: Sequence[Figure]) -> list[Figure]:
    """The headline figures, in KEY_FIGURES' order; without any of them, the first figure of each group."""
    keyed = {f.key: f for f in figures}
    return [keyed[k] for k in KEY_FIGURES if k in keyed] or [group[0] for _, group in by_group(figures)]


def group_title(name: str) -> str:
    return name.replace("_", " ").capitalize() if name else "Other"


def message_counts(pm: PostMortem) -> list[tuple[str, str, Counter[str]]]:
    """Audience, channel and how many messages ended in each status, sorted by audience then channel."""
    counts: dict[tuple[str, str], Counter[str]] = {}
    for message in pm.sent:
        counts.setdefault((message.audience, message.channel), Counter())[message.status] += 1
    return [(audience, channel, counts[(audience, channel)]) for audience, channel in sorted(counts)]


def statuses(pm: PostMortem) -> list[str]:
    """The known statuses, then any other one a record holds."""
    return [*STATUSES, *sorted({m.status for m in pm.sent} - set(STATUSES))]


def missing_pieces(pm: PostMortem) -> list[tuple[str, str]]:
    """What could not be collected (pm.missing) and each figure without a value: (what, why)."""
    pieces = [("", piece) for piece in pm.missing]
    return pieces + [(f.label, f.missing) for f in pm.figures if f.missing is not None]


def crisis_span(pm: PostMortem) -> str:
    crisis = pm.crisis
    if crisis.closed_at is None:
        return f"Opened {when(crisis.opened_at)} UTC by {crisis.opened_by}, still under way"
    lasted = duration((utc(crisis.closed_at) - utc(crisis.opened_at)).total_seconds())
    return f"Opened {when(crisis.opened_at)} UTC by {crisis.opened_by}, closed {when(crisis.closed_at)} UTC ({lasted})"


def inline(text: object) -> str:
    """One line of text that stays text in Markdown, in a table cell too."""
    return " ".join(str(text).splitlines()).translate(_INLINE)


def block(text: str, prefix: str = "") -> list[str]:
    """Lines of text kept as lines (hard breaks), none of them read as a list item or a heading."""
    return [prefix + _BLOCK_START.sub(r"\1\\\2", line.translate(_INLINE)) + "  " for line in text.splitlines()]


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> list[str]:
    """A table; `align` gives each column's alignment (l, r), left when not said."""
    marks = ["---:" if a == "r" else "---" for a in align.ljust(len(header), "l")]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    return lines + ["| " + " | ".join(inline(cell) for cell in row) + " |" for row in rows] + [""]


def _banners(pm: PostMortem) -> list[str]:
    lines = []
    if pm.crisis.drill:
        lines.append("> **DRILL** — this crisis was an exercise: keep it out of comparisons with real crises.")
    if pm.provisional:
        lines.append(f"> **PROVISIONAL** — the crisis is still under way: the report as of "
                     f"{when(pm.generated_at)} UTC.")
    return [*lines, ""] if lines else []


def _header(pm: PostMortem) -> list[str]:
    crisis = pm.crisis
    git = f" · git `{inline(pm.git_revision)}`" if pm.git_revision else ""
    return [f"# Post-mortem — {inline(crisis.title)}", "", *_banners(pm),
            f"Crisis **{inline(crisis.id)}** · playbook **{inline(crisis.playbook)}** version "
            f"{inline(pm.playbook_version)} (sha256 `{inline(pm.playbook_sha256[:12])}`){git}  ",
            f"{inline(crisis_span(pm))}  ", f"Report generated {when(pm.generated_at)} UTC", ""]


def _figures(pm: PostMortem) -> list[str]:
    lines = ["## Key figures", "", *_table(("Figure", "Value"), [(f.label, figure_text(f))
                                                                  for f in key_figures(pm.figures)])]
    lines += ["## Figures by group", ""]
    for name, figures in by_group(pm.figures):
        lines += [f"### {inline(group_title(name))}", "",
                  *_table(("Figure", "Value"), [(f.label, figure_text(f)) for f in figures])]
    return lines if pm.figures else ["## Key figures", "", "No figure was computed.", ""]


def _approvals(pm: PostMortem) -> list[str]:
    if not pm.approvals:
        return ["## Approvals", "", "No approval was requested.", ""]
    packs = pack_names(pm.approvals)
    rows = [(packs[a.pack], a.stage, a.role, a.approver, when(a.opened_at),
             "never answered" if a.seconds is None else duration(a.seconds), a.decision or "—")
            for a in pm.approvals]
    return ["## Approvals", "", *_table(("Pack", "Stage", "Role", "Approver", "Asked (UTC)", "Wait", "Decision"),
                                        rows, "lr")]


def _messages(pm: PostMortem) -> list[str]:
    if not pm.sent:
        return ["## Messages", "", "No message was released.", ""]
    shown = statuses(pm)
    rows = [(audience, channel, *(counts[s] for s in shown), counts.total())
            for audience, channel, counts in message_counts(pm)]
    every = [(when(m.at), m.kind, m.audience, m.channel, m.language, m.status, m.receipt or "—")
             for m in pm.sent]
    header = ("Audience", "Channel", *(s.replace("_", " ") for s in shown), "Total")
    return ["## Messages", "", *_table(header, rows, "ll" + "r" * (len(shown) + 1)), "### Every message", "",
            *_table(("Sent (UTC)", "Kind", "Audience", "Channel", "Language", "Status", "Receipt"), every)]


def _timeline(pm: PostMortem) -> list[str]:
    if not pm.timeline:
        return ["## Timeline", "", "Nothing was recorded.", ""]
    rows = [(when(e.at), e.title, e.source) for e in pm.timeline]
    return ["## Timeline", "", *_table(("Time (UTC)", "What", "Source"), rows)]


def _runs(pm: PostMortem) -> list[str]:
    if not pm.runs:
        return ["## Runs", "", "No flow run was found for this crisis.", ""]
    rows = [(r.state, r.name, when(r.started), when(r.ended), r.task_runs, r.failed_task_runs, r.warnings)
            for r in pm.runs]
    return ["## Runs", "", *_table(("State", "Name", "Started (UTC)", "Ended (UTC)", "Task runs", "Failed",
                                    "Warnings"), rows, "llllrrr")]


def _missing(pm: PostMortem) -> list[str]:
    pieces = missing_pieces(pm)
    items = [f"- **{inline(what)}**: {inline(why)}" if what else f"- {inline(why)}" for what, why in pieces]
    return ["## What could not be computed", "", *(items or ["Everything could be computed."]), ""]


def _lessons(pm: PostMortem) -> list[str]:
    lessons = pm.lessons
    if lessons is None:
        return ["## Lessons", "", "The review questions have not been answered yet.", ""]
    lines = ["## Lessons", "", f"Answered by {inline(lessons.answered_by)} on {when(lessons.at)} UTC", ""]
    for question, answer in lessons.answers.items():
        lines += [f"### {inline(question)}", "", *block(answer, "> "), ""]
    for title, text in (("What worked", lessons.worked), ("What did not work", lessons.not_worked)):
        lines += [f"### {title}", "", *(block(text) or ["—"]), ""]
    actions = [(a.what, a.owner, a.due.isoformat()) for a in lessons.actions]
    return [*lines, "### Actions", "", *(_table(("Action", "Owner", "Due"), actions) if actions else ["None.", ""])]


def render_markdown(pm: PostMortem) -> str:
    """The whole post-mortem as one Markdown document."""
    sections = (_header, _figures, _approvals, _messages, _timeline, _runs, _missing, _lessons)
    ordered = in_order(pm)
    return "\n".join(line for section in sections for line in section(ordered)).rstrip() + "\n"
