"""`crisis`: validate and run playbooks, start and stop the local stack.

Later capabilities add their commands to the same `app` (monitor, approve, pending …).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from crisiscomms.errors import EMBEDDED, CrisisError, PlaybookError
from crisiscomms.stack.project import Project, validate

if TYPE_CHECKING:
    from crisiscomms.playbook.loader import LoadedPlaybook

# Each command imports what it needs where it runs: `validate`, `list`, `schema` and `plan` start without Prefect,
# httpx or the monitoring stack, and `pending` without the playbook models (bench/validate_speed.py measures it).

app = typer.Typer(help="Crisis-communication playbooks on Prefect.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
PHASE_NAMES = ("all", "preparation", "assessment", "communication", "post_crisis")
PLAYBOOK_HELP = "Playbook id (rappel-produit) or file in playbooks/ (playbooks/rappel-produit.yaml)."


def _project() -> Project:
    try:
        return Project.find()
    except CrisisError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


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


def _file_or_id(project: Project, given: Path) -> Path:
    """A file or folder as given; a word that names no file but a playbook of the project, that playbook's file."""
    if given.exists() or str(given) not in project.playbook_ids():
        return given
    return project.path_of(str(given))


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
    _use_server_or_embedded(project)
    history = _run_flow(project, loaded.playbook.id, phase, params)
    out.print_json(json.dumps(history.statuses, ensure_ascii=False))


def _checked(project: Project, reference: str) -> LoadedPlaybook:
    """The playbook given by id or by path (in playbooks/), checked; exit 1 saying why when it cannot be used."""
    try:
        return project.check(project.playbook_file(reference))
    except CrisisError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(1) from None


def _use_server(project: Project) -> str | None:
    """Point Prefect at `PREFECT_API_URL`, else at the local server if it is up; what was chosen, or None."""
    from crisiscomms.stack.server import is_healthy, saved_stack

    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    stack = saved_stack(project.root)
    if stack and is_healthy(stack.api_url):
        os.environ.update({k: v for k, v in stack.env().items() if k.startswith("PREFECT_")})
        return f"local server {stack.ui_url}"
    return None


def _use_server_or_embedded(project: Project) -> None:
    server = _use_server(project)
    if server:
        err.print(f"Prefect API: {server}")
        return
    home = Path(os.environ.setdefault("PREFECT_HOME", str(project.root / ".crisis" / "prefect")))
    home.mkdir(parents=True, exist_ok=True)  # SQLite does not create the folder of its database
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ[EMBEDDED] = "1"  # an approval step refuses to wait where nobody can answer it
    err.print("Prefect API: embedded (ephemeral server on SQLite, for this command only)")


def _serve_project(project: Project) -> None:
    """The flows run the playbooks of the project this command found (their `CRISIS_PROJECT_ROOT`), never those of
    the checkout they were installed from; set before they are imported, and inherited by a worker it starts."""
    os.environ["CRISIS_PROJECT_ROOT"] = str(project.root.resolve())


def _entrypoint(entrypoint: str) -> Any:
    """A function of the installed flows, loaded by its entrypoint as Prefect loads a deployment's flow: the library
    runs flows, it does not import them (the import contracts keep `flows` above the library)."""
    from prefect.utilities.importtools import import_object

    return import_object(entrypoint)


def _run_flow(project: Project, playbook: str, phase: str, params: dict[str, Any]) -> Any:
    """The run's history (flows.history.RunHistory: the library does not import flows)."""
    _serve_project(project)
    run_playbook = _entrypoint("flows.playbook.run_playbook")  # late: Prefect settings come from the env

    # The run's return value, not `return_state=True` then `state.result()`: when the server is slow to accept the
    # final state (a locked SQLite file), the state handed back is the API's copy, without its data.
    try:
        return run_playbook(playbook=playbook, phase=phase, inputs=params)
    except Exception as exc:  # the run did not complete: Prefect raises what stopped it
        err.print(f"[red]run failed: {type(exc).__name__}: {exc}[/red]")
        raise typer.Exit(1) from exc


