"""Parameter types of the deployments, built from this project's playbooks at import time."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from crisiscomms.errors import InputError, PlaybookError
from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.parameters import inputs_model, playbook_choice
from crisiscomms.stack.project import Project

# The project whose playbooks the flows run: the one `crisis` found (it sets CRISIS_PROJECT_ROOT for the runs and the
# worker it starts), else this checkout.
ROOT = Path(os.environ.get("CRISIS_PROJECT_ROOT") or Path(__file__).resolve().parents[1])
PROJECT = Project(ROOT)
log = logging.getLogger(__name__)


def valid_playbooks(checked: bool = True) -> list[Playbook]:
    """Every playbook that is valid; with `checked=False`, every one that parses: its `inputs:` are all a Run form
    needs (checking every template of every playbook as well cost each phase run ~2.7 s of CPU)."""
    found = []
    for playbook_id in PROJECT.playbook_ids():
        try:
            found.append((PROJECT.load if checked else PROJECT.parsed)(playbook_id).playbook)
        except PlaybookError as exc:
            # Still offered as a choice: running it then reports every issue in the run's logs.
            log.warning("playbook %s is invalid:\n%s", playbook_id, exc)
    return found


def crisis_inputs() -> Any:
    """One optional field per input of the project's playbooks. Should two parsed playbooks disagree on an input's
    type, the one that is invalid anyway is left out, as before (every playbook checked)."""
    try:
        return inputs_model(valid_playbooks(checked=False))
    except InputError:
        return inputs_model(valid_playbooks())


PlaybookChoice: Any = playbook_choice(PROJECT.playbook_ids())
# CrisisInputs is built on first use, by the flows that take inputs (phases, playbook): the monitoring, deadline and
# reminder runs, most of a crisis's runs, never read the playbooks for it.


def __getattr__(name: str) -> Any:
    if name == "CrisisInputs":
        globals()[name] = crisis_inputs()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def given_inputs(inputs: Any) -> dict[str, Any]:
    """The Run form's inputs as a plain dict (a model from the form, a dict from an automation or the CLI)."""
    return inputs.model_dump() if hasattr(inputs, "model_dump") else dict(inputs)
