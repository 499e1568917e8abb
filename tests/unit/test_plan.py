"""The plan: what runs, in which order, and why — built from the one walk over the spec.

A phase is ordered by `after:`, by the steps typed fields name (`pack:`, `approval:` …) and by the results its
conditions and texts read; ties keep the order of the file. `crisis plan` prints it, `--json` for tools.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crisiscomms.playbook.plan import Plan, build_plan
from crisiscomms.playbook.walker import walk_playbook
from crisiscomms.stack.project import Project, playbook_files

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
ENGINE = TESTS / "fixtures" / "engine"
CRISIS = Path(sys.executable).parent / "crisis"
# Every project whose playbooks are valid: the shipped ones and the valid fixtures.
VALID_PROJECTS = [REPO, *(TESTS / "fixtures" / name for name in ("steps", "claims", "audiences", "monitoring",
                                                                    "engine"))]
VALID_PLAYBOOKS = [(root, path.stem) for root in VALID_PROJECTS for path in playbook_files(root / "playbooks")]

OUT_OF_ORDER = [
    {"id": "evaluation", "type": "assessment.run", "when": None, "waits_for": []},
    {"id": "messages", "type": "message.pack", "when": None,
     "waits_for": [{"step": "evaluation", "why": ["reference: assessment"]}]},
    {"id": "validation", "type": "message.approve", "when": None,
     "waits_for": [{"step": "messages", "why": ["reference: pack"]},
                   {"step": "evaluation", "why": ["reference: assessment"]}]},
    {"id": "diffusion", "type": "message.release", "when": None,
     "waits_for": [{"step": "validation", "why": ["reference: approval"]},
                   {"step": "messages", "why": ["reference: pack"]}]},
    {"id": "journal", "type": "note.log", "when": None,
     "waits_for": [{"step": "diffusion", "why": ["text reads diffusion.status"]}]},
]


def plan_of(root: Path, playbook_id: str) -> Plan:
    project = Project(root)
    return project.plan(project.load(playbook_id))


def crisis(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    return subprocess.run([str(CRISIS), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_phase_listed_backwards_runs_in_reference_order() -> None:
    communication = plan_of(ENGINE, "out-of-order").phase("communication")
    assert [p.step.id for p in communication] == ["evaluation", "messages", "validation", "diffusion", "journal"]
    assert {p.step.id: p.waits_for for p in communication} == {
        "evaluation": (), "messages": ("evaluation",), "validation": ("messages", "evaluation"),
        "diffusion": ("validation", "messages"), "journal": ("diffusion",)}


def test_crisis_plan_json_gives_the_order_and_why_of_each_step() -> None:
    done = crisis("plan", "out-of-order", "--phase", "communication", "--json", cwd=ENGINE)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"playbook": "out-of-order", "version": "0.1.0",
                                       "phases": {"communication": OUT_OF_ORDER}}


def test_crisis_plan_prints_each_phase_in_order_with_what_each_step_waits_for() -> None:
    done = crisis("plan", "playbooks/out-of-order.yaml", cwd=ENGINE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "preparation: no step",
        "assessment: no step",
        "communication:",
        "  1. evaluation (assessment.run)",
        "  2. messages (message.pack)",
        "       waits for evaluation: reference: assessment",
        "  3. validation (message.approve)",
        "       waits for messages: reference: pack",
        "       waits for evaluation: reference: assessment",
        "  4. diffusion (message.release)",
        "       waits for validation: reference: approval",
        "       waits for messages: reference: pack",
        "  5. journal (note.log)",
        "       waits for diffusion: text reads diffusion.status",
        "post_crisis: no step",
    ]


def test_crisis_plan_names_the_reasons_of_each_wait_in_the_demo() -> None:
    done = crisis("plan", "rappel-produit", "--phase", "communication", "--json", cwd=REPO)
    steps = {s["id"]: s for s in json.loads(done.stdout)["phases"]["communication"]}
    assert steps["diffusion"]["waits_for"] == [
        {"step": "messages", "why": ["reference: pack"]},
        {"step": "validation", "why": ["reference: approval", "condition reads validation.decision"]}]


def test_crisis_plan_refuses_a_playbook_that_does_not_validate() -> None:
    done = crisis("plan", "playbooks/reference-cycle.yaml", cwd=TESTS / "fixtures" / "invalid")
    assert done.returncode == 1
    assert done.stdout.startswith("playbooks/reference-cycle.yaml:10:15: phases.communication.steps[0].when: steps "
                                  "wait for each other")
    assert "`crisis validate` must pass" in done.stderr


def test_crisis_plan_refuses_an_unknown_phase() -> None:
    done = crisis("plan", "out-of-order", "--phase", "communcation", cwd=ENGINE)
    assert done.returncode == 2
    assert "unknown phase 'communcation'" in done.stderr


def test_a_file_already_in_a_valid_order_runs_as_written() -> None:
    plan = plan_of(REPO, "rappel-produit")
    for phase, planned in plan.phases.items():
        written = [s.id for s in getattr(plan.playbook.phases, phase).steps]
        assert [p.step.id for p in planned] == written


def test_a_step_moves_only_as_far_as_what_it_waits_for_requires() -> None:
    # failures.yaml: `dependent` waits for `broken_soft`, `independent` for `first`; nothing else moves.
    assert [p.step.id for p in plan_of(ENGINE, "failures").phase("assessment")] == [
        "first", "broken_soft", "dependent", "independent", "broken_hard", "after_hard"]


@pytest.mark.parametrize(("root", "playbook_id"), VALID_PLAYBOOKS, ids=[f"{r.name}/{p}" for r, p in VALID_PLAYBOOKS])
def test_the_plan_waits_for_exactly_the_same_phase_steps_the_walk_links(root: Path, playbook_id: str) -> None:
    project = Project(root)
    loaded = project.load(playbook_id)
    walk = walk_playbook(loaded.playbook, project.templates_dir)
    plan = build_plan(loaded.playbook, project.templates_dir)
    for phase, planned in plan.phases.items():
        for step in planned:
            linked = {r.target for r in walk.references if r.kind == "step" and r.step and r.step.step is step.step}
            linked |= {read.ref[0] for site in walk.texts if site.step and site.step.step is step.step
                       for read in site.reads}
            linked |= {ref[0] for site in walk.conditions if site.step and site.step.step is step.step
                       and site.condition for ref in site.condition.references()}
            same_phase = {s for s in linked if s in walk.steps and walk.steps[s].phase == phase} - {step.step.id}
            assert set(step.waits_for) == same_phase, (phase, step.step.id)
            assert [d.step for d in step.dependencies] == list(step.waits_for)
