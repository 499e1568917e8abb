"""Module and function sizes of the library, the tasks and the flows, at one or more git revisions.

    .venv/bin/python bench/code_size.py [REV …]      (default: the working tree)

Per revision: modules, lines of the largest, modules over the design guide's ~250 lines, and function lengths
(median, 90th percentile, largest, over 40 lines). Functions are counted by `ast` from `def` to their last line.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("src/crisiscomms", "tasks", "flows")
MODULE_LIMIT, FUNCTION_LIMIT = 250, 40


@dataclass(frozen=True)
class Sizes:
    modules: dict[str, int]
    functions: list[tuple[str, int]]


def sources(revision: str | None) -> dict[str, str]:
    if revision is None:
        return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
                for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))}
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", revision, "--", *FOLDERS], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    return {name: subprocess.run(["git", "show", f"{revision}:{name}"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout for name in names if name.endswith(".py")}


def measure(files: dict[str, str]) -> Sizes:
    functions = []
    for name, text in files.items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((f"{name}::{node.name}", (node.end_lineno or node.lineno) - node.lineno + 1))
    return Sizes({name: len(text.splitlines()) for name, text in files.items()}, functions)


def report(label: str, sizes: Sizes) -> None:
    lines = sorted(sizes.modules.values())
    lengths = sorted(n for _, n in sizes.functions)
    biggest = max(sizes.modules.items(), key=lambda kv: kv[1])
    longest = max(sizes.functions, key=lambda kv: kv[1])
    over = sorted((n, m) for m, n in sizes.modules.items() if n > MODULE_LIMIT)
    print(f"## {label}")
    print(f"modules {len(lines)}, lines {sum(lines)}, median module {statistics.median(lines):.0f}, "
          f"largest {biggest[1]} ({biggest[0]}), over {MODULE_LIMIT}: {len(over)}")
    print(f"functions {len(lengths)}, median {statistics.median(lengths):.0f}, "
          f"p90 {lengths[int(0.9 * (len(lengths) - 1))]}, largest {longest[1]} ({longest[0]}), "
          f"over {FUNCTION_LIMIT}: {sum(n > FUNCTION_LIMIT for n in lengths)}")
    if over:
        print("over the module limit: " + ", ".join(f"{m} {n}" for n, m in reversed(over)))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revisions", nargs="*", help="git revisions (default: the working tree)")
    args = parser.parse_args()
    for revision in args.revisions or [None]:
        report(revision or "working tree", measure(sources(revision)))


if __name__ == "__main__":
    main()
