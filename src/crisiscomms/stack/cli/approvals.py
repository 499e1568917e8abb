"""`crisis pending | approve`: the runs waiting for an approval, answered from the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crisiscomms.stack.project import Project

if TYPE_CHECKING:
    pass

from crisiscomms.stack.cli.common import _paused_runs, _project, _server_or_exit, app, err, out


@app.command("pending")
def pending_command() -> None:
    """List the runs waiting for an approval (paused), oldest first."""
    _server_or_exit(_project())
    runs = sorted(_paused_runs(), key=lambda r: r.state.timestamp)
    if not runs:
        out.print("no run is waiting for an approval")
    for run in runs:
        out.print(f"{run.id}  {run.name}  paused since {run.state.timestamp:%Y-%m-%d %H:%M:%S} UTC")

@app.command("approve")
def approve_command(
    run: Annotated[str, typer.Argument(help="The paused run's id (or the start of it, from `crisis pending`).")],
    name: Annotated[str, typer.Option(help="Your name, as in the playbook's team.")],
    role: Annotated[str | None, typer.Option(help="Your role: checked against the playbook when given.")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the pack: nothing is released.")] = False,
    changes: Annotated[bool, typer.Option("--changes", help="Ask for changes: nothing is released.")] = False,
    comment: Annotated[str, typer.Option(help="Why, or what to change (kept in the audit trail).")] = "",
    edits: Annotated[Path | None, typer.Option(help="With --changes: a YAML file of fact-sheet fields to change; "
                                               "the pack is re-rendered and submitted again.")] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the run's verdict on the answer.")] = 60.0,
) -> None:
    """Answer a paused approval from the terminal, as the Resume form in the Prefect UI does; exits 1 if refused."""
    if reject and changes:
        err.print("[red]--reject or --changes, not both[/red]")
        raise typer.Exit(2)
    if edits is not None and not changes:
        err.print("[red]--edits goes with --changes[/red]")
        raise typer.Exit(2)
    edited = edits.read_text(encoding="utf-8") if edits is not None else ""
    project = _project()
    _server_or_exit(project)
    matches = [r for r in _paused_runs() if str(r.id).startswith(run.strip())]
    if len(matches) != 1:
        err.print(f"[red]{'no' if not matches else len(matches)} paused run(s) match {run!r}: "
                  "see `crisis pending`[/red]")
        raise typer.Exit(1)
    paused = matches[0]
    person = _stage_person(project, paused, name, role)
    decision = "reject" if reject else "request_changes" if changes else "approve"
    answer = {"decision": decision, "name": person, "comment": comment, "edits": edited, "link_receipt": ""}
    try:
        _resume(paused.id, answer)
    except Exception as exc:  # the server refused the answer (not one of the names, too long …): the run waits on
        err.print(f"refused: {exc}", style="red", markup=False)
        raise typer.Exit(1) from None
    _report_verdict(project, str(paused.id), paused.state.state_details.pause_key, paused.name, decision, person,
                    wait)

def _stage_person(project: Project, paused: Any, name: str, role: str | None) -> str:
    """The name as the stage lists it; a clear refusal (exit 1) for someone who does not decide at this stage."""
    from crisiscomms.communication.approval import ApprovalStore, who
    from crisiscomms.monitoring.store import state_dir

    store = ApprovalStore(state_dir(project.root))
    try:
        found = store.waiting_stage(str(paused.id), paused.state.state_details.pause_key)
    finally:
        store.close()
    if found is None:
        return name  # not a stage this project recorded: the server's form decides
    person = found.approver(name)
    if person is None:
        names = ", ".join(a["name"] for a in found.approvers)
        err.print(f"refused: {name!r} does not decide at stage {found.number}/{found.of} of {paused.name} "
                  f"({', '.join(found.roles)}: {names}). Nothing was submitted.", style="red", markup=False)
        raise typer.Exit(1)
    if role and who(role) != who(person.role):
        err.print(f"refused: {person.name} holds {person.role} at this stage, not {role!r}. Nothing was submitted.",
                  style="red", markup=False)
        raise typer.Exit(1)
    return person.name

def _report_verdict(project: Project, run_id: str, pause_key: str | None, run_name: str, decision: str,
                    person: str, wait: float) -> None:
    """Wait for the run to take or refuse the answer, and say which; exit 1 on a refusal."""
    import time

    from crisiscomms.communication.approval import ApprovalStore
    from crisiscomms.monitoring.store import state_dir

    store = ApprovalStore(state_dir(project.root))
    deadline = time.monotonic() + wait
    try:
        while (verdict := store.answer(run_id, pause_key or "")) is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        store.close()
    if verdict is None:
        out.print(f"{run_name}: {decision} submitted for {person}; the run has not confirmed it within {wait:g} s "
                  "(see the run's logs)", markup=False)
        raise typer.Exit(3)
    if verdict[0] == "refused":
        err.print(f"{run_name}: refused: {verdict[1]}", style="red", markup=False)
        raise typer.Exit(1)
    out.print(f"{run_name}: {decision} recorded for {person}", markup=False)

def _resume(run_id: Any, answer: dict[str, str], tries: int = 3) -> None:
    """Submit the answer; on a server error, again only while the run is still paused (never a second answer).

    Prefect's server on SQLite sometimes answers "database is locked" under load (the UI then says "Oops"):
    the run stays paused and the same answer can simply be submitted again.
    """
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.flow_runs import resume_flow_run

    for attempt in range(1, tries + 1):
        try:
            resume_flow_run(run_id, run_input=answer)
            return
        except PrefectHTTPStatusError as exc:
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(run_id).state
            if exc.response.status_code < 500 or attempt == tries or state is None or state.type != StateType.PAUSED:
                raise
            err.print(f"the server failed ({exc.response.status_code}); the run is still paused: trying again",
                      style="yellow", markup=False)
            time.sleep(attempt)
