"""Markdown for the Prefect UI: what people would rather look at than read raw logs.

Artifacts are Markdown (the UI renders tables); charts are Unicode sparklines so they show in the
UI, in a terminal and in a log without an image pipeline.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from crisiscomms.communication.messages import TIMEZONE, parse_moment, sent_length, spoken_delay, spoken_time
from crisiscomms.monitoring.windows import WindowStats
from crisiscomms.playbook.models import Playbook

_BARS = "▁▂▃▄▅▆▇█"
BASELINE_SHOWN = 12  # windows whose median the table shows beside each window (the detector's own is longer)


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    top = max(values) or 1
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1)))] for v in values)


def window_row(stats: WindowStats) -> dict[str, Any]:
    return {
        "start": stats.window_start.isoformat(), "end": stats.window_end.isoformat(),
        "volume": stats.volume, "negative": stats.negative, "analysed": stats.analysed,
        "keywords": dict(Counter(stats.keywords).most_common(5)),
        "hashtags": dict(Counter(stats.hashtags).most_common(5)),
    }


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def monitoring_markdown(playbook_id: str, passes: list[dict[str, Any]], detected: dict[str, Any]) -> str:
    lines = [f"## Monitoring — {playbook_id}", ""]
    lines += _sources_table(passes)
    lines += _windows_section(detected.get("windows", []))
    lines += _alerts_section([a for p in passes for a in p.get("alerts", [])] + detected.get("alerts", []))
    lines += _quality_section(passes)
    return "\n".join(lines)


def _sources_table(passes: list[dict[str, Any]]) -> list[str]:
    rows = ["| source | read | processed | quarantined | status |", "|---|---:|---:|---:|---|"]
    for p in passes:
        status = f"❌ {_cell(p['failure'])[:160]}" if p.get("failure") else "✅"
        rows.append(f"| `{p['source']}` | {p['read']} | {p['processed']} | {p['quarantined']} | {status} |")
    total = [sum(p[k] for p in passes) for k in ("read", "processed", "quarantined")]
    rows.append(f"| **total** | **{total[0]}** | **{total[1]}** | **{total[2]}** | |")
    return ["### Sources (read = processed + quarantined)", "", *rows, ""]


def _windows_section(windows: list[dict[str, Any]]) -> list[str]:
    if not windows:
        return ["### Volume", "", "No closed window since the last run.", ""]
    volumes = [w["volume"] for w in windows]
    negatives = [w["negative"] for w in windows]
    analysed = sum(w["analysed"] for w in windows)
    keywords: Counter[str] = Counter()
    hashtags: Counter[str] = Counter()
    for w in windows:
        keywords.update(w["keywords"])
        hashtags.update(w["hashtags"])
    span = f"{windows[0]['start']} → {windows[-1]['end']}"
    header = f"| window start | volume | baseline (median of the {BASELINE_SHOWN} before) | negative |"
    out = ["### Volume per window", "", f"`{sparkline(volumes)}` mentions ({span})",
           f"`{sparkline(negatives)}` negative", "", header, "|---|---:|---:|---:|"]
    for i, w in enumerate(windows[-24:], start=max(0, len(windows) - 24)):
        earlier = volumes[max(0, i - BASELINE_SHOWN):i]
        baseline = f"{statistics.median(earlier):.1f}" if earlier else "—"
        out.append(f"| {w['start']} | {w['volume']} | {baseline} | {w['negative']} |")
    share = f"{sum(negatives) / analysed:.0%}" if analysed else "n/a"
    out += ["", f"**Sentiment**: {sum(negatives)} negative of {analysed} analysed ({share}).",
            f"**Top keywords**: {_top(keywords)} — **top hashtags**: {_top(hashtags)}", ""]
    return out


def _top(counter: Counter[str]) -> str:
    return ", ".join(f"{term} ({n})" for term, n in counter.most_common(8)) or "none"


def _alerts_section(alerts: list[dict[str, Any]]) -> list[str]:
    if not alerts:
        return ["### Alerts", "", "None.", ""]
    rows = ["### Alerts", "", "| kind | level | window | volume | baseline | score | why |",
            "|---|---|---|---:|---:|---:|---|"]
    for a in alerts:
        rows.append(f"| {a['kind']} | **{a['level']}** | {a['window_start']} | {a['volume']} | "
                    f"{a['baseline']:.1f} | {a['score']:.1f} | {_cell(a.get('reason', ''))[:200]} |")
    return [*rows, ""]


def _quality_section(passes: list[dict[str, Any]]) -> list[str]:
    """Each source's batch as Great Expectations saw it: every expectation, its result and what it observed."""
    out = ["### Data quality (Great Expectations)", ""]
    for p in passes:
        gate = p.get("gate") or {}
        checks = gate.get("expectations", {})
        if not checks:
            continue
        if gate.get("rows_read") == 0:  # shares of no rows mean nothing: only the volume speaks
            checks = {name: c for name, c in checks.items() if name == "volume"}
        marks = (f"{name} {'✅' if c.get('success') else '❌'}{_observed(c)}" for name, c in checks.items())
        out.append(f"`{p['source']}`: " + ", ".join(marks))
    return [*out, ""]


def _observed(check: dict[str, Any]) -> str:
    """Rows that broke it (a per-row expectation), else the value measured (a share, a count), if any."""
    if check.get("unexpected"):
        return f" {check['unexpected']}"
    observed = check.get("observed")
    if isinstance(observed, float):
        return f" {observed:.0%}"
    return "" if observed is None or check.get("unexpected") == 0 else f" {_cell(observed)}"


# --- assessment -------------------------------------------------------------------------------------------

