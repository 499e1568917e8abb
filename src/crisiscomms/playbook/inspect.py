"""Semantic checks of a playbook, all run before anything executes; every problem is reported.

Rules (one invalid fixture each under tests/fixtures/invalid/):
  id-matches-file, duplicate-step, unknown-after, after-forward-only, cycle, unknown-role,
  unknown-channel, unknown-audience, missing-template, template-error, bad-when, unknown-name,
  unknown-playbook, call-cycle, call-inputs, audience-default, claim-references.
"""

from __future__ import annotations

import graphlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from crisiscomms.errors import ExpressionError, Issue
from crisiscomms.mention import Alert
from crisiscomms.playbook import expression, rendering
from crisiscomms.playbook.communication import MESSAGE_KINDS
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.models import PHASES, Person, Playbook
from crisiscomms.playbook.plan import phase_graph
from crisiscomms.playbook.steps import (
    AssessmentRun,
    ClaimSpread,
    ClaimTrack,
    MessageApprove,
    MessagePack,
    MessageRelease,
    NoteLog,
    PlaybookCall,
    StepBase,
    step_type_name,
)
from crisiscomms.playbook.yamlfile import Loc

GLOBAL_NAMES = frozenset({"inputs", "playbook", "team", "audiences", "channels", "alert"})
PLAYBOOK_FIELDS = frozenset({"id", "version", "title", "language"})
# What a message template sees (crisiscomms.communication.messages).
MESSAGE_NAMES = frozenset({"org", "facts", "audience", "channel", "message", "assessment", "claim", "inputs",
                           "playbook"})


@dataclass(frozen=True)
class Catalog:
    """What a playbook may point to outside itself: the other playbooks and the templates."""

    templates_dir: Path
    playbook: Callable[[str], LoadedPlaybook | None]


@dataclass(frozen=True)
class Located:
    phase: str
    index: int
    step: StepBase

    @property
    def loc(self) -> Loc:
        return ("phases", self.phase, "steps", self.index)


def index_steps(playbook: Playbook) -> dict[str, Located]:
    """First occurrence of every step id."""
    out: dict[str, Located] = {}
    for phase, index, step in playbook.steps():
        out.setdefault(step.id, Located(phase, index, step))
    return out


def inspect_playbook(loaded: LoadedPlaybook, catalog: Catalog) -> list[Issue]:
    return _Inspection(loaded, catalog).run()


