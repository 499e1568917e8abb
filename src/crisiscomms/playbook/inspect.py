"""Semantic checks of a playbook, all run before anything executes; every problem is reported.

Rules (one invalid fixture each under tests/fixtures/invalid/):
  id-matches-file, duplicate-step, reserved-id, unknown-after, after-forward-only, cycle, unknown-role,
  unknown-channel, unknown-audience, missing-template, template-error, template-outside, template-encoding,
  message-template, bad-when, unknown-name, unknown-field, input-removed, unknown-playbook, call-cycle,
  call-inputs, audience-default, claim-references, fact-languages, partial-translation.

What a playbook points to, what its conditions and texts read, comes from the walk (walker.py): this module only
judges it, and the plan (plan.py) orders steps by the same walk.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crisiscomms.errors import Issue
from crisiscomms.playbook import expression
from crisiscomms.playbook.communication import MESSAGE_KINDS
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.models import PHASES, Playbook
from crisiscomms.playbook.namespace import STEP_NAMES, Found, unknown
from crisiscomms.playbook.plan import cycles, phase_links
from crisiscomms.playbook.rendering import JINJA_NAMES, is_template
from crisiscomms.playbook.sections import section_findings
from crisiscomms.playbook.step_types import step_type_name
from crisiscomms.playbook.steps import ClaimSpread, MessagePack, PlaybookCall, StepBase
from crisiscomms.playbook.walker import Located, Reference, TextSite, Walk, walk_playbook
from crisiscomms.playbook.yamlfile import Loc


@dataclass(frozen=True)
class Catalog:
    """What a playbook may point to outside itself: the other playbooks and the templates."""

    templates_dir: Path
    playbook: Callable[[str], LoadedPlaybook | None]


def inspect_playbook(loaded: LoadedPlaybook, catalog: Catalog) -> list[Issue]:
    return _Inspection(loaded, catalog).run()


def condition_holds(loaded: LoadedPlaybook, catalog: Catalog, phase: str, step: StepBase,
                    values: dict[str, Any]) -> bool:
    """Evaluate the step's `when:` on `values` (inputs, results); a step without one always runs.

    Cheap: the condition was parsed when the playbook was walked (validation or planning), and is reused."""
    return walk_playbook(loaded.playbook, catalog.templates_dir).holds(step, values)


class _Inspection:
    def __init__(self, loaded: LoadedPlaybook, catalog: Catalog) -> None:
        self.loaded = loaded
        self.pb = loaded.playbook
        self.doc = loaded.document
        self.catalog = catalog
        self.walk: Walk = walk_playbook(self.pb, catalog.templates_dir)
        self.steps = self.walk.steps
        self.issues: list[Issue] = []

    def add(self, loc: Loc, message: str, at_key: bool = False) -> None:
        self.issues.append(self.doc.issue(loc, message, at_key=at_key))

    def run(self) -> list[Issue]:
        self._file_name()
        for loc, message, at_key in section_findings(self.pb):
            self.add(loc, message, at_key)
        for phase, index, step in self.pb.steps():
            self._identity(Located(phase, index, step))
        for reference in self.walk.references:
            self._reference(reference)
        for site in self.walk.conditions:
            if site.step:
                self._condition(site.loc, site.step, site.error, site.condition)
        for text in self.walk.texts:
            self._text(text)
        for located in self.steps.values():
            self._step_rules(located)
        self._cycles()
        return sorted(set(self.issues))

    def _file_name(self) -> None:
        stem = self.loaded.path.stem
        if self.pb.id != stem:
            self.add(("id",), f"id '{self.pb.id}' must equal the file name '{stem}'")

    def _identity(self, here: Located) -> None:
        first = self.steps[here.step.id]
        if first != here:
            line = self.doc.position((*first.loc, "id"))[0]
            self.add((*here.loc, "id"), f"duplicate step id '{here.step.id}' (first defined at line {line})")
        elif here.step.id in STEP_NAMES:
            self.add((*here.loc, "id"), f"step id '{here.step.id}' is reserved: texts and conditions read "
                     f"{', '.join(sorted(STEP_NAMES))} as such, never as a step")
        elif here.step.id in JINJA_NAMES:
            self.add((*here.loc, "id"), f"step id '{here.step.id}' is reserved: in a text, Jinja reads "
                     f"{', '.join(sorted(JINJA_NAMES))} as its own, never as a step")

    def _reference(self, ref: Reference) -> None:
        if ref.kind == "step" and ref.step:
            problem = self._earlier(ref.target, ref.step)
            if problem is None and ref.types and not isinstance(self.steps[ref.target].step, ref.types):
                problem = f"step '{ref.target}' is not a {' or '.join(step_type_name(t) for t in ref.types)} step"
            if problem:
                self.add(ref.loc, problem)
        elif ref.kind == "playbook" and ref.step:
            self._call(ref.step, ref.loc)
        elif ref.kind in _DECLARED and ref.target not in (known := getattr(self.pb, _DECLARED[ref.kind])):
            self.add(ref.loc, unknown(ref.kind, ref.target, known))

    def _earlier(self, name: str, here: Located) -> str | None:
        """Why `name` cannot be a step that `here` waits for (or reads), or None if it can."""
        target = self.steps.get(name)
        if target is None:
            return unknown("step", name, self.steps)
        if name == here.step.id:
            return f"step '{name}' cannot wait for itself"
        if PHASES.index(target.phase) > PHASES.index(here.phase):
            return (f"step '{name}' is in phase '{target.phase}', which runs after '{here.phase}': "
                    "a step can only follow steps of its own phase or of an earlier one")
        return None

    def _condition(self, loc: Loc, here: Located, error: str | None,
                   condition: expression.Condition | None) -> None:
        if error or condition is None:
            self.add(loc, str(error))
            return
        for problem in expression.check(condition, lambda ref: self._scale(ref, here)):
            self.add(loc, problem)

    def _scale(self, ref: tuple[str, ...], here: Located) -> expression.Scale | str:
        found = self._resolve(ref, here, leaf=True)
        return found if isinstance(found, str) else expression.Scale(found.ordered, found.kind)

    def _resolve(self, ref: tuple[str, ...], here: Located | None, leaf: bool = False) -> Found | str:
        """What a step's condition or text reads, seen from `here` (results of later steps are not there)."""
        if ref[0] not in STEP_NAMES and here is not None:
            problem = self._earlier(ref[0], here)
            if problem:
                return problem
        return self.walk.step_scope.resolve(ref, leaf)

    def _text(self, text: TextSite) -> None:
        if text.namespace == "message":
            self._message_text(text)
            return
        if text.problem:
            self.add(text.loc, text.problem)
            return
        unknown_names = set()
        for name in sorted(text.names - STEP_NAMES):
            problem = self._earlier(name, text.step) if text.step else f"unknown name '{name}'"
            if problem:
                unknown_names.add(name)
                self.add(text.loc, f"template uses unknown name '{name}': {problem}")
        who = "template" if text.template else "text"
        self._reads(text, lambda ref: self._resolve(ref, text.step), who, unknown_names)

    def _message_text(self, text: TextSite) -> None:
        scope = self.walk.message_scope
        if text.problem:
            prefix = "" if text.problem.startswith(f"template '{text.template}'") else f"{text.template}: "
            self.add(text.loc, prefix + text.problem)
            return
        unknown_names = text.names - set(scope.heads)
        if unknown_names:
            self.add(text.loc, f"{text.template} uses unknown name(s) {', '.join(sorted(unknown_names))} "
                     f"(known: {', '.join(sorted(scope.heads))})")
        self._reads(text, scope.resolve, str(text.template), unknown_names)

    def _reads(self, text: TextSite, resolve: Callable[[tuple[str, ...]], Found | str], who: str,
               unknown_names: set[str]) -> None:
        """Every dotted name the text reads below a known name: a field or input the run would not provide."""
        seen: set[tuple[str, ...]] = set()
        for read in text.reads:
            if len(read.ref) < 2 or read.ref in seen or read.ref[0] in unknown_names:
                continue
            seen.add(read.ref)
            found = resolve(read.ref)
            if isinstance(found, str):
                where = f"{read.file} line {read.line}" if read.file and read.file != text.template else \
                    f"template line {read.line}"
                self.add(text.loc, f"{who} reads '{'.'.join(read.ref)}': {found} ({where})")

    def _step_rules(self, here: Located) -> None:
        if isinstance(here.step, MessagePack):
            self._pack_kinds(here, here.step)
        if isinstance(here.step, ClaimSpread):
            self._claim_spread(here, here.step)

    def _claim_spread(self, here: Located, step: ClaimSpread) -> None:
        """`claim` names a declared claim, or is a text built from inputs (a claim entered by hand)."""
        declared = {c.id for c in self.pb.communication.claims}
        if not is_template(step.claim) and step.claim.strip() not in declared:
            self.add((*here.loc, "claim"), unknown("claim", step.claim, declared) + " (or a text from the inputs: "
                     "`{{ inputs.rumeur }}`)")

    def _pack_kinds(self, here: Located, step: MessagePack) -> None:
        declared = {spec.kind for spec in self.pb.communication.messages}
        for i, kind in enumerate(step.kinds or []):
            if kind not in MESSAGE_KINDS:
                self.add((*here.loc, "kinds", i), unknown("message kind", kind, MESSAGE_KINDS))
            elif kind not in declared:
                self.add((*here.loc, "kinds", i), f"no `{kind}` message in communication.messages: declare one "
                         "(its audiences and channels)")

    def _call(self, here: Located, loc: Loc) -> None:
        step = here.step
        if not isinstance(step, PlaybookCall):
            return
        if step.playbook == self.pb.id:
            self.add(loc, "a playbook cannot call itself")
            return
        callee = self.catalog.playbook(step.playbook)
        if callee is None:
            self.add(loc, f"unknown playbook '{step.playbook}' (no valid playbooks/{step.playbook}.yaml)")
            return
        self._call_inputs(here, step, callee.playbook)
        chain = _call_chain(callee.playbook, self.catalog, [self.pb.id, step.playbook])
        if chain:
            self.add(loc, "playbook calls loop: " + " → ".join(chain))

    def _call_inputs(self, here: Located, step: PlaybookCall, callee: Playbook) -> None:
        for name, value in step.with_.items():
            spec = callee.inputs.get(name)
            if spec is None:
                known = ", ".join(sorted(callee.inputs)) or "none declared"
                self.add((*here.loc, "with", name),
                         f"unknown input '{name}' of '{callee.id}' (known: {known})", at_key=True)
            elif not is_template(value):
                try:
                    spec.check_value(value)
                except ValueError as exc:
                    self.add((*here.loc, "with", name), str(exc))
        missing = [n for n, spec in callee.inputs.items() if spec.required and n not in step.with_]
        if missing:
            noun = "input" if len(missing) == 1 else "inputs"
            self.add((*here.loc, "playbook"), f"'{callee.id}' needs {noun} {', '.join(missing)} in `with`")

    def _cycles(self) -> None:
        for phase in PHASES:
            links = phase_links(self.walk, phase)
            for cycle in cycles(links):
                first = links[cycle[0]][cycle[1]][0]
                hops = [f"{a} waits for {b} ({', '.join(dict.fromkeys(link.why for link in links[a][b]))})"
                        for a, b in itertools.pairwise(cycle)]
                self.add(first.loc, "steps wait for each other: " + ", ".join(hops))


_DECLARED = {"role": "team", "channel": "channels", "audience": "audiences"}


def _call_chain(playbook: Playbook, catalog: Catalog, chain: list[str]) -> list[str] | None:
    for _, _, step in playbook.steps():
        if not isinstance(step, PlaybookCall):
            continue
        if step.playbook in chain:
            return [*chain, step.playbook]
        callee = catalog.playbook(step.playbook)
        found = callee and _call_chain(callee.playbook, catalog, [*chain, step.playbook])
        if found:
            return found
    return None