PRIORITY_BADGES = {"p1": "🔴 P1", "p2": "🟠 P2", "p3": "🟡 P3", "p4": "🟢 P4"}
LABEL_NAMES = {"PER": "person", "ORG": "organisation", "LOC": "place", "PRODUCT": "product", "MISC": "other"}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def assessment_markdown(title: str, record: dict[str, Any]) -> str:
    """The assessment as the crisis team reads it in the UI: verdict and reasons first, then the evidence."""
    lines = [f"## Assessment — {title}", "",
             f"**{PRIORITY_BADGES[record['priority']]}** · severity **{record['severity']:.2f}** · "
             f"urgency **{record['urgency']:.2f}** · {record['mentions']} mentions "
             f"({record['analysed']} analysed, negative {_percent(record['negative_share'])})",
             f"from {record['period_start'] or '—'} to {record['period_end'] or '—'}", "",
             "### Why this priority", "", "```", *record["reasons"], "```", ""]
    lines += _timeline_section(record["timeline"])
    lines += _audience_table(record["audiences"], record["audiences_hit"])
    lines += _entity_table(record["entities"])
    lines += _tags_section(record["hashtags"], record["handles"], record["channels"])
    lines += _top_mentions_section(record["top_mentions"])
    languages = ", ".join(f"{lang} {n}" for lang, n in record["languages"].items()) or "—"
    lines += ["### Languages", "", languages, ""]
    return "\n".join(lines)


def _timeline_section(points: list[dict[str, Any]]) -> list[str]:
    if not points:
        return []
    volumes = [p["volume"] for p in points]
    negatives = [p["negative_share"] or 0.0 for p in points]
    return ["### Over time", "", f"mentions `{sparkline(volumes)}` (peak {max(volumes)})", "",
            f"negative share `{sparkline(negatives)}`", ""]


def _audience_table(audiences: dict[str, dict[str, Any]], hit: list[str]) -> list[str]:
    rows = ["### Audiences", "", "| audience | mentions | share | negative | sentiment | needs a message |",
            "|---|---:|---:|---:|---:|---|"]
    for name, row in sorted(audiences.items(), key=lambda item: -item[1]["count"]):
        sentiment = "—" if row["sentiment"] is None else f"{row['sentiment']:+.2f}"
        rows.append(f"| {_cell(row['title'])} (`{name}`) | {row['count']} | {_percent(row['share'])} | "
                    f"{_percent(row['negative_share'])} | {sentiment} | {'✅' if name in hit else ''} |")
    return [*rows, ""]


def _entity_table(entities: list[dict[str, Any]]) -> list[str]:
    if not entities:
        return ["### Entities", "", "No person, organisation, place or product named.", ""]
    rows = ["### Entities", "", "| entity | kind | mentions | example |", "|---|---|---:|---|"]
    for e in entities:
        example = _cell(e["examples"][0])[:140] if e["examples"] else ""
        rows.append(f"| {_cell(e['text'])} | {LABEL_NAMES.get(e['label'], e['label'])} | {e['count']} | {example} |")
    return [*rows, ""]


def _tags_section(hashtags: list[dict[str, Any]], handles: list[dict[str, Any]],
                  channels: list[dict[str, Any]]) -> list[str]:
    def listing(rows: list[dict[str, Any]], key: str) -> str:
        return ", ".join(f"{_cell(r[key])} ({r['count']})" for r in rows) or "—"

    return ["### Hashtags, accounts, channels", "", f"- hashtags: {listing(hashtags, 'text')}",
            f"- accounts: {listing(handles, 'text')}", f"- channels: {listing(channels, 'channel')}", ""]


def _top_mentions_section(mentions: list[dict[str, Any]]) -> list[str]:
    rows = ["### Most shared mentions", "", "| shares | reach | audience | text |", "|---:|---:|---|---|"]
    for m in mentions:
        reach = "—" if m["reach"] is None else f"{m['reach']:,}"
        text = _cell(m["text"])[:200]
        shown = f"[{text}]({m['url']})" if m["url"] else text
        rows.append(f"| {m['shares']} | {reach} | {m['segment']} | {shown} |")
    return [*rows, ""]


# --- message pack -----------------------------------------------------------------------------------------


def pack_markdown(playbook: Playbook, pack: dict[str, Any]) -> str:
    """Every message of a pack as it would leave, for the approvers; problems first when there are any."""
    title = playbook.title
    variants = pack["variants"]
    problems = [f"- `{v['id']}`: {_cell(p)}" for v in variants for p in v["problems"]]
    lines = [f"## Message pack — {title}", "", f"{len(variants)} message(s) · {_next_update(pack)}",
             f"· SHA-256 `{pack['hash']}`", ""]
    if problems:
        lines += ["### ❌ Problems (the pack cannot be approved)", "", *problems, ""]
    lines += ["| message | audience | channel | language | length |", "|---|---|---|---|---:|"]
    for v in variants:
        channel = playbook.channels.get(v["channel"])
        limit = channel.limit if channel else None
        length = f"{sent_length(v['text'], v['language'])}" + (f" / {limit}" if limit else "")
        lines.append(f"| {v['kind']} | {v['audience']} | {v['channel']} | {v['language']} | {length} |")
    for v in variants:
        quoted = "\n".join(f"> {line}" if line else ">" for line in v["text"].strip().splitlines())
        lines += ["", f"### `{v['id']}`", "", quoted]
    return "\n".join(lines) + "\n"


def _next_update(pack: dict[str, Any]) -> str:
    """What the pack promises, as its messages will say it: a time with its zone, or a delay after the release."""
    if pack.get("next_update_after"):
        return (f"next update: {spoken_delay(pack['next_update_after'])} after the release (the time is written into "
                f"each message when it is released, {TIMEZONE} time)")
    if pack.get("next_update"):
        return f"next update promised for {spoken_time(parse_moment(pack['next_update']), 'en')}"
    return "no next update promised"
