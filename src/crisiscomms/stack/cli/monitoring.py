"""`crisis monitor`: a file of mentions through the playbook's monitoring, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from crisiscomms.errors import CrisisError
from crisiscomms.stack.cli.common import PLAYBOOK_HELP, _checked, _project, app, err


@app.command("monitor")
def monitor_command(
    playbook: Annotated[str, typer.Argument(help=f"{PLAYBOOK_HELP} Its `monitoring:` says what to watch.")],
    input: Annotated[Path, typer.Option("--input", "-i", help=(
        "Mentions: JSONL (one JSON object a line: id, created_at, text …), or CSV with a header line when the "
        "name ends in .csv (or with --format csv)."))],
    out: Annotated[Path, typer.Option("--out", "-o", help="Enriched mentions, JSONL.")],
    alerts: Annotated[Path | None, typer.Option(help="Alerts, JSONL.")] = None,
    quarantine: Annotated[Path | None, typer.Option(help="Records set aside, with reasons, JSONL.")] = None,
    processes: Annotated[int | None, typer.Option(
        min=1, max=64, help="Processes enriching mentions (default: the playbook's monitoring.processes).")] = None,
    batch: Annotated[int | None, typer.Option(
        min=1, max=200_000, help="Records read, checked, enriched and written at a time (default 5000).")] = None,
    format: Annotated[Literal["jsonl", "csv"] | None, typer.Option(
        "--format", help="The input's format (default: csv if its name ends in .csv, else jsonl).")] = None,
    field_map: Annotated[list[str] | None, typer.Option(
        "--map", metavar="FIELD=COLUMN", help="Read a mention field from another column (CSV) or key (JSONL, "
        "dotted paths work), e.g. --map text=body; repeat for each field.")] = None,
) -> None:
    """Analyse a file of mentions offline: language, watchlist, sentiment, relevance, alerts.

    Outputs are written only once the whole file is read (temporary files renamed onto --out, --alerts and
    --quarantine): a run that fails or is interrupted leaves them as they were and says where it stopped.
    """
    from crisiscomms.monitoring import offline

    project = _project()
    loaded = _checked(project, playbook)
    try:
        summary = offline.run(loaded.playbook, input, out, alerts, quarantine, err, processes, format,
                              _mapping(field_map or []), batch)
    except offline.Stopped as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(exc.exit_code) from None
    except CrisisError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    err.print(summary, markup=False)


def _mapping(pairs: list[str]) -> dict[str, str]:
    """`--map text=body` pairs as a mapping; the field names are checked by the reader."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, equals, column = pair.partition("=")
        if not equals or not field.strip() or not column.strip():
            raise typer.BadParameter(f"{pair!r} is not FIELD=COLUMN (e.g. text=body)", param_hint="--map")
        if field.strip() in mapping:
            raise typer.BadParameter(f"{field.strip()} is mapped twice", param_hint="--map")
        mapping[field.strip()] = column.strip()
    return mapping
