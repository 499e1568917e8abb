"""From a checked playbook to an execution plan: per phase, the steps in dependency order, and why.

A step waits for the same-phase steps the walk links it to (walker.py): its `after`, the steps its typed fields
name (`pack:`, `approval:` …), and the steps whose results its `when:` or its texts read — so a release listed
before its approval still runs after it, and a condition never reads a result that is not there yet. Steps of
earlier phases are finished before the phase starts. Ties keep the order of the file.
"""

from __future__ import annotations

import graphlib
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crisiscomms.playbook.models import PHASES, Playbook
from crisiscomms.playbook.step_types import step_type_name
from crisiscomms.playbook.steps import StepBase
from crisiscomms.playbook.walker import Link, Walk, walk_playbook


@dataclass(frozen=True)
class Dependency:
    """A step waited for, and every reason: `after`, `reference: pack`, `condition reads x.y`, `text reads y`."""

    step: str
    why: tuple[str, ...]


@dataclass(frozen=True)
class PlannedStep:
    phase: str
    step: StepBase
    waits_for: tuple[str, ...]  # same-phase step ids, in file order
    dependencies: tuple[Dependency, ...] = ()  # the same steps, each with why


@dataclass(frozen=True)
class Plan:
    playbook: Playbook
    phases: dict[str, tuple[PlannedStep, ...]]

    def phase(self, name: str) -> tuple[PlannedStep, ...]:
        return self.phases[name]

    def as_data(self, phases: tuple[str, ...] = PHASES) -> dict[str, Any]:
        """What runs, in order, per phase, as JSON-ready data (`crisis plan --json`)."""
        return {"playbook": self.playbook.id, "version": self.playbook.version,
                "phases": {phase: [_step_data(p) for p in self.phases[phase]] for phase in phases}}

    def lines(self, phases: tuple[str, ...] = PHASES) -> list[str]:
        """What runs, in order, per phase, as text (`crisis plan`)."""
        out = []
        for phase in phases:
            out.append(f"{phase}:" if self.phases[phase] else f"{phase}: no step")
            for n, planned in enumerate(self.phases[phase], start=1):
                out.append(f"  {n}. {planned.step.id} ({step_type_name(type(planned.step))})"
                           + (f"  when: {planned.step.when}" if planned.step.when else ""))
                out += [f"       waits for {d.step}: {', '.join(d.why)}" for d in planned.dependencies]
        return out


def _step_data(planned: PlannedStep) -> dict[str, Any]:
    return {"id": planned.step.id, "type": step_type_name(type(planned.step)), "when": planned.step.when,
            "waits_for": [{"step": d.step, "why": list(d.why)} for d in planned.dependencies]}


def phase_links(walk: Walk, phase: str) -> dict[str, dict[str, list[Link]]]:
    """Step id → same-phase step id it waits for → the links that say why; steps and targets in file order."""
    ids = [located.step.id for located in walk.steps.values() if located.phase == phase]
    out: dict[str, dict[str, list[Link]]] = {step_id: {} for step_id in ids}
    for link in walk.links:
        source = link.source.step.id
        if link.source.phase == phase and link.target in out and link.target != source:
            out[source].setdefault(link.target, []).append(link)
    position = {step_id: i for i, step_id in enumerate(ids)}
    return {s: dict(sorted(targets.items(), key=lambda t: position[t[0]])) for s, targets in out.items()}


def build_plan(playbook: Playbook, templates_dir: Path) -> Plan:
    """Order each phase's steps; ties keep the order of the file. Assumes inspect found no issue."""
    walk = walk_playbook(playbook, templates_dir)
    phases: dict[str, tuple[PlannedStep, ...]] = {}
    for phase in PHASES:
        links = phase_links(walk, phase)
        phases[phase] = tuple(_planned(phase, walk.steps[i].step, links[i]) for i in _stable_order(links))
    return Plan(playbook, phases)


def _planned(phase: str, step: StepBase, targets: dict[str, list[Link]]) -> PlannedStep:
    dependencies = tuple(Dependency(target, tuple(dict.fromkeys(link.why for link in links)))
                         for target, links in targets.items())
    return PlannedStep(phase, step, tuple(targets), dependencies)


def _stable_order(graph: dict[str, dict[str, list[Link]]]) -> list[str]:
    """Each time, the first step in file order whose dependencies are done: a file already in a valid order runs
    as written, and a step moves only as far as what it waits for requires."""
    position = {step_id: i for i, step_id in enumerate(graph)}
    sorter = graphlib.TopologicalSorter({step_id: list(targets) for step_id, targets in graph.items()})
    sorter.prepare()
    ready: list[tuple[int, str]] = []
    order: list[str] = []
    while sorter.is_active():
        for step_id in sorter.get_ready():
            heapq.heappush(ready, (position[step_id], step_id))
        _, step_id = heapq.heappop(ready)
        order.append(step_id)
        sorter.done(step_id)
    return order


def cycles(graph: dict[str, dict[str, Any]]) -> list[list[str]]:
    """One cycle per group of steps that wait for each other, starting at its first step in file order:
    [a, b, …, a] where a waits for b."""
    groups = _strongly_connected(graph)
    return [_shortest_cycle(graph, group) for group in groups if len(group) > 1]


def _strongly_connected(graph: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Groups of steps each reachable from the others (Kosaraju), each in file order."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(node: str, edges: Callable[[str], Any], out: list[str]) -> None:
        stack = [(node, iter(edges(node)))]
        seen.add(node)
        while stack:
            current, children = stack[-1]
            child = next((c for c in children if c not in seen), None)
            if child is None:
                stack.pop()
                out.append(current)
            else:
                seen.add(child)
                stack.append((child, iter(edges(child))))

    for node in graph:
        if node not in seen:
            visit(node, lambda n: graph[n], order)
    reverse: dict[str, list[str]] = {n: [] for n in graph}
    for node, targets in graph.items():
        for target in targets:
            reverse[target].append(node)
    seen.clear()
    position = {n: i for i, n in enumerate(graph)}
    groups = []
    for node in reversed(order):
        if node not in seen:
            group: list[str] = []
            visit(node, lambda n: reverse[n], group)
            groups.append(sorted(group, key=position.__getitem__))
    return sorted(groups, key=lambda g: position[g[0]])


def _shortest_cycle(graph: dict[str, dict[str, Any]], group: list[str]) -> list[str]:
    """The shortest way from the group's first step back to itself, inside the group (breadth first)."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in graph[node]:
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target in members and target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    return [start, start]
