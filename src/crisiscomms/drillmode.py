"""Drill mode of a whole stack. `crisis drill` starts a stack of its own for each drill, every process of which has
`CRISIS_DRILL` set to the drill's id: whatever a playbook says, every pack is then a drill pack (marked
[EXERCICE]), every release and approval notice goes to the drill outbox, and every crisis opened is a drill, kept
out of real-crisis figures. A playbook cannot turn it off: it is not in the playbook."""

from __future__ import annotations

import os

DRILL = "CRISIS_DRILL"


def current() -> str | None:
    """The id of the drill this process belongs to, or None (not a drill stack)."""
    return os.environ.get(DRILL) or None
