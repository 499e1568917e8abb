"""How fast `crisis validate` answers, for an editor or a pre-commit hook: the real command, in a subprocess.

    .venv/bin/python bench/validate_speed.py                  # validate playbooks/ and pending, 7 rounds each
    .venv/bin/python bench/validate_speed.py --rounds 15 --target 1.0 --top 15

Each round runs `crisis validate playbooks/` from the project root (the shipped playbooks) and times it wall to
wall: interpreter start, imports, reading and checking, exit. The median and the best of the rounds are printed
(the best is what the code costs, the median what a person waits on a machine shared with others), then the verdict
against the target, then the modules that `python -X importtime` says cost the most, and whether any module the
command should never need (Prefect, spaCy, Great Expectations, pandas, FastAPI, numpy, httpx …) was imported.

`crisis pending` is timed the same way against a stub Prefect API on 127.0.0.1 that answers "no paused run": what
is measured is the command's start and its one request, not a server. Nothing here uses the network.
To compare with another version of the code, run the script with PYTHONPATH pointing at that version's `src`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRISIS = str(Path(sys.executable).parent / "crisis")
NEVER_FOR_VALIDATE = ("prefect", "spacy", "great_expectations", "pandas", "fastapi", "numpy", "httpx", "sqlalchemy",
                      "uvicorn", "textblob")
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def timed(command: list[str], env: dict[str, str], rounds: int) -> list[float]:
    """Wall seconds of each run of `command` from the project root; a failing run stops the benchmark."""
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        seconds.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            sys.exit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds


def import_profile(args: list[str], env: dict[str, str]) -> list[tuple[str, int, int]]:
    """(module, self µs, cumulative µs) of every import the command makes, from `python -X importtime`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "crisiscomms.stack.cli", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    return [(m[4], int(m[1]), int(m[2])) for m in IMPORT_LINE.finditer(done.stderr)]


def report(name: str, seconds: list[float], target: float | None) -> str:
    median, best = statistics.median(seconds), min(seconds)
    line = f"{name}: median {median:.2f} s, best {best:.2f} s over {len(seconds)} rounds"
    if target is None:
        return line
    verdict = "PASS" if median < target else "FAIL"
    return f"{line} — {verdict}: the median is {'under' if median < target else 'over'} the {target:g} s target"


def offenders(profile: list[tuple[str, int, int]], top: int) -> list[str]:
    """The modules whose own code costs most (self time: pydantic models built at import show up here), the
    packages that cost most with what they import (cumulative), then what was imported that validate never needs."""
    packages: dict[str, int] = {}
    for module, _, cumulative in profile:
        root = module.split(".")[0]
        packages[root] = max(packages.get(root, 0), cumulative)
    total = sum(own for _, own, _ in profile)
    lines = [f"  all imports: {total / 1000:.0f} ms (self times summed); heaviest modules, self:"]
    lines += [f"  {own / 1000:7.1f} ms  {module}" for module, own, _ in sorted(profile, key=lambda m: -m[1])[:top]]
    heaviest = sorted(packages.items(), key=lambda item: -item[1])[:top]
    lines.append("  heaviest packages, with what they import: " + ", ".join(
        f"{package} {cumulative / 1000:.0f} ms" for package, cumulative in heaviest))
    unwanted = sorted({m.split(".")[0] for m, _, _ in profile} & set(NEVER_FOR_VALIDATE))
    lines.append(f"  imported though validate never needs them: {', '.join(unwanted) or 'none'}")
    return lines


class _NoPausedRun(BaseHTTPRequestHandler):
    """Just enough of Prefect's API for `crisis pending`: health, version, and an empty list of paused runs."""

    def do_GET(self) -> None:
        if "/csrf-token" in self.path:  # as a server without CSRF protection answers: the client goes on without
            self._answer({"detail": "CSRF protection is disabled."}, 422)
        else:
            self._answer("3.8.8" if self.path.endswith("/admin/version") else True)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer([])

    def _answer(self, body: object, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def stub_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoPausedRun)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--target", type=float, default=1.0, help="Seconds `crisis validate playbooks/` may take.")
    parser.add_argument("--top", type=int, default=12, help="How many import offenders to list.")
    options = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores; "
          f"{sys.version.split()[0]}")
    validate = timed([CRISIS, "validate", "playbooks/"], env, options.rounds)
    print(report("crisis validate playbooks/", validate, options.target))
    print("import offenders of `crisis validate playbooks/` (python -X importtime):")
    print("\n".join(offenders(import_profile(["validate", "playbooks/"], env), options.top)))
    with stub_api() as url:
        pending = timed([CRISIS, "pending"], {**env, "PREFECT_API_URL": url}, options.rounds)
    print(report("crisis pending (stub API, no paused run)", pending, None))
    print("import offenders of `crisis pending`:")
    with stub_api() as url:
        print("\n".join(offenders(import_profile(["pending"], {**env, "PREFECT_API_URL": url}), options.top)[:-1]))


if __name__ == "__main__":
    main()
