"""The readiness report of one playbook, every area checked (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from crisiscomms.communication.channels import SecretReader
from crisiscomms.errors import CrisisError, printable
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.parameters import resolve_inputs
from crisiscomms.readiness.channels import channel_items, sends_packs
from crisiscomms.readiness.clearance import clearance_items
from crisiscomms.readiness.messages import message_items
from crisiscomms.readiness.report import Item, Readiness, where
from crisiscomms.readiness.state import action_items, monitoring_items
from crisiscomms.readiness.team import approval_items, team_items


def readiness(loaded: LoadedPlaybook, root: Path, templates_dir: Path, outbox: Path, now: datetime,
              secrets: SecretReader | None = None, probe: bool = True) -> Readiness:
    """Check everything; `probe` False checks channels' settings and secrets without connecting to them."""
    playbook = loaded.playbook
    report = Readiness(playbook.id, playbook.version, now)
    checks: list[tuple[str, Callable[[], list[Item]]]] = [("team", lambda: team_items(loaded, now.date()))]
    if sends_packs(playbook):
        checks += [("templates", lambda: _packs(loaded, templates_dir)),
                   ("clearance", lambda: clearance_items(loaded, templates_dir, now.date()))]
    checks.append(("channels", lambda: channel_items(loaded, outbox, secrets, probe)))
    if playbook.monitoring is not None or sends_packs(playbook):  # a checklist playbook called by another: neither
        checks.append(("monitoring", lambda: monitoring_items(loaded, root, now)))
    checks.append(("actions", lambda: action_items(playbook.id, root, now)))
    for area, check in checks:
        report.items += _guarded(area, check)
    return report


def _guarded(area: str, check: Callable[[], list[Item]]) -> list[Item]:
    """An area whose check fails is one red item saying why: the report is always written, whole."""
    try:
        return check()
    except Exception as exc:  # a corrupt state file, an unexpected setting: reported, never a traceback
        return [Item(area, f"the {area} check", "red", f"could not be made: {type(exc).__name__}: "
                     f"{printable(str(exc))[:300]}", "fix what it names, then check again")]


def _packs(loaded: LoadedPlaybook, templates_dir: Path) -> list[Item]:
    """Approval chains and messages, both checked with the playbook's sample inputs (their defaults)."""
    try:
        inputs = resolve_inputs(loaded.playbook, {})
    except CrisisError as exc:  # a required input without a default: no sample to render messages with
        return [Item("templates", "sample inputs", "red", str(exc),
                     "give every required input a `default:` (the readiness check renders with them)",
                     where(loaded, "inputs"))]
    return approval_items(loaded, inputs) + message_items(loaded, templates_dir, inputs)