class _Inspection:
    def __init__(self, loaded: LoadedPlaybook, catalog: Catalog) -> None:
        self.loaded = loaded
        self.pb = loaded.playbook
        self.doc = loaded.document
        self.catalog = catalog
        self.steps = index_steps(self.pb)
        self.issues: list[Issue] = []

    def add(self, loc: Loc, message: str, at_key: bool = False) -> None:
        self.issues.append(self.doc.issue(loc, message, at_key=at_key))

    def run(self) -> list[Issue]:
        self._file_name()
        self._team_and_channels()
        self._monitoring()
        self._messages()
        self._approval()
        self._claims()
        for phase, index, step in self.pb.steps():
            here = Located(phase, index, step)
            self._identity(here)
            self._after(here)
            self._references(here)
            self._condition(here)
            self._texts(here)
            if isinstance(step, PlaybookCall):
                self._call(here, step)
            if isinstance(step, MessagePack):
                self._pack(here, step)
            if isinstance(step, MessageRelease):
                self._step_of(here, "approval", step.approval, MessageApprove, "message.approve")
                self._step_of(here, "pack", step.pack, MessagePack, "message.pack")
            if isinstance(step, ClaimSpread):
                self._claim_spread(here, step)
            if isinstance(step, ClaimTrack):
                self._step_of(here, "spread", step.spread, ClaimSpread, "claim.spread")
                self._step_of(here, "release", step.release, MessageRelease, "message.release")
            if isinstance(step, MessageApprove):
                self._step_of(here, "pack", step.pack, MessagePack, "message.pack")
                if step.assessment:
                    self._step_of(here, "assessment", step.assessment, AssessmentRun, "assessment.run")
        self._cycles()
        return sorted(set(self.issues))

    def _file_name(self) -> None:
        stem = self.loaded.path.stem
        if self.pb.id != stem:
            self.add(("id",), f"id '{self.pb.id}' must equal the file name '{stem}'")

    def _team_and_channels(self) -> None:
        for name, role in self.pb.team.items():
            if role.backup and role.backup not in self.pb.team:
                self.add(("team", name, "backup"), _unknown("role", role.backup, self.pb.team))
            for i, person in enumerate(role.members):
                self._notify(("team", name, "members", i, "notify"), person)
        self._audience_default()
        for name, channel in self.pb.channels.items():
            for i, audience in enumerate(channel.audiences):
                if audience not in self.pb.audiences:
                    self.add(("channels", name, "audiences", i), _unknown("audience", audience, self.pb.audiences))

    def _notify(self, loc: tuple[str | int, ...], person: Person) -> None:
        """Approval requests reach a person by e-mail (their address) or a channel that can carry a link."""
        if person.notify is None or person.notify == "email":
            if person.notify == "email" and not person.email:
                self.add(loc, f"{person.name} is notified by `email` but has no `email` address")
            return
        channel = self.pb.channels.get(person.notify)
        if channel is None:
            self.add(loc, _unknown("channel", person.notify, self.pb.channels) + " (or `email`)")
        elif channel.kind not in ("email", "apprise", "webhook"):
            self.add(loc, f"channel '{person.notify}' is of kind {channel.kind}: approval requests go by `email` "
                     "or a channel of kind apprise or webhook")

    def _audience_default(self) -> None:
        defaults = [name for name, audience in self.pb.audiences.items() if audience.default]
        for name in defaults[1:]:
            self.add(("audiences", name, "default"),
                     f"only one audience can be the default ('{defaults[0]}' already is)")
        ruled = [name for name, audience in self.pb.audiences.items() if audience.match]
        if ruled and not defaults:
            self.add(("audiences", ruled[0]), "audiences have `match` rules but none is `default: true`: "
                     "say which audience takes the mentions no rule claims", at_key=True)

    def _approval(self) -> None:
        approval = self.pb.communication.approval
        chains = [(("chains", p), stages) for p, stages in approval.chains.items()]
        for where, stages in [*chains, (("default",), approval.default)]:
            for i, stage in enumerate(stages):
                loc = ("communication", "approval", *where, i)
                for j, role in enumerate(stage.roles):
                    if role not in self.pb.team:
                        self.add((*loc, "roles", j), _unknown("role", role, self.pb.team))
                if stage.escalate_to and stage.escalate_to not in self.pb.team:
                    self.add((*loc, "escalate_to"), _unknown("role", stage.escalate_to, self.pb.team))
                people = {m.name for r in stage.roles if r in self.pb.team for m in self.pb.team[r].members}
                if stage.quorum > len(people):
                    self.add((*loc, "quorum"), f"quorum {stage.quorum} but only {len(people)} people hold "
                             f"{', '.join(stage.roles)}")

    def _messages(self) -> None:
        """Messages name declared audiences and channels, and each has a template for each of its languages."""
        for i, spec in enumerate(self.pb.communication.messages):
            loc = ("communication", "messages", i)
            for j, audience in enumerate(spec.audiences):
                if audience not in self.pb.audiences:
                    self.add((*loc, "audiences", j), _unknown("audience", audience, self.pb.audiences))
            for j, channel in enumerate(spec.channels):
                if channel not in self.pb.channels:
                    self.add((*loc, "channels", j), _unknown("channel", channel, self.pb.channels))
            languages = spec.languages or sorted({self.pb.audiences[a].language for a in spec.audiences
                                                  if a in self.pb.audiences})
            for language in languages:
                name = spec.template or f"messages/{spec.kind}.{language}.md.j2"
                source = self._template_source(name)
                if source is None:
                    self.add((*loc, "template" if spec.template else "kind"),
                             f"template '{name}' not found in templates/")
                    continue
                check = rendering.check_source(source)
                unknown = sorted(check.names - MESSAGE_NAMES)
                if check.error:
                    self.add((*loc, "kind"), f"{name}: {check.error} (template line {check.line})")
                elif unknown:
                    self.add((*loc, "kind"), f"{name} uses unknown name(s) {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(MESSAGE_NAMES))})")

    def _monitoring(self) -> None:
        monitoring = self.pb.monitoring
        if monitoring is None:
            return
        for language in monitoring.watch:
            if language != "any" and language not in monitoring.languages:
                self.add(("monitoring", "watch", language), f"watch language '{language}' is not analysed "
                         f"(languages: {', '.join(monitoring.languages)}; or use `any`)", at_key=True)
        seen: set[str] = set()
        for i, source in enumerate(monitoring.sources):
            if source.id in seen:
                self.add(("monitoring", "sources", i, "id"), f"duplicate source id '{source.id}'")
            seen.add(source.id)

    def _identity(self, here: Located) -> None:
        first = self.steps[here.step.id]
        if first != here:
            line = self.doc.position((*first.loc, "id"))[0]
            self.add((*here.loc, "id"), f"duplicate step id '{here.step.id}' (first defined at line {line})")

    def _after(self, here: Located) -> None:
        for i, name in enumerate(here.step.after):
            problem = self._earlier(name, here)
            if problem:
                self.add((*here.loc, "after", i), problem)

    def _earlier(self, name: str, here: Located) -> str | None:
        """Why `name` cannot be a step that `here` waits for, or None if it can."""
        target = self.steps.get(name)
        if target is None:
            return _unknown("step", name, self.steps)
        if name == here.step.id:
            return f"step '{name}' cannot wait for itself"
        if PHASES.index(target.phase) > PHASES.index(here.phase):
            return (f"step '{name}' is in phase '{target.phase}', which runs after '{here.phase}': "
                    "a step can only follow steps of its own phase or of an earlier one")
        return None

    def _references(self, here: Located) -> None:
        known = {"role": self.pb.team, "channel": self.pb.channels, "audience": self.pb.audiences}
        fields = {"role": "owner", "channel": "channel", "audience": "audience"}
        for kind, names in here.step.references().items():
            for name in names:
                if kind in known and name not in known[kind]:
                    self.add((*here.loc, fields[kind]), _unknown(kind, name, known[kind]))
                if kind == "template":
                    self._template_file(here, name)

    def _condition(self, here: Located) -> None:
        if here.step.when is None:
            return
        try:
            condition = expression.parse(here.step.when)
        except ExpressionError as exc:
            self.add((*here.loc, "when"), str(exc))
            return
        for problem in expression.check(condition, lambda ref: self.resolve(ref, here)):
            self.add((*here.loc, "when"), problem)

    def resolve(self, ref: tuple[str, ...], here: Located) -> expression.Scale | str:
        """The scale of a dotted reference seen from `here`, or why it is unknown."""
        head, rest = ref[0], ref[1:]
        if head == "inputs":
            return self._input_scale(rest)
        if head == "alert":
            return _record_scale(Alert, "alert", rest)
        if head == "playbook":
            ok = len(rest) == 1 and rest[0] in PLAYBOOK_FIELDS
            return expression.Scale() if ok else f"playbook has no field '{'.'.join(rest)}'"
        problem = self._earlier(head, here)
        if problem:
            return problem
        return _result_scale(self.steps[head].step, rest)

    def _input_scale(self, rest: tuple[str, ...]) -> expression.Scale | str:
        if len(rest) != 1:
            return "write inputs.<name> for an input"
        spec = self.pb.inputs.get(rest[0])
        if spec is None:
            return _unknown("input", rest[0], self.pb.inputs)
        return expression.Scale(tuple(spec.choices) if spec.choices else None)

    def _texts(self, here: Located) -> None:
        step = here.step
        if isinstance(step, NoteLog) and step.text is not None:
            self._template_names(here, "text", rendering.check_source(step.text))
        if isinstance(step, AssessmentRun) and step.mentions is not None:
            self._template_names(here, "mentions", rendering.check_source(step.mentions))

    def _template_source(self, name: str) -> str | None:
        """The text of templates/<name>, or None when there is none (or the name leaves templates/)."""
        path = self.catalog.templates_dir / name
        if not path.is_file() or ".." in Path(name).parts:
            return None
        return path.read_text(encoding="utf-8")

    def _template_file(self, here: Located, name: str) -> None:
        source = self._template_source(name)
        if source is None:
            self.add((*here.loc, "template"), f"template '{name}' not found in templates/")
            return
        self._template_names(here, "template", rendering.check_source(source))

    def _template_names(self, here: Located, field: str, check: rendering.TemplateCheck) -> None:
        if check.error:
            self.add((*here.loc, field), f"{check.error} (template line {check.line})")
        for name in sorted(check.names - GLOBAL_NAMES):
            problem = self._earlier(name, here)
            if problem:
                self.add((*here.loc, field), f"template uses unknown name '{name}': {problem}")

    def _step_of(self, here: Located, field: str, name: str, kind: type[StepBase], kind_name: str) -> None:
        problem = self._earlier(name, here)
        if problem is None and not isinstance(self.steps[name].step, kind):
            problem = f"step '{name}' is not a {kind_name} step"
        if problem:
            self.add((*here.loc, field), problem)

    def _claims(self) -> None:
        seen: set[str] = set()
        for i, claim in enumerate(self.pb.communication.claims):
            if claim.id in seen:
                self.add(("communication", "claims", i, "id"), f"duplicate claim id '{claim.id}'")
            seen.add(claim.id)

    def _claim_spread(self, here: Located, step: ClaimSpread) -> None:
        """`claim` names a declared claim, or is a text built from inputs (a claim entered by hand)."""
        declared = {c.id for c in self.pb.communication.claims}
        if not rendering.is_template(step.claim) and step.claim.strip() not in declared:
            self.add((*here.loc, "claim"), _unknown("claim", step.claim, declared) + " (or a text from the inputs: "
                     "`{{ inputs.rumeur }}`)")
        for field in ("claim", "truth", "mentions"):
            value = getattr(step, field)
            if value is not None:
                self._template_names(here, field, rendering.check_source(value))
        for value in step.match:
            self._template_names(here, "match", rendering.check_source(value))

    def _pack(self, here: Located, step: MessagePack) -> None:
        if step.assessment:
            self._step_of(here, "assessment", step.assessment, AssessmentRun, "assessment.run")
        if step.audiences_from:
            self._step_of(here, "audiences_from", step.audiences_from, ClaimSpread, "claim.spread")
        declared = {spec.kind for spec in self.pb.communication.messages}
        for i, kind in enumerate(step.kinds or []):
            if kind not in MESSAGE_KINDS:
                self.add((*here.loc, "kinds", i), _unknown("message kind", kind, MESSAGE_KINDS))
            elif kind not in declared:
                self.add((*here.loc, "kinds", i), f"no `{kind}` message in communication.messages: declare one "
                         "(its audiences and channels)")
        for field in ("claim", "truth", "drill", "author"):
            value = getattr(step, field)
            if isinstance(value, str):
                self._template_names(here, field, rendering.check_source(value))

    def _call(self, here: Located, step: PlaybookCall) -> None:
        loc = (*here.loc, "playbook")
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
                continue
            if rendering.is_template(value):
                self._template_names(here, "with", rendering.check_source(str(value)))
                continue
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
            graph = phase_graph(self.pb, phase, self.catalog.templates_dir)
            try:
                graphlib.TopologicalSorter(graph).prepare()
            except graphlib.CycleError as exc:
                cycle = list(exc.args[1])
                first = min(cycle, key=lambda s: self.steps[s].index)
                self.add((*self.steps[first].loc, "after"), f"steps wait for each other: {' → '.join(cycle)}")


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


