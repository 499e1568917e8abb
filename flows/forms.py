"""One Run form per playbook: *Deployments → crisis-playbook / <playbook id> → Run* shows that playbook's crisis
inputs as the form's own fields — its defaults filled in, its choices as selects, its descriptions as help — and
the phase to run. Nothing internal (an alert, a history) is a field.

The flows are built here from the project's valid playbooks when the module is imported (by `prefect deploy`
and by the worker alike); `prefect.yaml` has one deployment per playbook, and a completeness test checks that
every shipped playbook has its form. A run name typed in the form is kept; otherwise the run is named
`<playbook>/<phase>`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

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

# Names nobody typed: the server names a run created without one with two words of coolname's lists
# (`fancy-bear`); the UI's Run form suggests a Greek letter, maybe numbered, then star names (`rho2-milika`,
# `delta-cygni-vega`).
_COOLNAME = {word for part in _slug_words.values() if isinstance(part, dict) for word in part.get("words", [])}
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
          "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega"}


def generated_name(name: str) -> bool:
    words = name.split("-")
    if len(words) == 2 and all(w in _COOLNAME for w in words):
        return True
    head = re.fullmatch(r"([a-z]+)\d*", words[0])
    return len(words) >= 2 and bool(head) and head[1] in _GREEK and all(w.isalpha() and w.islower()
                                                                         for w in words[1:])


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
    return [phase, *inputs]


def form_flow(playbook: Playbook) -> Flow[..., RunHistory | State]:
    """The playbook's own run flow: its inputs as top-level parameters, so Prefect builds its form from them."""
    attribute = playbook.id.replace("-", "_")

    def run(phase: str = "all", **inputs: Any) -> RunHistory | State:
        return play(playbook.id, phase, inputs)

    run.__signature__ = inspect.Signature(_parameters(playbook))  # type: ignore[attr-defined]
    run.__name__ = run.__qualname__ = attribute
    run.__module__ = __name__
    run.__doc__ = playbook.title
    return flow(run, name="crisis-playbook", flow_run_name=run_name(playbook.id), log_prints=True,
                description=f"{playbook.title} — run the playbook `{playbook.id}` (all phases, or one).")


FORMS: dict[str, Flow[..., RunHistory | State]] = {pb.id: form_flow(pb) for pb in valid_playbooks()}
globals().update({pb_id.replace("-", "_"): form for pb_id, form in FORMS.items()})
