"""`crisis validate | schema | list | plan | run`: playbooks, checked, explained and run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crisiscomms.errors import CrisisError, PlaybookError
from crisiscomms.stack.project import Project, validate

if TYPE_CHECKING:
    pass

from crisiscomms.stack.cli.common import (
    PHASE_NAMES,
    PLAYBOOK_HELP,
    _checked,
    _entrypoint,
    _file_or_id,
    _project,
    _serve_project,
    _use_server_or_embedded,
    app,
    err,
    out,
)


@app.command("validate")
def validate_command(
    paths: Annotated[list[Path] | None, typer.Argument(help="Playbook files or folders.")] = None,
) -> None:
    """Check playbooks and report every problem: file:line:column: path: message."""
    project = _project()
    targets = [_file_or_id(project, p) for p in paths] if paths else [project.playbooks_dir]
    missing = [p for p in targets if not p.exists() and not p.is_symlink()]  # a broken link is reported below
    if missing:
        # Exit 1 like any other refusal: 2 is a usage error (an unknown option), not a playbook that is not there.
        err.print(f"[red]no such file or folder: {', '.join(map(str, missing))}[/red]")
        raise typer.Exit(1)
    count, issues = validate(targets, project)
    for issue in issues:
        print(issue)  # one line per issue, never wrapped: editors and CI parse file:line:col
    if issues:
        err.print(f"[red]{len(issues)} problem(s) in {count} playbook file(s)[/red]")
        raise typer.Exit(1)
    err.print(f"[green]{count} playbook file(s) OK[/green]")

@app.command("schema")
def schema_command(
    check: Annotated[bool, typer.Option(help="Exit 1 if the committed schema is stale.")] = False,
) -> None:
    """Write playbooks/playbook.schema.json from the models (editors use it for completion)."""
    from crisiscomms.playbook.schema import SCHEMA_FILE, schema_text

    target = _project().playbooks_dir / SCHEMA_FILE
    text = schema_text()
    if check:
        stale = not target.exists() or target.read_text(encoding="utf-8") != text
        err.print(f"{target}: {'stale — run `crisis schema`' if stale else 'up to date'}")
        raise typer.Exit(1 if stale else 0)
    target.write_text(text, encoding="utf-8")
    err.print(f"wrote {target}")

@app.command("list")
def list_command() -> None:
    """The project's playbooks: id, version, title, steps per phase."""
    project = _project()
    for playbook_id in project.playbook_ids():
        try:
            pb = project.load(playbook_id).playbook
        except PlaybookError as exc:
            out.print(f"{playbook_id:24} [red]invalid ({len(exc.issues)} problems)[/red]")
            continue
        counts = " ".join(f"{name}:{len(phase.steps)}" for name, phase in pb.phases.items())
        out.print(f"{pb.id:24} v{pb.version:8} {pb.title}  [dim]{counts}[/dim]")

@app.command("plan")
def plan_command(
    playbook: Annotated[str, typer.Argument(help="Playbook id, or a playbook file (.yaml).")],
    phase: Annotated[str | None, typer.Option(help="Only this phase.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The plan as JSON, for tools and tests.")] = False,
) -> None:
    """What will run, in order, per phase: each step, the steps it waits for, and why."""
    from crisiscomms.playbook.models import PHASES  # imported here: the CLI starts without the playbook models

    project = _project()
    if phase is not None and phase not in PHASES:
        err.print(f"[red]unknown phase '{phase}' (phases: {', '.join(PHASES)})[/red]")
        raise typer.Exit(2)
    try:
        loaded = project.check(project.playbook_file(playbook))
    except PlaybookError as exc:
        for issue in exc.issues:
            print(issue)
        err.print(f"[red]{len(exc.issues)} problem(s): `crisis validate` must pass before a plan[/red]")
        raise typer.Exit(1) from None
    except CrisisError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    plan = project.plan(loaded)
    phases = (phase,) if phase else PHASES
    if as_json:
        print(json.dumps(plan.as_data(phases), indent=2, ensure_ascii=False))
    else:
        print("\n".join(plan.lines(phases)))

def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; a value that reads as JSON (number, true, list …) is taken as such."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: write name=value", param_hint="--param")
        params[key.strip()] = value
    return params

@app.command("run")
def run_command(
    playbook: Annotated[str, typer.Argument(help=PLAYBOOK_HELP)],
    phase: Annotated[str, typer.Option(help=f"One of {', '.join(PHASE_NAMES)}.")] = "all",
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Crisis input name=value.")] = None,
    crisis: Annotated[str, typer.Option(help="The crisis the run belongs to (`crisis review list`; default: the "
                                        "playbook's crisis under way or a new one; post_crisis: the latest).")] = "",
) -> None:
    """Run a playbook (or one phase) now: on the local server if one is up, else embedded."""
    project = _project()
    if phase not in PHASE_NAMES:
        raise typer.BadParameter(f"{phase!r} is not one of {', '.join(PHASE_NAMES)}", param_hint="--phase")
    loaded = _checked(project, playbook)
    from crisiscomms.playbook.parameters import resolve_inputs

    params = parse_params(param or [])
    try:
        resolve_inputs(loaded.playbook, params)
    except CrisisError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    _crisis_to_join(project, loaded.playbook.id, phase, crisis.strip())
    _use_server_or_embedded(project)
    history = _run_flow(project, loaded.playbook.id, phase, params, crisis.strip())
    out.print_json(json.dumps(history.statuses, ensure_ascii=False))

def _crisis_to_join(project: Project, playbook: str, phase: str, crisis: str) -> None:
    """Refuse before anything starts: an unknown crisis id, or a review with no crisis of the playbook to review."""
    from crisiscomms.review import crises

    try:
        if crisis:
            crises.get(project.root, crisis)
        elif phase == "post_crisis" and crises.latest(project.root, playbook) is None:
            raise CrisisError(f"no crisis of {playbook} to review: none was ever opened in this project (a monitoring "
                              "alert, or a run of its assessment or communication phase, opens one)")
    except CrisisError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None


def _run_flow(project: Project, playbook: str, phase: str, params: dict[str, Any], crisis: str = "") -> Any:
    """The run's history (flows.history.RunHistory: the library does not import flows)."""
    _serve_project(project)
    run_playbook = _entrypoint("flows.playbook.run_playbook")  # late: Prefect settings come from the env

    # The run's return value, not `return_state=True` then `state.result()`: when the server is slow to accept the
    # final state (a locked SQLite file), the state handed back is the API's copy, without its data.
    try:
        return run_playbook(playbook=playbook, phase=phase, inputs=params, crisis_id=crisis)
    except Exception as exc:  # the run did not complete: Prefect raises what stopped it
        err.print(f"[red]run failed: {type(exc).__name__}: {exc}[/red]")
        raise typer.Exit(1) from exc
