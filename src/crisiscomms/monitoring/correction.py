"""Released corrections of false claims and the claim events already raised, in the project's state DB.

The claim.track step records a correction once it is released; every monitoring run then tracks it
(claimwatch.py). Claim events are remembered so that a spreading claim is raised once per cooldown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crisiscomms.monitoring.claim import Rule
from crisiscomms.monitoring.store import now_text
from crisiscomms.state import Database, open_database, sqlite_database


@dataclass(frozen=True)
class Correction:
    playbook: str
    rule: Rule
    hash: str
    corrected_at: datetime
    audiences: list[str]
    flow_run: str
    period: int


class Corrections:
    """Released corrections and the claim events already emitted, beside the monitoring store."""

    def __init__(self, db: Database | Path) -> None:
        self._db = db if isinstance(db, Database) else sqlite_database(db, "monitoring")

    def close(self) -> None:
        self._db.close()

    def record(self, correction: Correction) -> bool:
        """Keep a released correction; False when this pack's correction of this claim was already kept."""
        c = correction
        with self._db.transaction() as db:
            done = db.execute("INSERT INTO claim_corrections (playbook, claim_id, hash, rule, corrected_at, audiences, "
                              "flow_run, period, at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                              (c.playbook, c.rule.id, c.hash, c.rule.to_json(), c.corrected_at.isoformat(),
                               json.dumps(c.audiences), c.flow_run, c.period, now_text()))
        return done.rowcount == 1

    def all(self, playbook: str) -> list[Correction]:
        rows = self._db.execute("SELECT rule, hash, corrected_at, audiences, flow_run, period FROM claim_corrections "
                                "WHERE playbook=? ORDER BY corrected_at", (playbook,))
        return [Correction(playbook, Rule.from_json(rule), digest, datetime.fromisoformat(at), json.loads(audiences),
                           run or "", period) for rule, digest, at, audiences, run, period in rows]

    def last_event(self, playbook: str, claim_id: str) -> datetime | None:
        row = self._db.execute("SELECT MAX(window_start) FROM claim_events WHERE playbook=? AND claim_id=?",
                               (playbook, claim_id)).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def events_noted(self, playbook: str) -> int:
        """How many claim events were ever raised for the playbook (each started a correction run)."""
        row = self._db.execute("SELECT COUNT(*) FROM claim_events WHERE playbook=?", (playbook,)).fetchone()
        return int(row[0])

    def note_event(self, playbook: str, claim_id: str, window_start: datetime) -> None:
        with self._db.transaction() as db:
            db.execute("INSERT INTO claim_events (playbook, claim_id, window_start, at) VALUES (?,?,?,?) "
                       "ON CONFLICT DO NOTHING",
                       (playbook, claim_id, window_start.isoformat(), now_text()))


def open_corrections(root: Path) -> Corrections:
    return Corrections(open_database(root, "monitoring"))
