"""Collection: everything a post-mortem is built from, for one crisis, read from the project's own stores.

The flow runs of the crisis come from the Prefect API (`tasks/prefect_runs.py` reads them page by page: the
library does not talk to Prefect); the rest is here: the crisis journal (every step's record, at the time it
ended), the alerts monitoring raised, the approval stages still open, the outbox (each message's last status, an
in-doubt send settled later included), the update promises, the claims corrected, the kill switch, the monitoring
windows around the crisis and the data-quality batches. Mentions are read as they are consumed and folded into
windows: memory is bounded by the number of windows, not of mentions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from crisiscomms.communication import cadence, killswitch
from crisiscomms.communication.approval import ApprovalStore, StageRecord
from crisiscomms.communication.cadence import Promise
from crisiscomms.communication.killswitch import Halt
from crisiscomms.communication.release import open_outbox
from crisiscomms.monitoring import claimwatch
from crisiscomms.monitoring.claimwatch import Tracked
from crisiscomms.monitoring.correction import open_corrections
from crisiscomms.monitoring.store import open_store, state_dir
from crisiscomms.review import crises
from crisiscomms.review.model import Crisis, Lessons, RunSeen
from crisiscomms.state import exists

LOOKBACK = timedelta(hours=24)  # monitoring windows read before the crisis opened: the pre-crisis baseline
AFTER = timedelta(hours=24)  # and after it closed: does sentiment return?


@dataclass(frozen=True)
class Window:
    start: datetime
    volume: int
    sentiment_sum: float
    analysed: int

    @property
    def sentiment(self) -> float | None:
        return self.sentiment_sum / self.analysed if self.analysed else None


@dataclass
class Collected:
    crisis: Crisis
    now: datetime
    runs: list[RunSeen]
    journal: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    stages: list[tuple[StageRecord, str]]  # every stage the crisis's runs opened, with its status
    outbox: list[dict[str, Any]]
    promises: list[Promise]
    halts: list[Halt]
    claims: list[Tracked]
    windows: list[Window]
    window_seconds: int
    quality: list[dict[str, Any]]
    lessons: Lessons | None
    packs: dict[str, dict[str, Any]] = field(default_factory=dict)  # hash → the pack file's metadata
    missing: list[str] = field(default_factory=list)

    def records(self, step_type: str) -> list[dict[str, Any]]:
        return [row for row in self.journal if row["type"] == step_type]

    @property
    def end(self) -> datetime:
        return self.crisis.closed_at or self.now


def collect(root: Path, crisis: Crisis, runs: Iterable[RunSeen], window_seconds: int | None,
            now: datetime) -> Collected:
    run_list = list(runs)
    run_ids = {r.id for r in run_list}
    journal = crises.journal(root, crisis.id)
    run_ids |= {row["run_id"] for row in journal}
    found = Collected(
        crisis=crisis, now=now, runs=run_list, journal=journal,
        alerts=crises.alerts(root, crisis.playbook, crisis.opened_at - LOOKBACK, crisis.closed_at or now),
        stages=_stages(root, run_ids), outbox=[], promises=_promises(root, crisis.playbook, run_ids),
        halts=_halts(root, crisis, now), claims=[], windows=[], window_seconds=window_seconds or 0, quality=[],
        lessons=crises.lessons_of(root, crisis.id))
    found.packs = _packs(journal)
    found.outbox = _outbox(root, set(found.packs))
    if window_seconds:
        found.windows, found.quality = _monitoring(root, crisis, window_seconds, now)
        found.claims = _claims(root, crisis, run_ids, window_seconds, now)
    if not run_list:
        found.missing.append("no flow run of this crisis was found on the Prefect API (runs deleted by a retention "
                             "policy, or another server): the runs table is empty; the rest comes from the "
                             "project's own stores")
    return found


def _stages(root: Path, run_ids: set[str]) -> list[tuple[StageRecord, str]]:
    if not exists(root, "approvals"):
        return []
    store = ApprovalStore(state_dir(root))
    try:
        return store.stages_of_runs(sorted(run_ids))
    finally:
        store.close()


def _promises(root: Path, playbook: str, run_ids: set[str]) -> list[Promise]:
    if not exists(root, "cadence"):
        return []
    return [p for p in cadence.promises(root, playbook) if p.run_id in run_ids]


def _halts(root: Path, crisis: Crisis, now: datetime) -> list[Halt]:
    if not exists(root, "killswitch"):
        return []
    end = (crisis.closed_at or now).isoformat()
    return [h for h in killswitch.history(root) if h.scope in ("*", crisis.playbook)
            and h.at <= end and (h.lifted_at is None or h.lifted_at >= crisis.opened_at.isoformat())]


def _packs(journal: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each pack of the crisis by hash: its file's creation time, drill flag and messages (the file may be gone)."""
    packs: dict[str, dict[str, Any]] = {}
    for row in journal:
        record = row["record"]
        if row["type"] != "message.pack" or not record.get("hash"):
            continue
        path = Path(record.get("path", ""))
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        packs[record["hash"]] = {"created_at": data.get("created_at") or row["at"], "drill": data.get("drill", False),
                                 "path": str(path), "file": path.is_file(), "step": row["step"],
                                 "variants": record.get("variants", []), "author": record.get("author", "")}
    for row in journal:  # a pack re-rendered with an approver's edits is approved under its new hash
        record = row["record"]
        if row["type"] == "message.approve" and record.get("hash") and record["hash"] not in packs:
            packs[record["hash"]] = {"created_at": row["at"], "drill": False, "path": record.get("path", ""),
                                     "file": Path(record.get("path", "")).is_file(), "step": row["step"],
                                     "variants": [], "author": ""}
    return packs


