"""`crisis review list | show | verify | compare`: past crises, their post-mortems, their evidence archives.

The registry (`.crisis/crises.db`) says which crises there were; each review (the post-crisis phase) writes
`.crisis/reviews/<crisis>/post-mortem.{md,html,json}` and `evidence-<crisis>-<stamp>.zip`. These commands only read
them: no Prefect server, nothing collected again, and a project where no crisis was opened is left without a
registry. Drills are listed and marked; a comparison keeps them apart from real crises unless named.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from crisiscomms.errors import CrisisError, printable
from crisiscomms.stack.cli.common import _project, app, err, out
from crisiscomms.stack.project import Project

if TYPE_CHECKING:
    from crisiscomms.review.model import Crisis, Figure, PostMortem

review_app = typer.Typer(help="Past crises: their post-mortems, side by side, and their evidence archives checked.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")

NONE_OPENED = ("no crisis was ever opened in this project: one opens when monitoring raises an alert at level "
               "`alert` or `crisis`, or when someone runs a playbook's assessment or communication phase "
               "(`crisis run PLAYBOOK --phase assessment`)")
LIST_HEADER = ["ID", "DRILL", "PLAYBOOK", "OPENED (UTC)", "CLOSED (UTC)", "DURATION", "REVIEW", "DETECT",
               "FIRST STATEMENT", "SENT", "MISSING"]
HEADLINE = ("time_to_detect", "time_to_first_statement", "messages_sent")  # of a review, in `list`
# Compared rows: (key in --json, label); `updates` is three figures in one cell.
COMPARED = (("duration", "Duration"), ("time_to_detect", "Time to detect"),
            ("time_to_first_statement", "Time to first statement"), ("pack_to_release", "Pack to release"),
            ("approval_stage_max", "Longest approval stage"), ("updates", "Updates on time / late / missed"),
            ("messages_sent", "Messages sent"), ("sends_failed", "Sends failed"), ("sends_in_doubt", "Sends in doubt"),
            ("sentiment_return", "Sentiment back in its band"), ("cost_total", "Estimated cost"))
UPDATES = ("updates_on_time", "updates_late", "updates_missed")


def _fail(message: str, code: int) -> NoReturn:
    err.print(printable(message), style="red", markup=False)
    raise typer.Exit(code)


def _cleanly(command: Callable[..., None]) -> Callable[..., None]:
    """A registry that is not one, a clock file that holds no time: the message, exit 2 — never a traceback."""
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except CrisisError as exc:
            _fail(str(exc), 2)

    return run


def _lines(lines: list[str]) -> None:
    for line in lines:
        print(printable(line))  # never wrapped nor read as markup; texts from people cannot drive the terminal


def _registry(root: Path) -> list[Crisis]:
    """Every crisis, newest first; none, and no database created, where none was ever opened."""
    from crisiscomms.review import crises
    from crisiscomms.review.charts import utc
    from crisiscomms.state import exists

    if not exists(root, "crises"):
        return []
    return sorted(crises.listed(root), key=lambda c: (utc(c.opened_at), c.id), reverse=True)


def _known(root: Path, crisis_id: str) -> Crisis:
    """The crisis of that id; exit 2 naming the latest ones (the registry's own message) when there is none."""
    from crisiscomms.review import crises
    from crisiscomms.state import exists

    if not exists(root, "crises"):
        _fail(f"no crisis '{crisis_id}': {NONE_OPENED}", 2)
    try:
        return crises.get(root, crisis_id)
    except crises.UnknownCrisis as exc:
        _fail(str(exc), 2)


def _folder(root: Path, crisis_id: str) -> Path:
    from crisiscomms.monitoring.store import state_dir

    return state_dir(root) / "reviews" / crisis_id


def _review(root: Path, crisis_id: str) -> tuple[PostMortem | None, str]:
    """The crisis's latest post-mortem (its JSON file), or None and why there is none."""
    from pydantic import ValidationError

    from crisiscomms.review.model import PostMortem

    path = _folder(root, crisis_id) / "post-mortem.json"
    try:
        return PostMortem.model_validate_json(path.read_bytes()), ""
    except FileNotFoundError:
        return None, "no review yet"
    except (OSError, ValidationError) as exc:
        return None, f"review unreadable ({type(exc).__name__})"


def _when(moment: Any) -> str:
    from crisiscomms.review.markdown import when

    return when(moment)


def _lasted(crisis: Crisis) -> tuple[float, str]:
    from crisiscomms import clock
    from crisiscomms.review.charts import duration, utc

    seconds = (utc(crisis.closed_at or clock.now()) - utc(crisis.opened_at)).total_seconds()
    return seconds, duration(seconds) + ("" if crisis.closed_at else " so far")


def _figure(pm: PostMortem, key: str) -> Figure | None:
    return next((f for f in pm.figures if f.key == key and f.value is not None), None)


def _text(figure: Figure | None) -> str:
    from crisiscomms.review.markdown import value_text

    return "—" if figure is None else value_text(figure)


@review_app.command("list")
@_cleanly
def list_command(
    drills: Annotated[bool | None, typer.Option("--drills/--no-drills", help="Only the drills / only real crises "
                                                "(default: every crisis, drills marked DRILL).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON, for tools and tests.")] = False,
) -> None:
    """Past crises, newest first: when, how long, drill or not, and the key figures of their post-mortem."""
    root = _project().root
    every = _registry(root)
    shown = [c for c in every if drills is None or c.drill == drills]
    reviews = {c.id: _review(root, c.id) for c in shown}
    if as_json:
        print(json.dumps([_listed(c, *reviews[c.id]) for c in shown], indent=1, ensure_ascii=False))
    elif not every:
        out.print(NONE_OPENED, markup=False)
    elif not shown:
        out.print(f"no {'drill' if drills else 'real crisis'} among the {len(every)} crises of the registry "
                  "(`crisis review list` shows them all)", markup=False)
    else:
        _lines(_table(LIST_HEADER, [_list_row(c, *reviews[c.id]) for c in shown]))


def _list_row(crisis: Crisis, pm: PostMortem | None, why: str) -> list[str]:
    from crisiscomms.review.markdown import missing_pieces

    head = [crisis.id, "DRILL" if crisis.drill else "", crisis.playbook, _when(crisis.opened_at),
            _when(crisis.closed_at) if crisis.closed_at else "under way", _lasted(crisis)[1]]
    if pm is None:
        return [*head, why, "", "", "", ""]
    return [*head, "provisional" if pm.provisional else "final", *(_text(_figure(pm, key)) for key in HEADLINE),
            str(len(missing_pieces(pm)))]


def _listed(crisis: Crisis, pm: PostMortem | None, why: str) -> dict[str, Any]:
    from crisiscomms.review.markdown import missing_pieces

    review = None if pm is None else {
        "provisional": pm.provisional, "generated_at": pm.generated_at.isoformat(),
        **{key: f.value if (f := _figure(pm, key)) else None for key in HEADLINE}, "missing": len(missing_pieces(pm))}
    return {"id": crisis.id, "playbook": crisis.playbook, "title": crisis.title, "drill": crisis.drill,
            "opened_at": crisis.opened_at.isoformat(),
            "closed_at": crisis.closed_at.isoformat() if crisis.closed_at else None,
            "duration_seconds": _lasted(crisis)[0], "review": review, **({} if pm else {"no_review": why})}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in (header, *rows)]


