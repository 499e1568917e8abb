"""`crisis ready PLAYBOOK`: the preparation phase's readiness report — is the team ready for a crisis today?

Green / amber / red per item, each with its fix: people and their backups, approval chains, every message the
playbook can send rendered with its sample inputs, channels and secrets checked without publishing anything,
monitoring sources, actions left open by past post-mortems. Written to `.crisis/readiness/<playbook>.md` (and
`.json`); the exit status is 1 when an item is red, so a scheduled check or a CI job can fail on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crisiscomms.stack.cli.common import PLAYBOOK_HELP, _checked, _project, app, out


@app.command("ready")
def ready_command(
    playbook: Annotated[str, typer.Argument(help=PLAYBOOK_HELP)],
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="Connect to each channel (publishing "
                                        "nothing); --no-probe checks settings and secrets only.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Readiness report: what would fail if the crisis started now, and how to fix it."""
    from crisiscomms import clock
    from crisiscomms.monitoring.store import state_dir
    from crisiscomms.readiness.check import readiness
    from crisiscomms.readiness.report import MARK, markdown

    project = _project()
    loaded = _checked(project, playbook)  # a playbook `crisis validate` refuses: its problems, exit 1
    state = state_dir(project.root)
    report = readiness(loaded, project.root, project.templates_dir, state / "outbox", clock.now(), _read_secret,
                       probe)
    written = _write(state / "readiness", loaded.playbook.id, markdown(report), report.as_json())
    if as_json:
        print(report.as_json())
    else:
        for item in sorted(report.items, key=lambda i: ("red", "amber", "green").index(i.status)):
            if item.status != "green":
                out.print(f"{MARK[item.status]} {item.subject}: {item.finding}"
                          + (f"\n   fix: {item.fix}" if item.fix else "")
                          + (f"\n   at {item.where}" if item.where else ""), markup=False, highlight=False)
        out.print(f"{MARK[report.status]} {loaded.playbook.id}: {report.count('red')} red, "
                  f"{report.count('amber')} amber, {report.count('green')} green — {written}", markup=False)
    raise typer.Exit(1 if report.status == "red" else 0)


def _read_secret(name: str) -> str:
    from prefect.blocks.system import Secret  # late: only a channel with `url_secret` needs the server

    return str(Secret.load(name).get())


def _write(folder: Path, playbook: str, text: str, data: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{playbook}.md"
    for path, content in ((target, text), (folder / f"{playbook}.json", data)):
        partial = path.with_name(f".{path.name}.new")
        partial.write_text(content + "\n", encoding="utf-8")
        partial.replace(path)
    return target
