"""What the project's state says of readiness: whether each monitoring source answered recently, and the actions
past post-mortems left open."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.store import open_store
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.monitoring import FileSource
from crisiscomms.readiness.report import Item, where
from crisiscomms.review import crises
from crisiscomms.state import StateError, exists


def monitoring_items(loaded: LoadedPlaybook, root: Path, now: datetime) -> list[Item]:
    """A file source: its file is there and readable. A network source: a monitoring run read it within
    `readiness.source_silence` (the store's run log; a failed read logs nothing)."""
    playbook = loaded.playbook
    if playbook.monitoring is None or not playbook.monitoring.sources:
        return [Item("monitoring", "monitoring", "amber", "no source is monitored: a crisis is seen only when "
                     "someone starts a playbook", "declare `monitoring.sources`", where(loaded, "monitoring"))]
    silence = timedelta(seconds=playbook.readiness.source_silence)
    items = []
    for index, source in enumerate(playbook.monitoring.sources):
        at = where(loaded, "monitoring", "sources", index)
        if isinstance(source, FileSource):
            items.append(_file(source.id, root / source.path, at))
        else:
            items.append(_answered(source.id, _last_read(root, playbook.id, source.id), now, silence, at))
    return items


def _last_read(root: Path, playbook: str, source: str) -> datetime | None:
    if not exists(root, "monitoring"):  # never monitored: checking creates nothing
        return None
    try:
        store = open_store(root)
    except StateError as exc:
        raise CrisisError(f"not a readable monitoring store: {exc}") from exc
    try:
        return store.last_read(playbook, source)
    except StateError as exc:
        raise CrisisError(f"not a readable monitoring store: {exc}") from exc
    finally:
        store.close()


def _file(source: str, path: Path, at: str) -> Item:
    subject = f"source {source} (file)"
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "is not there"
        return Item("monitoring", subject, "red", f"{path} {what}", "check `path:` or the export feeding it", at)
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        return Item("monitoring", subject, "red", f"{path} cannot be read: {exc.strerror}", "fix its permissions", at)
    return Item("monitoring", subject, "green", f"{path} is there and readable")


def _answered(source: str, last: datetime | None, now: datetime, silence: timedelta, at: str) -> Item:
    subject = f"source {source}"
    if last is None:
        return Item("monitoring", subject, "amber", "never read by a monitoring run",
                    "start the scheduled monitoring (`crisis up`), then check again", at)
    if now - last > silence:
        return Item("monitoring", subject, "amber", f"last read {last:%Y-%m-%d %H:%M}, longer ago than "
                    f"readiness.source_silence", "check the monitoring deployment and the source's data-gap alerts",
                    at)
    return Item("monitoring", subject, "green", f"read {last:%Y-%m-%d %H:%M}")


def action_items(playbook: str, root: Path, now: datetime) -> list[Item]:
    if not exists(root, "crises"):  # no crisis ever opened: checking creates nothing
        return [Item("actions", "past post-mortems", "green", "no crisis reviewed yet")]
    try:
        actions = crises.open_actions(root, playbook)
    except CrisisError as exc:
        return [Item("actions", "past post-mortems", "amber", str(exc), "see `crisis review list`")]
    if not actions:
        return [Item("actions", "past post-mortems", "green", "no open action")]
    items = []
    for crisis, action in actions:
        late = action.due < now.date()
        items.append(Item("actions", f"{action.what} — {action.owner}", "amber" if late else "green",
                          f"{'overdue since' if late else 'due'} {action.due.isoformat()} (crisis {crisis})",
                          "do it, or move its date in the next review" if late else ""))
    return items