@app.command("monitor")
def monitor_command(
    playbook: Annotated[str, typer.Argument(help=f"{PLAYBOOK_HELP} Its `monitoring:` says what to watch.")],
    input: Annotated[Path, typer.Option("--input", "-i", help="Mentions, JSONL (id, created_at, text …).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Enriched mentions, JSONL.")],
    alerts: Annotated[Path | None, typer.Option(help="Alerts, JSONL.")] = None,
    quarantine: Annotated[Path | None, typer.Option(help="Records set aside, with reasons, JSONL.")] = None,
    processes: Annotated[int | None, typer.Option(
        min=1, max=64, help="Processes enriching mentions (default: the playbook's monitoring.processes).")] = None,
) -> None:
    """Analyse a file of mentions offline: language, watchlist, sentiment, relevance, alerts."""
    from crisiscomms.monitoring import offline

    project = _project()
    loaded = _checked(project, playbook)
    try:
        summary = offline.run(loaded.playbook, input, out, alerts, quarantine, err, processes)
    except CrisisError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    err.print(summary, markup=False)


def _server_or_exit(project: Project) -> None:
    """Approvals live on a server: the embedded one dies with each command, so it can hold no paused run."""
    if _use_server(project):
        return
    err.print("[red]no Prefect server: start the local one with `crisis up`, or set PREFECT_API_URL[/red]")
    raise typer.Exit(2)


def _paused_runs() -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    paused = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED])))
    try:
        with get_client(sync_client=True) as client:
            return client.read_flow_runs(flow_run_filter=paused)
    except Exception as exc:  # the API is down, or refuses the credential: say which, without a traceback
        err.print(f"cannot read the paused runs from {os.environ.get('PREFECT_API_URL')}: {type(exc).__name__}: "
                  f"{exc}", style="red", markup=False)
        raise typer.Exit(2) from None


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
    from crisiscomms.monitoring.store import state_dir

    outbox = release.Outbox(state_dir(_project().root) / "outbox.db")
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
    from crisiscomms.monitoring.store import state_dir

    if delivered == resend or not by.strip():
        err.print("[red]give exactly one of --delivered or --resend, and --by[/red]")
        raise typer.Exit(2)
    outbox = release.Outbox(state_dir(_project().root) / "outbox.db")
    try:
        outbox.settle(key.strip(), "sent" if delivered else "retry", f"{by.strip()}{': ' + note if note else ''}")
    except CrisisError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(1) from None
    finally:
        outbox.close()
    out.print(f"{key}: settled as {'delivered' if delivered else 'to send again'} by {by.strip()}", markup=False)


def _playbook_id(project: Project, reference: str | None) -> str | None:
    """The id of the playbook given by id or by path (None: every playbook); exit 2 naming the known ones."""
    if reference is None:
        return None
    try:
        return project.playbook_file(reference).stem
    except CrisisError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None


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


@app.command("up")
def up_command(
    port: Annotated[int, typer.Option(help="Port of the Prefect UI/API on 127.0.0.1.")] = 4200,
    demo: Annotated[bool, typer.Option(help="Start the demo playbook once the stack is up.")] = True,
    rotate_credential: Annotated[bool, typer.Option(
        "--rotate-credential", help="Stop the stack, make a new credential, start again.")] = False,
) -> None:
    """Start the local stack: Prefect server (SQLite, secured), work pool, deployments, worker — then the demo."""
    from crisiscomms.stack import server
    from crisiscomms.stack.server import Stack, saved_stack

    project = _project()
    _serve_project(project)
    stack = Stack(project.root, port=port)
    if rotate_credential:
        server.down(saved_stack(project.root) or stack, err.print)
        server.rotate_credential(stack)
    try:
        server.up(stack, err.print)
        if demo:
            err.print("starting the demo playbook 'rappel-produit' through its deployment …")
            server.run_deployment(stack, "crisis-playbook/playbook", {"playbook": "rappel-produit"})
    except CrisisError as exc:
        err.print(f"[red]{exc}[/red]", markup=False)
        raise typer.Exit(1) from None
    out.print(f"Prefect UI: {stack.ui_url}  (runs: {stack.ui_url}/runs, deployments: {stack.ui_url}/deployments)")
    if demo:
        out.print("The demo's message pack then waits for approval (a drill: nothing leaves the company): open the "
                  "paused run and press Resume, or `crisis pending` / `crisis approve RUN --name … --role …`.")
    out.print("Stop everything with: crisis down")


@app.command("down")
def down_command() -> None:
    """Stop the worker and the server that `crisis up` started (run history is kept)."""
    from crisiscomms.stack import server
    from crisiscomms.stack.server import Stack, saved_stack

    project = _project()
    stack = saved_stack(project.root) or Stack(project.root)
    server.down(stack, err.print)
    err.print("local stack stopped")


if __name__ == "__main__":
    app()
