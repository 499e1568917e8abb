"""One Run form per playbook: *Deployments → crisis-playbook / <playbook id> → Run* shows that playbook's crisis
inputs as the form's own fields — its defaults filled in, its choices as selects, its descriptions as help — and
the phase to run. Nothing internal (an alert, a history) is a field.

The flows are built here from the project's valid playbooks when the module is imported (by `prefect deploy`
and by the worker alike); `prefect.yaml` has one deployment per playbook, and a completeness test checks that
every shipped playbook has its form. A run name typed in the form is kept; otherwise the run is named
`<playbook>/<phase>`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import prefect
from coolname.data import config as _slug_words
from prefect import Flow, flow
from prefect.runtime import flow_run
from prefect.states import State
from pydantic import Field

from crisiscomms.playbook.models import Playbook
from crisiscomms.playbook.parameters import PhaseChoice, input_annotation
from flows.choices import valid_playbooks
from flows.history import RunHistory
from flows.playbook import play

# Names nobody typed: the server names a run created without one with words of coolname's lists (`fancy-bear`);
# the UI's Run form suggests one from its own word lists (Greek letters, star and constellation names, animals:
# `rho2-milika`, `delta-cygni-vega`). A name made only of such words (digits aside) was not typed by a person.
_COOLNAME = {word for part in _slug_words.values() if isinstance(part, dict) for word in part.get("words", [])}
_UI_LIST = re.compile(r"`([^`\s{}()<>;=]{100,})`\.split\(`\.`\)")


@functools.cache
def _suggested_words() -> frozenset[str]:
    """The words of the name lists in the installed Prefect UI (read once; none if the UI is not installed)."""
    words: set[str] = set()
    for bundle in (Path(prefect.__file__).parent / "server" / "ui" / "assets").glob("index-*.js"):
        for found in _UI_LIST.findall(bundle.read_text(encoding="utf-8", errors="replace")):
            words.update(found.split("."))
    return frozenset(words | _COOLNAME)


def generated_name(name: str) -> bool:
    tokens = [token.rstrip("0123456789") for token in name.split("-")]
    return len(tokens) >= 2 and all(token and token in _suggested_words() for token in tokens)


def run_name(playbook_id: str) -> Callable[[], str]:
    def name() -> str:
        given = flow_run.get_name() or ""
        phase = flow_run.get_parameters().get("phase", "all")
        return given if given and not generated_name(given) else f"{playbook_id}/{phase}"

    return name


def _parameters(playbook: Playbook) -> list[inspect.Parameter]:
    phase = inspect.Parameter("phase", inspect.Parameter.KEYWORD_ONLY, annotation=PhaseChoice, default=Field(
        "all", description="The phase to run: all four in order (`all`), or one of them."))
    inputs = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=input_annotation(spec),
                                default=Field(... if spec.required else spec.default,
                                              description=" — ".join(filter(None, [spec.title, spec.description]))))
              for name, spec in playbook.inputs.items()]
    crisis = inspect.Parameter("crisis_id", inspect.Parameter.KEYWORD_ONLY, annotation=str, default=Field(
        "", description="The crisis this run belongs to (`crisis review list`); empty: the playbook's crisis under "
        "way, or a new one."))
    return [phase, *inputs, crisis]


def build_form(playbook: Playbook) -> Flow[..., RunHistory | State]:
    """The playbook's own run flow: its inputs as top-level parameters, so Prefect builds its form from them."""
    attribute = entrypoint_name(playbook.id)

    def run(phase: str = "all", crisis_id: str = "", **inputs: Any) -> RunHistory | State:
        return play(playbook.id, phase, inputs, crisis_id=crisis_id)

    run.__signature__ = inspect.Signature(_parameters(playbook))  # type: ignore[attr-defined]
    run.__name__ = run.__qualname__ = attribute
    run.__module__ = __name__
    run.__doc__ = playbook.title
    return flow(run, name="crisis-playbook", flow_run_name=run_name(playbook.id), log_prints=True,
                description=f"{playbook.title} — run the playbook `{playbook.id}` (all phases, or one).")


def entrypoint_name(playbook_id: str) -> str:
    """`form_<id>`: no name of this module starts with `form_`, so no playbook id can shadow one."""
    return "form_" + playbook_id.replace("-", "_")


FORMS: dict[str, Flow[..., RunHistory | State]] = {pb.id: build_form(pb) for pb in valid_playbooks()}
globals().update({entrypoint_name(pb_id): form for pb_id, form in FORMS.items()})