@review_app.command("show")
@_cleanly
def show_command(
    crisis_id: Annotated[str, typer.Argument(metavar="CRISIS_ID", help="From `crisis review list`.")],
    as_json: Annotated[bool, typer.Option("--json", help="The post-mortem's data (post-mortem.json).")] = False,
) -> None:
    """The crisis's latest post-mortem (Markdown); exit 1 saying how to make one when none was written."""
    root = _project().root
    crisis = _known(root, crisis_id)
    pm, why = _review(root, crisis.id)
    folder = _folder(root, crisis.id)
    markdown = folder / "post-mortem.md"
    if pm is None and (as_json or not markdown.is_file()):
        _fail(f"{crisis.id}: {why} in {folder}. Make it with `crisis run {crisis.playbook} --phase post_crisis "
              f"--crisis {crisis.id}` (best with the stack up, `crisis up`: the review questions then wait for the "
              "team in the UI), or from the Prefect UI: the playbook's Run form, phase post_crisis, its crisis id",
              1)
    if as_json:
        print(pm.model_dump_json(indent=1))  # type: ignore[union-attr]  # not None: checked above
        return
    if pm is not None and pm.provisional:
        now = "now closed: run the review again for the final report" if crisis.closed_at else "still under way"
        print(f"PROVISIONAL post-mortem, as of {_when(pm.generated_at)} UTC — the crisis is {now}")
    if markdown.is_file():
        _lines(markdown.read_text(encoding="utf-8").splitlines())
    else:
        from crisiscomms.review.markdown import render_markdown

        _lines(render_markdown(pm).splitlines())  # type: ignore[arg-type]  # not None: checked above
    archives = sorted(folder.glob(f"evidence-{crisis.id}-*.zip"))
    err.print(f"files: {folder}" + (f"; evidence {archives[-1]} (`crisis review verify` checks it)"
                                    if archives else "; no evidence archive"), markup=False)


@review_app.command("verify")
@_cleanly
def verify_command(
    archive: Annotated[Path, typer.Argument(help="An evidence archive (evidence-<crisis>-<stamp>.zip).")],
    key_file: Annotated[Path | None, typer.Option(help="The signing key, hex text as in .crisis/approval.key "
                                                  "(default: the project's key when run in the project, if it "
                                                  "has one; without a key the seal's HMAC is not checked).")] = None,
) -> None:
    """Check an evidence archive: each entry's SHA-256, the manifest's chain, its seal; exit 0 intact, 1 not."""
    from crisiscomms.review import evidence

    if not archive.is_file():
        _fail(f"{archive}: {'a directory' if archive.is_dir() else 'no such file'}, not an evidence archive", 2)
    key, which = _key(key_file)
    result = evidence.verify(archive, key)
    if [p.where for p in result.problems] == ["archive"]:  # not a ZIP at all: nothing could be checked
        _fail(f"{archive}: {result.problems[0].what}", 2)
    err.print(printable(which), markup=False)
    _lines(result.lines())
    raise typer.Exit(0 if result.ok else 1)


