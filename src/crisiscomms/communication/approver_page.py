"""The approver page: where a personal link leads. It shows the whole pack exactly as it will leave and takes the
decision of the person the link names.

- GET never decides anything (link previews and mail scanners open links): it shows the stage, its deadline, the
  decisions and comments so far, and every message as plain text (escaped: nothing hidden, nothing fetched; the
  page loads nothing from anywhere, its Content-Security-Policy says so).
- POST decides, once per link, with the page's anti-forgery token. It resumes the paused run through the Prefect
  API with a signed receipt, then waits a few seconds for the flow's verdict and says it: recorded, or refused
  and why.
- The identity comes from the link; the page never asks for a name.
"""

from __future__ import annotations

import hmac
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from crisiscomms.communication import approval, page_html, signing
from crisiscomms.communication.approval import ApprovalStore, StageRecord
from crisiscomms.communication.release import approved_variants
from crisiscomms.errors import CrisisError

MAX_BODY = 64 * 1024  # bytes of a POST: a decision and a comment of at most 4,000 characters
MAX_COMMENT = approval.MAX_COMMENT
# Bidirectional overrides and isolates reorder how a comment is displayed, not what is stored: refused.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
DECISIONS = {"approve": "approve", "reject": "reject", "request_changes": "request changes"}


class RunControl(Protocol):
    """What the page needs of Prefect: which pause a run waits on, and resuming it with an answer."""

    def pause_key(self, run_id: str) -> str | None: ...

    def ended(self, run_id: str) -> str | None:
        """How the run ended ("Released", "Cancelled: halted by …"), or None while it goes on."""
        ...

    def resume(self, run_id: str, run_input: dict[str, Any]) -> str | None:
        """None when the run took the input, else why not (in words a person can act on)."""
        ...


class PageError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def create_app(state: Path, runs: RunControl, verdict_wait: float = 20.0,
               sleep: Callable[[float], None] = time.sleep) -> FastAPI:
    app = FastAPI(title="crisiscomms approvals", docs_url=None, redoc_url=None, openapi_url=None)
    key = signing.load_key(state)

    @app.get("/approve/view/{token}")
    def view(token: str) -> HTMLResponse:
        return _guarded(lambda: _view(state, key, token))

    @app.get("/approve/{token}")
    def show(token: str) -> HTMLResponse:  # a sync endpoint: FastAPI runs it in a thread (it calls the API)
        return _guarded(lambda: _show(state, key, token, runs))

    @app.post("/approve/{token}")
    async def decide(token: str, request: Request) -> HTMLResponse:
        body = await _body(request)
        # In a thread: deciding calls the Prefect API, which may be served by this very event loop (the gateway).
        return await run_in_threadpool(_guarded, lambda: _decide(state, key, token, body, runs, verdict_wait, sleep))

    return app


def _guarded(render: Callable[[], tuple[int, str]]) -> HTMLResponse:
    try:
        status, html = render()
    except PageError as exc:
        status, html = exc.status, page_html.problem(exc.title, exc.detail)
    return HTMLResponse(html, status_code=status, headers=page_html.HEADERS)