def _result_scale(step: StepBase, rest: tuple[str, ...]) -> expression.Scale | str:
    return _record_scale(type(step).Result, f"step '{step.id}' ({step_type_name(type(step))})", rest)


def _record_scale(record: type[BaseModel], what: str, rest: tuple[str, ...]) -> expression.Scale | str:
    fields = record.model_fields
    if len(rest) != 1 or rest[0] not in fields:
        wanted = ".".join(rest) or "(nothing)"
        return f"{what} has no result field '{wanted}' (fields: {', '.join(fields)})"
    annotation: Any = fields[rest[0]].annotation
    return expression.Scale(tuple(get_args(annotation)) if get_origin(annotation) is Literal else None)


def _unknown(kind: str, name: str, known: Any) -> str:
    names = ", ".join(sorted(known)) or "none declared"
    return f"unknown {kind} '{name}' (known: {names})"


def condition_holds(loaded: LoadedPlaybook, catalog: Catalog, phase: str, step: StepBase,
                    values: dict[str, Any]) -> bool:
    """Evaluate the step's `when:` on `values` (inputs, results); a step without one always runs."""
    if step.when is None:
        return True
    inspection = _Inspection(loaded, catalog)
    here = Located(phase, 0, step)
    return expression.evaluate(expression.parse(step.when), values, lambda ref: inspection.resolve(ref, here))
