"""What goes into a crisis's evidence pack: the playbook as run, each approved pack with its approvers, every
message as sent with its receipt, the data-quality batches, the timeline, the report, the lessons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crisiscomms.review.evidence import Entry
from crisiscomms.review.model import PostMortem


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True, default=str).encode("utf-8")


def evidence_entries(root: Path, playbook_file: Path, pm: PostMortem, markdown: str, html: str,
                     batches: list[dict[str, Any]] | None = None, packs: dict[str, Path] | None = None) -> list[Entry]:
    entries = [Entry(name=f"playbook/{playbook_file.name}", kind="playbook", data=_read(playbook_file)),
               Entry(name="timeline.json", kind="timeline",
                     data=_json([e.model_dump(mode="json") for e in pm.timeline])),
               Entry(name="figures.json", kind="figures", data=_json([f.model_dump(mode="json") for f in pm.figures])),
               Entry(name="approvals.json", kind="approval",
                     data=_json([w.model_dump(mode="json") for w in pm.approvals])),
               Entry(name="messages/sent.json", kind="message", data=_json([m.model_dump(mode="json")
                                                                            for m in pm.sent])),
               Entry(name="runs.json", kind="runs", data=_json([r.model_dump(mode="json") for r in pm.runs])),
               Entry(name="quality/batches.json", kind="quality", data=_json(batches or [])),
               Entry(name="report/post-mortem.md", kind="report", data=markdown.encode("utf-8")),
               Entry(name="report/post-mortem.html", kind="report", data=html.encode("utf-8")),
               Entry(name="post-mortem.json", kind="postmortem", data=pm.model_dump_json(indent=1).encode("utf-8"))]
    for digest, path in sorted((packs or {}).items()):
        if path.is_file():
            entries.append(Entry(name=f"packs/{digest}.json", kind="pack", data=path.read_bytes()))
    if pm.lessons is not None:
        entries.append(Entry(name="lessons.json", kind="lessons", data=pm.lessons.model_dump_json(indent=1).encode()))
    return entries


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else f"(the playbook file {path} was not found)\n".encode()
