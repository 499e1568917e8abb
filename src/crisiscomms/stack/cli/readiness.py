"""`crisis ready PLAYBOOK`: the preparation phase's readiness report — is the team ready for a crisis today?

Green / amber / red per item, each with its fix: people and their backups, approval chains, every message the
playbook can send rendered with its sample inputs, channels and secrets checked without publishing anything,
monitoring sources, actions left open by past post-mortems. Written to `.crisis/readiness/<playbook>.md` (and
`.json`); the exit status is 1 when an item is red, so a scheduled check or a CI job can fail on it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from crisiscomms.stack.cli.common import PLAYBOOK_HELP, _checked, _project, app, err, out


@app.command("ready")
def ready_command(
    playbook: Annotated[str, typer.Argument(help=PLAYBOOK_HELP)],
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="Connect to each channel (publishing "
                                        "nothing); --no-probe checks settings and secrets only.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Readiness report: what would fail if the crisis started now, and how to fix it."""
    from crisiscomms import clock
    from crisiscomms.errors import printable
    from crisiscomms.monitoring.store import state_dir
    from crisiscomms.readiness.check import readiness
    from crisiscomms.readiness.report import MARK, write

    project = _project()
    loaded = _checked(project, playbook)  # a playbook `crisis validate` refuses: its problems, exit 1
    state = state_dir(project.root)
    report = readiness(loaded, project.root, project.templates_dir, state / "outbox", clock.now(), _read_secret,
                       probe)
    written = write(state / "readiness", report)
    if as_json:
        print(report.as_json())
    else:
        for item in sorted(report.items, key=lambda i: ("red", "amber", "green").index(i.status)):
            if item.status != "green":
                out.print(printable(f"{MARK[item.status]} {item.subject}: {item.finding}")
                          + (f"\n   fix: {printable(item.fix)}" if item.fix else "")
                          + (f"\n   at {printable(item.where)}" if item.where else ""), markup=False, highlight=False)
        out.print(f"{MARK[report.status]} {loaded.playbook.id}: {report.count('red')} red, "
                  f"{report.count('amber')} amber, {report.count('green')} green — {written}", markup=False)
    raise typer.Exit(1 if report.status == "red" else 0)


def _read_secret(name: str) -> str:
    from prefect.blocks.system import Secret  # late: only a channel with `url_secret` needs the server

    return str(Secret.load(name).get())


@app.command("clear")
def clear_command(
    template: Annotated[str, typer.Argument(help="Template under templates/ (messages/press_release.fr.md.j2).")],
    by: Annotated[str, typer.Option("--by", help="Who cleared it: name and role (\"Sophie Lefèvre, juridique\").")],
    on: Annotated[str | None, typer.Option("--on", help="When it was cleared (YYYY-MM-DD); default today.")] = None,
) -> None:
    """Record that legal cleared a message template as it is now (templates/clearances.yaml)."""
    from datetime import date

    from crisiscomms import clock
    from crisiscomms.errors import CrisisError
    from crisiscomms.readiness.clearance import RECORD, clear

    project = _project()
    name = template.removeprefix("templates/")
    try:
        day = date.fromisoformat(on) if on else clock.now().date()
        entry = clear(project.templates_dir, name, by, day)
    except ValueError:
        err.print(f"--on {on!r} is not a date (YYYY-MM-DD)", markup=False)
        raise typer.Exit(2) from None
    except CrisisError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    out.print(f"{entry.template}: cleared by {entry.by} on {entry.on.isoformat()} (sha256 {entry.sha256[:12]}…) — "
              f"templates/{RECORD}; an edit of the template voids it", markup=False)
