"""`crisis up | down`: the local stack (Prefect server on SQLite, worker, deployments)."""

from __future__ import annotations

from typing import Annotated

import typer

from crisiscomms.errors import CrisisError
from crisiscomms.stack.cli.common import _project, _serve_project, app, err, out

DEMO = "rappel-produit"
DEMO_NEXT = """The demo, as a crisis would come (a drill: nothing leaves the company):
  - now: the first monitoring pass (run rappel-produit/monitor); then one every 5 minutes;
  - in about 5 to 10 minutes: the volume rises (artifact rappel-produit-monitoring: {ui}/artifacts), an alert
    starts the assessment (run rappel-produit/assessment), which starts the communication
    (run rappel-produit/communication);
  - then its message pack waits for approval: open the paused run and press Resume, or use an approver's link
    in .crisis/outbox/exercice/approvals/, or `crisis pending` / `crisis approve RUN --name … --role …`."""


@app.command("up")
def up_command(
    port: Annotated[int, typer.Option(help="Port of the Prefect UI/API on 127.0.0.1.")] = 4200,
    demo: Annotated[bool, typer.Option(help="Start the demo once the stack is up: the demo playbook's monitoring "
                                       "replays a recorded crisis.")] = True,
    rotate_credential: Annotated[bool, typer.Option(
        "--rotate-credential", help="Stop the stack, make a new credential, start again.")] = False,
    postgres: Annotated[bool, typer.Option(
        "--postgres", help="Run history and the project's state in PostgreSQL: a cluster of the project's own "
        "(data under .crisis/postgres), started and stopped with the stack. Kept for the next `crisis up`.")] = False,
    postgres_url: Annotated[str | None, typer.Option(
        help="Run history and the project's state in this existing PostgreSQL database "
        "(postgresql://user:password@host:5432/db; kept in .crisis/database-url, mode 0600).")] = None,
    sqlite: Annotated[bool, typer.Option("--sqlite", help="Back to SQLite files under .crisis/ (the default).")
                      ] = False,
) -> None:
    """Start the local stack: Prefect server (SQLite, secured), work pool, deployments, worker — then the demo."""
    from crisiscomms.stack import server
    from crisiscomms.stack.server import LOCAL, Stack, saved_stack

    project = _project()
    _serve_project(project)
    if postgres + bool(postgres_url) + sqlite > 1:
        err.print("[red]give at most one of --postgres, --postgres-url and --sqlite[/red]")
        raise typer.Exit(2)
    saved = saved_stack(project.root)
    database = LOCAL if postgres else "url" if postgres_url else "" if sqlite else saved.database if saved else ""
    stack = Stack(project.root, port=port, database=database)
    if saved and saved.database != database:
        server.down(saved, err.print)  # its server must not go on writing where the new one does not look
        err.print(f"the run history and state {_where(saved.database)} stay there; the stack now uses "
                  f"{_where(database)}")
    if postgres_url:
        server.save_database_url(stack, postgres_url)
    if rotate_credential:
        server.down(saved_stack(project.root) or stack, err.print)
        server.rotate_credential(stack)
    try:
        server.up(stack, err.print)
        if demo:
            err.print(f"starting the demo: the monitoring of '{DEMO}' replays a recorded crisis, 12 times faster …")
            server.run_deployment(stack, "crisis-monitor/monitor", {"playbook": DEMO})
    except CrisisError as exc:
        err.print(f"[red]{exc}[/red]", markup=False)
        raise typer.Exit(1) from None
    out.print(f"Prefect UI: {stack.ui_url}  (runs: {stack.ui_url}/runs, deployments: {stack.ui_url}/deployments)")
    if demo:
        out.print(DEMO_NEXT.format(ui=stack.ui_url))
    out.print("Stop everything with: crisis down")

def _where(database: str) -> str:
    return {"": "on SQLite (.crisis/)", "local": "in the project's PostgreSQL (.crisis/postgres)"}.get(
        database, "in the PostgreSQL of .crisis/database-url")


@app.command("down")
def down_command() -> None:
    """Stop the worker and the server that `crisis up` started (run history is kept)."""
    from crisiscomms.stack import server
    from crisiscomms.stack.server import Stack, saved_stack

    project = _project()
    stack = saved_stack(project.root) or Stack(project.root)
    server.down(stack, err.print)
    err.print("local stack stopped")
