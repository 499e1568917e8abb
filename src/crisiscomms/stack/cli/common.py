"""What every `crisis` command shares: the app, the consoles, finding the project and the server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from crisiscomms.errors import EMBEDDED, CrisisError
from crisiscomms.stack.project import Project
from crisiscomms.state.database import URL_VARIABLE

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
        project = Project.find()
    except CrisisError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _use_stack_database(project)
    return project

def _use_stack_database(project: Project) -> None:
    """Where `crisis up` put the project's state (PostgreSQL), this command reads and writes it too — unless the
    environment says where it is (a worker's machine, CI)."""
    saved = project.root / ".crisis" / "stack.json"
    if os.environ.get(URL_VARIABLE) or not saved.is_file() or not json.loads(saved.read_text()).get("database"):
        return  # read without importing the stack (httpx): `crisis validate` starts fast
    from crisiscomms.stack.server import saved_stack

    stack = saved_stack(project.root)
    assert stack is not None
    try:
        os.environ[URL_VARIABLE] = stack.database_env()[URL_VARIABLE]
    except CrisisError as exc:
        err.print(f"[red]{exc}[/red]", markup=False)
        raise typer.Exit(2) from None

def _file_or_id(project: Project, given: Path) -> Path:
    """A file or folder as given; a word that names no file but a playbook of the project, that playbook's file."""
    if given.exists() or str(given) not in project.playbook_ids():
        return given
    return project.path_of(str(given))

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

def _playbook_id(project: Project, reference: str | None) -> str | None:
    """The id of the playbook given by id or by path (None: every playbook); exit 2 naming the known ones."""
    if reference is None:
        return None
    try:
        return project.playbook_file(reference).stem
    except CrisisError as exc:
        err.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from None
