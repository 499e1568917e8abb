"""What the benches that start a stack of their own share: a copy of this project (with playbooks of the bench's
own) in a temporary folder, started there with `crisis up` as a user would; and their progress on stderr."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ("prefect.yaml", "playbooks", "templates", "flows", "tasks", "data")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def make_project(folder: Path, playbooks: dict[str, str]) -> Path:
    """The project's files in `folder` (not its `.crisis/`), and these playbooks (id → YAML) beside its own."""
    folder.mkdir(parents=True)
    for name in ITEMS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__", ".crisis"))
        else:
            shutil.copy2(source, folder / name)
    for playbook, text in playbooks.items():
        (folder / "playbooks" / f"{playbook}.yaml").write_text(text, encoding="utf-8")
    return folder
