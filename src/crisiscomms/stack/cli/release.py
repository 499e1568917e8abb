"""`crisis halt | unhalt | outbox | settle`: the kill switch and messages cut off mid-send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from crisiscomms.errors import CrisisError
from crisiscomms.stack.project import Project

if TYPE_CHECKING:
    pass

from crisiscomms.stack.cli.common import _entrypoint, _playbook_id, _project, _serve_project, _use_server, app, err, out


@app.command("halt")
def halt_command(
    reason: Annotated[str, typer.Option(help="Why (kept in the history, shown on every halted release).")] = "",
    by: Annotated[str, typer.Option(help="Your name (kept in the history).")] = "",
    playbook: Annotated[str | None, typer.Option(help="Halt one playbook only, by id or file (default: every "
                                                 "playbook).")] = None,
    status: Annotated[bool, typer.Option("--status", help="Only show the switch and its history.")] = False,
) -> None:
    """KILL SWITCH: stop every release not yet sent and cancel scheduled reminders and runs awaiting release."""
    from crisiscomms.communication import killswitch

    project = _project()
    if status:
        _halt_status(project)
        return
    if not reason.strip() or not by.strip():
        err.print("[red]give --reason and --by: the halt is kept in the history with both[/red]")
        raise typer.Exit(2)
    playbook = _playbook_id(project, playbook)
    halt = killswitch.halt(project.root, reason, by, playbook)
    out.print(halt.describe(), style="bold red", markup=False)
    out.print("Every release reads the switch before each message: nothing more is sent until `crisis unhalt`.")
    _cancel_on_server(project, halt)

@app.command("unhalt")
def unhalt_command(
    by: Annotated[str, typer.Option(help="Your name (kept in the history).")],
    playbook: Annotated[str | None, typer.Option(help="Lift the halt of one playbook, by id or file (default: every "
                                                 "one).")] = None,
) -> None:
    """Lift the kill switch; re-run a halted release to send what it did not (nothing is sent twice)."""
    from crisiscomms.communication import killswitch

    project = _project()
    playbook = _playbook_id(project, playbook)
    lifted = killswitch.lift(project.root, by, playbook)
    if lifted is None:
        out.print(f"the kill switch was not on for {playbook or 'every playbook'}")
    else:
        out.print(lifted.describe(), markup=False)
    for other in killswitch.active(project.root):
        out.print(f"still on: {other.describe()}", style="yellow", markup=False)

@app.command("outbox")
def outbox_command(
    every: Annotated[bool, typer.Option("--all", help="Every message ever released, not only those in doubt.")] = False,
) -> None:
    """The release outbox: messages in doubt (cut off mid-send: check the channel, then `crisis settle`)."""
    from crisiscomms.communication import release

    outbox = release.open_outbox(_project().root)
    try:
        rows = outbox.rows() if every else outbox.in_doubt()
    finally:
        outbox.close()
    if not rows:
        out.print("no message in doubt" if not every else "the outbox is empty")
    for row in rows:
        shown = "in_doubt" if row["status"] == "sending" else row["status"]
        out.print(f"{row['key']}  {shown:<8} {row['playbook']}  {row['message']}  (tries {row['attempts']}, "
                  f"{row['at']})  {row['receipt'] or ''}".rstrip(), markup=False)

@app.command("settle")
def settle_command(
    key: Annotated[str, typer.Argument(help="The message's key, from `crisis outbox`.")],
    by: Annotated[str, typer.Option(help="Your name (kept with the verdict).")],
    delivered: Annotated[bool, typer.Option("--delivered", help="It arrived: never send it again.")] = False,
    resend: Annotated[bool, typer.Option("--resend", help="It did not arrive: the next release sends it.")] = False,
    note: Annotated[str, typer.Option(help="What you checked (kept with the verdict).")] = "",
) -> None:
    """Settle a message in doubt after checking its channel: it arrived, or it must be sent again."""
    from crisiscomms.communication import release

    if delivered == resend or not by.strip():
        err.print("[red]give exactly one of --delivered or --resend, and --by[/red]")
        raise typer.Exit(2)
    outbox = release.open_outbox(_project().root)
    try:
        outbox.settle(key.strip(), "sent" if delivered else "retry", f"{by.strip()}{': ' + note if note else ''}")
    except CrisisError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    finally:
        outbox.close()
    out.print(f"{key}: settled as {'delivered' if delivered else 'to send again'} by {by.strip()}", markup=False)

def _halt_status(project: Project) -> None:
    from crisiscomms.communication import killswitch

    halts = killswitch.history(project.root)
    on = [h for h in halts if h.active]
    out.print("\n".join(h.describe() for h in on) if on else "kill switch off: releases go", markup=False)
    for old in [h for h in halts if not h.active][-5:]:
        out.print(old.describe(), style="dim", markup=False)

def _cancel_on_server(project: Project, halt: Any) -> None:
    """Scheduled reminders and runs that would release, cancelled on the server if one is reachable."""
    _serve_project(project)
    server = _use_server(project)
    if not server:
        out.print("no Prefect server reachable: only the switch is set (nothing scheduled was cancelled); releases "
                  "check it anyway")
        return
    cancel_waiting_runs = _entrypoint("flows.killswitch.cancel_waiting_runs")
    describe = _entrypoint("flows.killswitch.describe")

    try:
        cancelled = describe(cancel_waiting_runs(halt))
    except Exception as exc:  # the switch is on whatever the server says: report, and exit non-zero
        err.print(f"the switch is on, but cancelling runs on {server} failed: {type(exc).__name__}: {exc}",
                  style="red", markup=False)
        raise typer.Exit(1) from None
    out.print(f"{server}: cancelled {len(cancelled)} waiting run(s)", markup=False)
    for line in cancelled:
        out.print(f"  {line}", markup=False)
