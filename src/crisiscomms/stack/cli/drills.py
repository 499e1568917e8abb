"""`crisis drill`: a recorded crisis replayed through the real playbook on a stack of its own, then scored."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crisiscomms.stack.cli.common import _project, app, err, out


@app.command("drill")
def drill_command(
    playbook: Annotated[str | None, typer.Argument(help="The playbook to drill; its drill file is "
                                                   "drills/<playbook>.yaml when there is one.")] = None,
    drill: Annotated[Path | None, typer.Option("--drill", help="The drill file: playbook, replay, team, scripted "
                                               "approvers, injects, targets.")] = None,
    replay: Annotated[str | None, typer.Option(help="The recorded crisis to replay, instead of the drill file's "
                                               "(relative to the project): mentions (JSONL) or a volume curve (CSV "
                                               "of minute_utc,tweets, replayed with drills/<playbook>.texts.yaml)."
                                               )] = None,
    approvers: Annotated[Path | None, typer.Option(help="Scripted approvers (YAML: `Name: {after: 12m}`), "
                                                   "instead of the drill file's.")] = None,
    people: Annotated[bool, typer.Option("--people", help="People answer in the drill's UI (the drill file's "
                                         "scripted approvers stay silent); the clock runs at --speed, and in real time "
                                         "while a stage waits for a person.")] = False,
    speed: Annotated[float, typer.Option(help="Without scripted approvers: drill seconds per real second while "
                                         "people answer in the drill's UI.")] = 60.0,
    keep_up: Annotated[bool, typer.Option("--keep-up", help="Leave the drill's stack running at the end, to look "
                                          "at its runs in its UI.")] = False,
) -> None:
    """Replay a recorded crisis through the playbook — monitoring, alert, assessment, packs, approvals, releases
    to the drill outbox, review — and score it against the drill's targets. Nothing leaves the company."""
    from crisiscomms.errors import CrisisError, PlaybookError
    from crisiscomms.stack.drills.run import run_drill
    from crisiscomms.stack.drills.score import markdown, score_line
    from crisiscomms.stack.drills.spec import read_approvers, read_drill, spec_for

    project = _project()
    try:
        file = drill or (project.root / "drills" / f"{playbook}.yaml" if playbook else None)
        base = read_drill(file, display=str(file)) if file and file.is_file() else None
        spec = spec_for(base, playbook, replay, read_approvers(approvers) if approvers else None)
        if people:
            spec = spec.model_copy(update={"approvers": None})
        outcome = run_drill(project, spec, lambda text: out.print(text, markup=False, highlight=False), speed,
                            keep_up)
    except PlaybookError as exc:
        for issue in exc.issues:
            print(issue)
        raise typer.Exit(1) from None
    except CrisisError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    print(markdown(outcome.score))
    out.print(score_line(outcome.score_file, outcome.folder)
              + (f"; its UI: {outcome.ui}" if keep_up else ""), markup=False)
