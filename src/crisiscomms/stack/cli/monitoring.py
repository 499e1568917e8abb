"""`crisis monitor`: a file of mentions through the playbook's monitoring, offline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crisiscomms.errors import CrisisError

if TYPE_CHECKING:
    pass

from crisiscomms.stack.cli.common import PLAYBOOK_HELP, _checked, _project, app, err


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
