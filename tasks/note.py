"""note.log: a log-book entry rendered from inline text or a template, with inputs and results."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task

from crisiscomms.playbook import rendering
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.steps import NoteLog, NoteRecord


def note_record(step: NoteLog, context: StepContext) -> NoteRecord:
    if step.text is not None:
        text = context.render(step.text)  # its `{% include %}` reads templates/, as a template file's does
    else:
        text = rendering.render_file(Path(context.root) / "templates", str(step.template), context.namespace())
    return NoteRecord(text=text.strip(), level=step.level)


@task(name="note.log")
def log_note(step: NoteLog, context: StepContext) -> NoteRecord:
    record = note_record(step, context)
    logger = get_run_logger()
    (logger.warning if record.level == "warning" else logger.info)("%s", record.text)
    return record