async def _body(request: Request) -> bytes | None:
    """The POST body, or None when it is larger than any decision can be (read no further)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _link(key: bytes, token: str) -> dict[str, Any]:
    try:
        return signing.verify(key, "link", token)
    except signing.TokenError as exc:
        raise PageError(403, "This link cannot be used", str(exc)) from None


def _stage(state: Path, stage_id: str) -> tuple[StageRecord, str, str]:
    store = ApprovalStore(state)
    try:
        found = store.stage(stage_id)
    finally:
        store.close()
    if found is None:
        raise PageError(404, "Unknown approval stage", "this stack has no record of the stage this link was made for")
    return found


def _pack(stage: StageRecord) -> dict[str, Any]:
    import json

    try:
        pack = json.loads(Path(stage.pack_path).read_text(encoding="utf-8"))
        approved_variants(pack, stage.hash)  # refuses a pack whose texts no longer hash to what is being approved
    except (OSError, ValueError, CrisisError):
        raise PageError(409, "Pack changed", "the pack's file no longer holds the texts this stage is about (it was "
                        "changed or removed after it was checked): nothing can be approved from it. Tell the "
                        "crisis team.") from None
    return pack


def _view(state: Path, key: bytes, token: str) -> tuple[int, str]:
    try:
        fields = signing.verify(key, "view", token)
    except signing.TokenError as exc:
        raise PageError(403, "This link cannot be used", str(exc)) from None
    stage, _, status = _stage(state, fields["s"])
    return 200, page_html.pack_page(stage, _pack(stage), None, status, form=None)


def _show(state: Path, key: bytes, token: str, runs: RunControl) -> tuple[int, str]:
    fields = _link(key, token)
    stage, _, status = _stage(state, fields["s"])
    status = _run_ended(runs, stage, status)
    person = _person(stage, fields)
    store = ApprovalStore(state)
    try:
        used = store.link_use(fields["i"])
        outcome = store.answer(stage.run_id, used["pause_key"]) if used else None
    finally:
        store.close()
    form = None if used or status != "open" else _form_token(key, fields["i"])
    return 200, page_html.pack_page(stage, _pack(stage), person, status, form, used, outcome, f"/approve/{token}")


def _person(stage: StageRecord, fields: dict[str, Any]) -> approval.Member:
    person = stage.approver(fields["p"])
    if person is None or fields["h"] != stage.hash:
        raise PageError(403, "This link cannot be used", "it was not made for this stage or this version of the pack")
    return person


def _form_token(key: bytes, link_id: str) -> str:
    return signing.sign(key, "form", {"i": link_id})


def _decide(state: Path, key: bytes, token: str, body: bytes | None, runs: RunControl, wait: float,
            sleep: Callable[[float], None]) -> tuple[int, str]:
    fields = _link(key, token)
    if body is None:
        raise PageError(413, "Too long", f"a decision and a comment of at most {MAX_COMMENT} characters: nothing "
                        "was recorded")
    form = _form(body)
    # As bytes: compare_digest refuses str with non-ASCII characters, and a forged token may hold any.
    if not hmac.compare_digest(form.get("csrf", "").encode(), _form_token(key, fields["i"]).encode()):
        raise PageError(403, "Decision not accepted", "this form did not come from your approval page (missing or "
                        "wrong anti-forgery token): open your link again. Nothing was recorded")
    decision, comment = _answer(form)
    stage, _, status = _stage(state, fields["s"])
    person = _person(stage, fields)
    _not_used(state, fields["i"])
    status = _run_ended(runs, stage, status)
    if status != "open":
        raise PageError(409, "Stage closed", f"this stage is over ({status}): nothing was recorded")
    pause_key = _waits_on(state, runs, stage, wait, sleep)
    if not pause_key:
        raise PageError(409, "Not ready", "the run is not waiting for this stage's answer right now (it may be "
                        "taking another one): try again in a few seconds. Nothing was recorded")
    return _submit(state, key, stage, person, fields["i"], pause_key, decision, comment, runs, wait, sleep,
                   f"/approve/{token}")


def _run_ended(runs: RunControl, stage: StageRecord, status: str) -> str:
    """The stage's status, or how its run ended when the run stopped while the stage was open (cancelled by the
    kill switch, failed, crashed): nothing can be decided there any more."""
    if status != "open":
        return status
    ended = runs.ended(stage.run_id)
    return f"the run ended: {ended}" if ended else status


def _waits_on(state: Path, runs: RunControl, stage: StageRecord, wait: float,
              sleep: Callable[[float], None]) -> str | None:
    """The pause the run waits on for this stage, or None; a few seconds' grace: the decision may come before the
    run has finished suspending (the notification leaves just before), or while it takes the answer before."""
    deadline = time.monotonic() + min(wait, 10.0)
    while True:
        found = _stage(state, stage.stage_id)
        if found[2] != "open":
            return None
        if found[1] and runs.pause_key(stage.run_id) == found[1]:
            return found[1]
        if time.monotonic() > deadline:
            return None
        sleep(0.5)


def _not_used(state: Path, link_id: str) -> None:
    store = ApprovalStore(state)
    try:
        used = store.link_use(link_id)
    finally:
        store.close()
    if used:
        raise PageError(409, "Already decided", f"this link was used at {used['used_at']} ({used['decision']}): "
                        "a link decides once. Nothing more was recorded")


def _form(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "Unreadable form", "the form could not be read: nothing was recorded") from None
    if any(len(values) != 1 for values in parsed.values()):
        raise PageError(400, "Unreadable form", "a field was given twice: nothing was recorded")
    return {name: values[0] for name, values in parsed.items()}


def _answer(form: dict[str, str]) -> tuple[str, str]:
    decision, comment = form.get("decision", ""), form.get("comment", "")
    if decision not in DECISIONS:
        raise PageError(400, "No decision", "choose approve, reject or request changes: nothing was recorded")
    comment = comment.replace("\r\n", "\n")  # a browser sends line breaks as CRLF: count them as typed
    if len(comment) > MAX_COMMENT:
        raise PageError(413, "Comment too long", f"at most {MAX_COMMENT} characters: nothing was recorded")
    controls = {c for c in comment if (unicodedata.category(c) == "Cc" and c not in "\n\r\t") or c in _BIDI}
    if controls:
        shown = ", ".join(sorted(f"U+{ord(c):04X}" for c in controls))
        raise PageError(400, "Comment not accepted", f"it holds control characters ({shown}): remove them. "
                        "Nothing was recorded")
    return decision, comment


def _submit(state: Path, key: bytes, stage: StageRecord, person: approval.Member, link_id: str, pause_key: str,
            decision: str, comment: str, runs: RunControl, wait: float,
            sleep: Callable[[float], None], self_url: str) -> tuple[int, str]:
    store = ApprovalStore(state)
    try:
        if not store.use_link(link_id, stage.stage_id, person.name, decision, pause_key):  # a double click
            _not_used(state, link_id)
        receipt = signing.sign(key, "receipt", {"s": stage.stage_id, "p": person.name, "h": stage.hash,
                                                "d": decision, "c": signing.digest(comment), "i": link_id})
        problem = runs.resume(stage.run_id, {"decision": decision, "name": person.name, "comment": comment,
                                             "edits": "", "link_receipt": receipt})
        if problem:
            store.forget_link(link_id)
            raise PageError(503, "Not recorded", f"the run could not take your decision ({problem}): try again")
        outcome = _verdict(store, stage.run_id, pause_key, wait, sleep)
    finally:
        store.close()
    used = {"used_at": approval.now_iso(), "decision": decision, "pause_key": pause_key}
    return 200, page_html.pack_page(stage, _pack(stage), person, "open", None, used, outcome, self_url)


def _verdict(store: ApprovalStore, run_id: str, pause_key: str, wait: float,
             sleep: Callable[[float], None]) -> tuple[str, str] | None:
    deadline = time.monotonic() + wait
    while (outcome := store.answer(run_id, pause_key)) is None and time.monotonic() < deadline:
        sleep(0.25)
    return outcome