def _key(given: Path | None) -> tuple[bytes | None, str]:
    """The key to check the seal's HMAC with (None: none), and a line saying which it is."""
    from crisiscomms.communication import signing
    from crisiscomms.monitoring.store import state_dir

    if given is not None:
        return _read_key(given), f"key: {given}"
    try:
        state = state_dir(Project.find().root)
    except CrisisError:
        return None, "no key: not in a crisiscomms project and no --key-file"
    if not signing.key_exists(state):  # load_key would make one: a new key checks nothing
        return None, f"no key: {signing.where_key(state)} holds none (give --key-file)"
    try:
        return signing.load_key(state), f"key: {signing.where_key(state)} (this project's)"
    except (CrisisError, ValueError, OSError) as exc:
        _fail(f"{signing.where_key(state)}: not a usable key ({exc})", 2)


def _read_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        _fail(f"{path}: not a key file (hex text, as in .crisis/approval.key): {exc}", 2)
    if not key:
        _fail(f"{path}: the key file is empty", 2)
    return key


@review_app.command("compare")
@_cleanly
def compare_command(
    crisis_ids: Annotated[list[str] | None, typer.Argument(metavar="CRISIS_ID", help="Crises to compare, in "
                                                           "this order (default: every reviewed real crisis, "
                                                           "oldest first).")] = None,
    drills: Annotated[bool, typer.Option("--drills", help="Without ids: the reviewed drills instead of the real "
                                         "crises (a drill named is always shown, marked DRILL).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON: raw values (seconds, counts).")] = False,
) -> None:
    """Crises side by side: one column per crisis, one row per key figure of its post-mortem."""
    root = _project().root
    if crisis_ids:
        chosen = [_known(root, crisis_id) for crisis_id in dict.fromkeys(crisis_ids)]
    else:
        chosen = [c for c in reversed(_registry(root)) if c.drill == drills
                  and (_folder(root, c.id) / "post-mortem.json").is_file()]
    columns = [(crisis, *_review(root, crisis.id)) for crisis in chosen]
    if as_json:
        print(json.dumps([_compared(*column) for column in columns], indent=1, ensure_ascii=False))
    elif not columns:
        out.print(f"no reviewed {'drill' if drills else 'real crisis'} to compare (`crisis review list` shows which "
                  "crises have a review)", markup=False)
    else:
        cells = [_cells(*column) for column in columns]
        rows = [[label, *(c[i] for c in cells)] for i, (_, label) in enumerate(COMPARED)]
        header = ["", *(_header(crisis, pm) for crisis, pm, _ in columns)]
        _lines([*_table(header, rows), "", "—: not computed (`crisis review show CRISIS_ID` says why)"])


def _header(crisis: Crisis, pm: PostMortem | None) -> str:
    return crisis.id + (" DRILL" if crisis.drill else "") + (" (provisional)" if pm and pm.provisional else "")


def _values(pm: PostMortem) -> dict[str, Figure | None]:
    """The compared figures of one post-mortem (None: it has no value for it)."""
    from crisiscomms.review.model import Figure

    stages = [f for f in pm.figures if f.key.startswith("approval_stage.") and f.value is not None]
    found = {key: _figure(pm, key) for key, _ in COMPARED} | {key: _figure(pm, key) for key in UPDATES}
    found["approval_stage_max"] = max(stages, key=lambda f: float(f.value or 0), default=None)
    if found["duration"] is None and pm.crisis.closed_at is not None:  # a report without the figure: its crisis
        lasted = (pm.crisis.closed_at - pm.crisis.opened_at).total_seconds()
        found["duration"] = Figure(key="duration", label="Duration", value=lasted, unit="seconds")
    return found


def _cells(crisis: Crisis, pm: PostMortem | None, why: str) -> list[str]:
    if pm is None:
        return [why.replace("no review yet", "no review"), *[""] * (len(COMPARED) - 1)]
    found = _values(pm)
    cells = {key: _text(found[key]) for key, _ in COMPARED}
    cells["updates"] = " / ".join(_text(found[key]) for key in UPDATES)
    cost = found["cost_total"]
    if cost is not None and (currency := re.search(r"\(([A-Z]{3})\)$", cost.label)):
        cells["cost_total"] += f" {currency[1]}"
    return [cells[key] for key, _ in COMPARED]


def _compared(crisis: Crisis, pm: PostMortem | None, why: str) -> dict[str, Any]:
    found = _values(pm) if pm is not None else {}
    keys = [key for key, _ in COMPARED if key != "updates"] + list(UPDATES)
    return {"crisis": crisis.id, "playbook": crisis.playbook, "drill": crisis.drill,
            "opened_at": crisis.opened_at.isoformat(),
            "closed_at": crisis.closed_at.isoformat() if crisis.closed_at else None,
            "review": None if pm is None else "provisional" if pm.provisional else "final",
            **({"no_review": why} if pm is None else {}),
            "figures": {key: f.value if (f := found.get(key)) else None for key in keys}}
