"""From a checked playbook to an execution plan: per phase, the steps in dependency order.

A step waits for the steps in its `after`, and also for any same-phase step whose result its
`when:` or its text reads (so a condition never reads a result that is not there yet). Steps of
earlier phases are finished before the phase starts.
"""

from __future__ import annotations

import contextlib
import graphlib
from dataclasses import dataclass
from pathlib import Path

from crisiscomms.errors import ExpressionError
from crisiscomms.playbook import expression, rendering
from crisiscomms.playbook.models import PHASES, Playbook
from crisiscomms.playbook.steps import NoteLog, PlaybookCall, StepBase


@dataclass(frozen=True)
class PlannedStep:
    phase: str
    step: StepBase
    waits_for: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    playbook: Playbook
    phases: dict[str, tuple[PlannedStep, ...]]

    def phase(self, name: str) -> tuple[PlannedStep, ...]:
        return self.phases[name]


def referenced_names(step: StepBase, templates_dir: Path) -> set[str]:
    """Top-level names that the step's condition and text read (inputs, step ids …)."""
    names: set[str] = set()
    if step.when:
        with contextlib.suppress(ExpressionError):  # a bad condition is reported by inspect
            names |= {ref[0] for ref in expression.parse(step.when).references()}
    if isinstance(step, NoteLog):
        source = step.text if step.text is not None else _template_source(templates_dir, step.template)
        names |= set(rendering.check_source(source).names) if source else set()
    if isinstance(step, PlaybookCall):
        for value in step.with_.values():
            names |= set(rendering.check_source(value).names) if rendering.is_template(value) else set()
    return names


def _template_source(templates_dir: Path, name: str | None) -> str | None:
    path = templates_dir / (name or "")
    return path.read_text(encoding="utf-8") if name and path.is_file() else None


def phase_graph(playbook: Playbook, phase: str, templates_dir: Path) -> dict[str, list[str]]:
    """Step id → same-phase step ids it waits for, in file order."""
    steps = getattr(playbook.phases, phase).steps
    ids = [s.id for s in steps]
    graph: dict[str, list[str]] = {}
    for step in steps:
        wanted = set(step.after) | referenced_names(step, templates_dir)
        graph[step.id] = [i for i in ids if i in wanted and i != step.id]
    return graph


def build_plan(playbook: Playbook, templates_dir: Path) -> Plan:
    """Order each phase's steps; ties keep the order of the file. Assumes inspect found no issue."""
    phases: dict[str, tuple[PlannedStep, ...]] = {}
    for phase in PHASES:
        graph = phase_graph(playbook, phase, templates_dir)
        by_id = {s.id: s for s in getattr(playbook.phases, phase).steps}
        phases[phase] = tuple(
            PlannedStep(phase, by_id[i], tuple(graph[i])) for i in _stable_order(graph)
        )
    return Plan(playbook, phases)


def _stable_order(graph: dict[str, list[str]]) -> list[str]:
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    position = {step_id: i for i, step_id in enumerate(graph)}
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        order += ready
        sorter.done(*ready)
    return order