def _outbox(root: Path, hashes: set[str]) -> list[dict[str, Any]]:
    if not hashes or not exists(root, "outbox"):
        return []
    outbox = open_outbox(root)
    try:
        return [row for digest in sorted(hashes) for row in outbox.rows(digest)]
    finally:
        outbox.close()


def _claims(root: Path, crisis: Crisis, run_ids: set[str], window: int, now: datetime) -> list[Tracked]:
    """The corrections released by the crisis's runs, with the claim's spread before and since each."""
    if not exists(root, "monitoring"):
        return []
    book = open_corrections(root)
    try:
        corrections = [c for c in book.all(crisis.playbook) if c.flow_run in run_ids]
    finally:
        book.close()
    store = open_store(root)
    try:
        return claimwatch.track(corrections, store, window, now) if corrections else []
    finally:
        store.close()


def _monitoring(root: Path, crisis: Crisis, seconds: int, now: datetime
                ) -> tuple[list[Window], list[dict[str, Any]]]:
    """Per-window volume and mean sentiment from a day before the crisis to a day after it closed; the batches."""
    start = crisis.opened_at - LOOKBACK - timedelta(seconds=(crisis.opened_at - LOOKBACK).timestamp() % seconds)
    end = min(now, (crisis.closed_at or now) + AFTER)
    folded: dict[int, list[float]] = {}
    store = open_store(root)
    try:
        for mention in store.iter_mentions_between(crisis.playbook, start, end):
            slot = folded.setdefault(int((mention.created_at - start).total_seconds()) // seconds, [0, 0.0, 0])
            slot[0] += 1
            if mention.sentiment is not None:
                slot[1] += mention.sentiment
                slot[2] += 1
        quality = store.batches_between(crisis.playbook, start, end)
    finally:
        store.close()
    if not folded:
        return [], quality
    first, last = min(folded), max(folded)
    return [Window(start + timedelta(seconds=i * seconds), int(folded.get(i, [0])[0]),
                   float(folded.get(i, [0, 0.0])[1]), int(folded.get(i, [0, 0.0, 0])[2]))
            for i in range(first, last + 1)], quality
