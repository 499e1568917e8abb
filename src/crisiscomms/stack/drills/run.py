"""`crisis drill`: a drill from its file to its score, on a stack of its own that is stopped at the end.

The drill's folder (`.crisis/drills/<id>/`) keeps everything: its project copy, its Prefect history and UI
database, its drill outbox (every message "sent"), its post-mortem and `score.md`. Its stack runs with
`CRISIS_DRILL` set (every pack a drill pack, every send to the drill outbox) and without any channel secret or
SMTP setting of the calling environment: nothing can leave, whatever the playbook says. Two drills at once never
meet: each has its folder, its stack, its port, its clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from crisiscomms import clock, drillmode
from crisiscomms.monitoring.store import Store
from crisiscomms.review.model import PostMortem
from crisiscomms.stack import server
from crisiscomms.stack.drills.conductor import Conductor
from crisiscomms.stack.drills.replay import Prepared, prepare
from crisiscomms.stack.drills.score import Score, score, write
from crisiscomms.stack.drills.spec import DrillSpec, check_against
from crisiscomms.stack.ports import free_port
from crisiscomms.stack.project import Project
from crisiscomms.stack.server import Stack
from crisiscomms.state import URL_VARIABLE, sqlite_database

SECRET_PREFIXES = ("CRISIS_SMTP_", "PREFECT_")  # PREFECT_API_DATABASE_CONNECTION_URL among them
LOCAL_ONLY = ("CRISIS_STATE_DIR", URL_VARIABLE)
CLOCK = "clock.txt"


@dataclass(frozen=True)
class Outcome:
    folder: Path
    score: Score
    score_file: Path
    ui: str


def drill_id(project: Project, playbook: str, now: datetime) -> str:
    stem = f"{playbook}-{now:%Y%m%d-%H%M%S}"
    folder = project.root / ".crisis" / "drills"
    taken = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    return next(f"{stem}-{n}" for n in range(1, 1000) if f"{stem}-{n}" not in taken)


def run_drill(project: Project, spec: DrillSpec, say: Callable[[str], None], speed: float | None = None,
              keep_up: bool = False) -> Outcome:
    playbook = project.check(project.playbook_file(spec.playbook)).playbook
    check_against(spec, playbook)
    now = datetime.now(UTC)
    ident = drill_id(project, spec.playbook, now)
    folder = project.root / ".crisis" / "drills" / ident
    prepared = prepare(project.root, spec, playbook, folder, now)
    say(f"drill {ident}: {prepared.replay_lines} recorded line(s) replayed from {prepared.start:%Y-%m-%d %H:%M} "
        f"(drill clock), {len(prepared.lines) - prepared.replay_lines} injected")
    for note in prepared.notes:
        say(note)
    stack = Stack(prepared.root, port=free_port())
    clock_file = folder / CLOCK
    clock.set_time(clock_file, prepared.start)
    hidden = [c.url_env for c in playbook.channels.values() if c.url_env]
    with _drill_environment(ident, clock_file, hidden):
        try:
            server.up(stack, say=lambda text: None)
            say(f"drill stack up: {stack.ui_url} (credential in {stack.credential_file})")
            user, _, password = (stack.credential() or "").partition(":")
            with httpx.Client(base_url=stack.api_url, timeout=60, auth=(user, password)) as api:
                seen = Conductor(prepared, spec, api, clock_file, say, speed).run()
        finally:
            if not keep_up:
                server.down(stack, say=lambda text: None)
    pm = _post_mortem(prepared.root, seen.crisis)
    result = score(ident, spec, pm, prepared.start, _data(prepared.root, spec.playbook, prepared), seen.crisis)
    return Outcome(folder, result, write(folder, result), stack.ui_url)


@contextmanager
def _drill_environment(ident: str, clock_file: Path, hidden: list[str]) -> Iterator[None]:
    """The environment the drill's stack is started with (its processes keep it): the drill's clock and id, and
    no channel secret, SMTP setting or Prefect profile of the caller. Nor the caller's databases: a drill's stack
    keeps its runs and its state in its own folder, on SQLite, even where the project's are in PostgreSQL — a drill
    never writes where real crises are."""
    saved = dict(os.environ)
    try:
        for key in list(os.environ):
            if key.startswith(SECRET_PREFIXES) or key in hidden or key in LOCAL_ONLY:
                del os.environ[key]
        os.environ.update({clock.CLOCK_FILE: str(clock_file), drillmode.DRILL: ident,
                           "PREFECT_WORKER_QUERY_SECONDS": "2"})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _post_mortem(root: Path, crisis: str | None) -> PostMortem | None:
    if crisis is None:
        return None
    path = root / ".crisis" / "reviews" / crisis / "post-mortem.json"
    if not path.is_file():  # the crisis never closed: the score says so
        return None
    return PostMortem.model_validate_json(path.read_text(encoding="utf-8"))


def _data(root: Path, playbook: str, prepared: Prepared) -> dict[str, int]:
    store = Store(sqlite_database(root / ".crisis" / "monitoring.db", "monitoring"))
    try:
        totals = store.totals(playbook)
    finally:
        store.close()
    return {"replay_lines": prepared.replay_lines, "unreadable_lines": prepared.unreadable, "read": totals.read,
            "processed": totals.processed, "quarantined": totals.quarantined}

