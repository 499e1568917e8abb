"""A readiness report: items, each green / amber / red with what was found and how to fix it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from crisiscomms.errors import printable
from crisiscomms.files import write_whole
from crisiscomms.playbook.loader import LoadedPlaybook

Status = Literal["green", "amber", "red"]
ORDER: dict[Status, int] = {"green": 0, "amber": 1, "red": 2}
MARK: dict[Status, str] = {"green": "🟢", "amber": "🟠", "red": "🔴"}
AREAS = {
    "team": "Team and contacts",
    "approval": "Approval chains",
    "templates": "Messages",
    "clearance": "Legal clearance of templates",
    "channels": "Channels and secrets",
    "monitoring": "Monitoring",
    "actions": "Actions from past post-mortems",
}


def where(loaded: LoadedPlaybook, *loc: str | int) -> str:
    """`file:line` of a part of the playbook: its key's line (else its nearest written ancestor's)."""
    document = loaded.document
    if not document.positions:  # the file changed since the run loaded the playbook: its lines would mislead
        return ""
    line, _ = document.key_positions.get(tuple(loc)) or document.position(tuple(loc))
    return f"{document.file}:{line}"


@dataclass(frozen=True)
class Item:
    """One thing checked. `fix` says what to do when it is not green; `where` points into the playbook."""

    area: str
    subject: str
    status: Status
    finding: str
    fix: str = ""
    where: str = ""


@dataclass
class Readiness:
    playbook: str
    version: str
    checked_at: datetime
    items: list[Item] = field(default_factory=list)

    @property
    def status(self) -> Status:
        return max((item.status for item in self.items), key=ORDER.__getitem__, default="green")

    def count(self, status: Status) -> int:
        return sum(item.status == status for item in self.items)

    def as_data(self) -> dict[str, object]:
        return {"playbook": self.playbook, "version": self.version, "checked_at": self.checked_at.isoformat(),
                "status": self.status, "counts": {s: self.count(s) for s in ORDER},
                "items": [asdict(item) for item in self.items]}

    def as_json(self) -> str:
        return json.dumps(self.as_data(), indent=2, ensure_ascii=False)


def markdown(report: Readiness) -> str:
    """The report for people: the verdict, then every area with its items, red first."""
    lines = [f"# Readiness of {report.playbook} v{report.version}: {MARK[report.status]} {report.status}", "",
             f"Checked {report.checked_at:%Y-%m-%d %H:%M} UTC — {report.count('red')} red, "
             f"{report.count('amber')} amber, {report.count('green')} green.", ""]
    for area, title in AREAS.items():
        items = sorted((i for i in report.items if i.area == area), key=lambda i: -ORDER[i.status])
        if not items:
            continue
        lines += [f"## {title}", "", "| | item | finding | fix |", "|---|---|---|---|"]
        lines += [f"| {MARK[i.status]} | {_cell(i.subject)} | {_cell(i.finding)}"
                  f"{' (' + _cell(i.where) + ')' if i.where else ''} | {_cell(i.fix)} |" for i in items]
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """One table cell: a line of printable text (names and findings come from the playbook and the network)."""
    return printable(" ".join(text.splitlines())).replace("|", "\\|")


def write(folder: Path, report: Readiness) -> Path:
    """`<playbook>.md` and `.json` in `folder`, each replaced whole; the Markdown file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{report.playbook}.md"
    for path, content in ((target, markdown(report)), (folder / f"{report.playbook}.json", report.as_json())):
        write_whole(path, content + "\n")
    return target

