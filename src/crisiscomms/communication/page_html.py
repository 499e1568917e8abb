"""The approver page's HTML: self-contained (inline style, no script, no image, no font), readable on a phone.

Every text from a pack, a playbook or a person is escaped and shown as text: a `<script>`, a comment, `__x__` or
an image URL in a message appears exactly as it will be sent, and nothing is fetched.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from crisiscomms.communication.approval import Member, StageRecord
from crisiscomms.communication.messages import NEXT_UPDATE_MARKER, parse_moment, spoken_delay, spoken_time

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",  # the address holds the personal token
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_STYLE = """
body{font:16px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#111}
main{max-width:46rem;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;margin:.2rem 0 .6rem}h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
.card{background:#fff;border:1px solid #d8dbe0;border-radius:8px;padding:.8rem;margin:.6rem 0}
.drill{background:#7a3e00;color:#fff;padding:.3rem .6rem;border-radius:4px;display:inline-block;font-weight:600}
.meta{color:#444;font-size:.92rem}.hash{font-family:monospace;word-break:break-all;font-size:.85rem}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font:15px/1.45 ui-monospace,monospace;background:#fbfbfc;
border:1px solid #e3e5e8;border-radius:6px;padding:.6rem;margin:.4rem 0}
.ok{border-color:#2e7d32;background:#eef7ee}.bad{border-color:#b71c1c;background:#fdeeee}
table{border-collapse:collapse;width:100%;font-size:.92rem;table-layout:fixed}td,th{border-bottom:1px solid
#e3e5e8;padding:.3rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}td pre{font-size:.85rem}
label{display:block;padding:.35rem 0;font-size:1.05rem}
textarea{width:100%;box-sizing:border-box;min-height:5rem;font:inherit}
button{font:inherit;font-weight:600;padding:.7rem 1.2rem;border-radius:6px;border:0;background:#1f4e99;color:#fff;
width:100%;margin-top:.6rem}
"""


def _doc(title: str, body: str, refresh: str = "") -> str:
    # A page waiting for the run's verdict reloads itself (by GET: a decision is never posted again).
    again = f"<meta http-equiv=\"refresh\" content=\"3; url={escape(refresh)}\">" if refresh else ""
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{again}"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>")


def problem(title: str, detail: str) -> str:
    return _doc(title, f"<h1>{escape(title)}</h1><div class=\"card bad\"><p>{escape(detail)}</p></div>")


def pack_page(stage: StageRecord, pack: dict[str, Any], person: Member | None, status: str, form: str | None,
              used: dict[str, str] | None = None, outcome: tuple[str, str] | None = None, self_url: str = "") -> str:
    """The stage, what was decided so far, every message as it will leave, and the form (or its outcome)."""
    parts = [_header(stage, person, status), _result(used, outcome)]
    if form:
        parts.append("<p><a href=\"#decide\">Go to the decision form ↓</a> (after the messages)</p>")
    parts += [_history(stage), _messages(pack)]
    if form:
        parts.append(_form(form))
    waiting = self_url if used and outcome is None else ""
    return _doc(f"Approval — {stage.title}", "".join(parts), waiting)


def _header(stage: StageRecord, person: Member | None, status: str) -> str:
    drill = "<p class=\"drill\">EXERCICE / DRILL — nothing leaves the company</p>" if stage.drill else ""
    you = f"<p>You: <b>{escape(person.name)}</b> ({escape(person.role)})</p>" if person else ""
    state = "" if status == "open" else f"<div class=\"card\"><b>This stage is over: {escape(status)}.</b></div>"
    return (f"{drill}<h1>{escape(stage.title)}</h1>"
            f"<p><b>Stage {stage.number} of {stage.of}</b> — {escape(', '.join(stage.roles))}</p>{you}"
            f"<p>Decide before <b>{escape(spoken_time(stage.deadline_at, 'en'))}</b></p>"
            f"<p class=\"meta\">Pack SHA-256: <span class=\"hash\">{escape(stage.hash)}</span></p>{state}")


def _result(used: dict[str, str] | None, outcome: tuple[str, str] | None) -> str:
    if not used:
        return ""
    said = f"You answered <b>{escape(used['decision'])}</b> at {escape(used['used_at'])}."
    if outcome is None:
        return (f"<div class=\"card\">{said} The run has not confirmed it yet: this page looks again every few "
                "seconds.</div>")
    verdict, reason = outcome
    if verdict == "refused":
        return f"<div class=\"card bad\"><b>Refused: {escape(reason)}</b><br>{said}</div>"
    return f"<div class=\"card ok\"><b>Recorded.</b> {said}</div>"


def _form(token: str) -> str:
    choices = "".join(f"<label><input type=\"radio\" name=\"decision\" value=\"{value}\" required> {label}</label>"
                      for value, label in (("approve", "Approve: release these messages as shown"),
                                           ("reject", "Reject: nothing is released"),
                                           ("request_changes", "Request changes: nothing is released")))
    return (f"<form method=\"post\" class=\"card\" id=\"decide\"><h2>Your decision</h2>{choices}"
            "<label for=\"comment\">Comment (kept in the audit trail)</label>"
            "<textarea id=\"comment\" name=\"comment\" maxlength=\"4000\"></textarea>"
            f"<input type=\"hidden\" name=\"csrf\" value=\"{escape(token)}\">"
            "<button type=\"submit\">Send my decision</button></form>")


def _history(stage: StageRecord) -> str:
    if not stage.decisions:
        return "<h2>Decisions so far</h2><p class=\"meta\">None: this is the first answer of the chain.</p>"
    rows = "".join(f"<tr><td>{escape(str(d['stage']))}</td><td>{escape(d['name'] or '—')}<br>"
                   f"<span class=\"meta\">{escape(d['role'])}</span></td><td>{escape(d['decision'])}"
                   f"{'<br><b>refused</b>: ' + escape(d['refused']) if d.get('refused') else ''}</td>"
                   f"<td><pre>\n{escape(d['comment'])}</pre></td></tr>" for d in stage.decisions)
    return ("<h2>Decisions so far</h2><table><tr><th>stage</th><th>who</th><th>decision</th><th>comment</th></tr>"
            f"{rows}</table>")


def _messages(pack: dict[str, Any]) -> str:
    items = []
    for v in pack["variants"]:
        items.append(f"<section class=\"card\" data-message=\"{escape(v['id'])}\"><h2>{escape(v['kind'])} · "
                     f"{escape(v['audience'])} · {escape(v['channel'])} · {escape(v['language'])}</h2>"
                     f"<p class=\"meta\">Subject: <span class=\"subject\">{escape(v['subject'])}</span></p>"
                     f"<pre class=\"text\">\n{escape(v['text'])}</pre></section>")
    return f"<h2>The {len(items)} message(s), exactly as they will leave</h2>{_marker_note(pack)}{''.join(items)}"


def _marker_note(pack: dict[str, Any]) -> str:
    """What the next-update marker becomes: the texts below stay exactly the approved ones, marker included."""
    if not any(NEXT_UPDATE_MARKER in v["text"] + v["subject"] for v in pack["variants"]):
        return ""
    delay, fixed = pack.get("next_update_after"), pack.get("next_update")
    if delay:
        example = spoken_time(datetime.now(UTC) + timedelta(seconds=delay), "en")
        becomes = f"the release time + {spoken_delay(delay)}, e.g. {example} if released now"
    elif fixed:
        becomes = spoken_time(parse_moment(fixed), "en")
    else:
        becomes = "nothing: the pack gives no next update, and the release will refuse it"
    return (f"<p class=\"card meta\" id=\"next-update\"><b>{escape(NEXT_UPDATE_MARKER)}</b> is replaced, when the "
            f"pack is released, by {escape(becomes)}.</p>")
