"""Checks of a playbook's declared sections that involve no step: team, audiences, channels, approval quorums,
monitoring, claims, the languages of the fact sheet. What steps point to, read and wait for is judged from the walk,
in inspect.py."""

from __future__ import annotations

from collections.abc import Iterator

from crisiscomms.playbook.communication import claim_gaps, word_gaps
from crisiscomms.playbook.models import Person, Playbook
from crisiscomms.playbook.namespace import unknown
from crisiscomms.playbook.yamlfile import Loc

Finding = tuple[Loc, str, bool]  # where, what is wrong, whether the key (not its value) is at fault


def section_findings(pb: Playbook) -> list[Finding]:
    return [*_team(pb), *_channels(pb), *_audience_default(pb), *_approval(pb), *_monitoring(pb), *_claims(pb),
            *_fact_languages(pb), *_claim_languages(pb)]


def _team(pb: Playbook) -> Iterator[Finding]:
    # Role.backup, Person.notify and Channel.audiences live in models.py, which carries no markers yet.
    for name, role in pb.team.items():
        if role.backup and role.backup not in pb.team:
            yield ("team", name, "backup"), unknown("role", role.backup, pb.team), False
        for i, person in enumerate(role.members):
            yield from _notify(pb, ("team", name, "members", i, "notify"), person)


def _channels(pb: Playbook) -> Iterator[Finding]:
    for name, channel in pb.channels.items():
        for i, audience in enumerate(channel.audiences):
            if audience not in pb.audiences:
                yield ("channels", name, "audiences", i), unknown("audience", audience, pb.audiences), False


def _notify(pb: Playbook, loc: Loc, person: Person) -> Iterator[Finding]:
    """Approval requests reach a person by e-mail (their address) or a channel that can carry a link."""
    if person.notify is None or person.notify == "email":
        if person.notify == "email" and not person.email:
            yield loc, f"{person.name} is notified by `email` but has no `email` address", False
        return
    channel = pb.channels.get(person.notify)
    if channel is None:
        yield loc, unknown("channel", person.notify, pb.channels) + " (or `email`)", False
    elif channel.kind not in ("email", "apprise", "webhook"):
        yield loc, (f"channel '{person.notify}' is of kind {channel.kind}: approval requests go by `email` "
                    "or a channel of kind apprise or webhook"), False


def _audience_default(pb: Playbook) -> Iterator[Finding]:
    defaults = [name for name, audience in pb.audiences.items() if audience.default]
    for name in defaults[1:]:
        yield (("audiences", name, "default"), f"only one audience can be the default ('{defaults[0]}' already is)",
               False)
    ruled = [name for name, audience in pb.audiences.items() if audience.match]
    if ruled and not defaults:
        yield ("audiences", ruled[0]), ("audiences have `match` rules but none is `default: true`: say which "
                                        "audience takes the mentions no rule claims"), True


def _approval(pb: Playbook) -> Iterator[Finding]:
    """Enough people hold each stage's roles for its quorum (unknown roles are references, judged from the walk)."""
    approval = pb.communication.approval
    chains = [(("chains", p), stages) for p, stages in approval.chains.items()]
    for where, stages in [*chains, (("default",), approval.default)]:
        for i, stage in enumerate(stages):
            people = {m.name for r in stage.roles if r in pb.team for m in pb.team[r].members}
            if stage.quorum > len(people):
                yield (("communication", "approval", *where, i, "quorum"),
                       f"quorum {stage.quorum} but only {len(people)} people hold {', '.join(stage.roles)}", False)


def _monitoring(pb: Playbook) -> Iterator[Finding]:
    if pb.monitoring is None:
        return
    for language in pb.monitoring.watch:
        if language != "any" and language not in pb.monitoring.languages:
            yield ("monitoring", "watch", language), (f"watch language '{language}' is not analysed (languages: "
                                                      f"{', '.join(pb.monitoring.languages)}; or use `any`)"), True
    yield from _duplicates([s.id for s in pb.monitoring.sources], ("monitoring", "sources"), "source")


def _claims(pb: Playbook) -> Iterator[Finding]:
    yield from _duplicates([c.id for c in pb.communication.claims], ("communication", "claims"), "claim")
    name = pb.communication.claim_input
    if pb.communication.claims and name not in pb.inputs:
        # Without it, the run an automation starts for a spreading claim is refused (unknown input).
        yield (("communication", "claim_input"), f"no input '{name}' for a spreading claim: monitoring's correction "
               f"run fills it with the claim id; declare `inputs.{name}` or name yours in "
               "`communication.claim_input`", False)


def _written(pb: Playbook, kinds: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Language → the audiences written to in it, other than the playbook's (messages of `kinds`, or all)."""
    found: dict[str, list[str]] = {}
    for spec in pb.communication.messages:
        for name in spec.audiences if not kinds or spec.kind in kinds else []:
            audience = pb.audiences.get(name)  # an unknown audience is a reference, judged from the walk
            for language in spec.languages or ([audience.language] if audience else []):
                if language != pb.language and name not in found.setdefault(language, []):
                    found[language].append(name)
    return found


def _whom(audiences: list[str]) -> str:
    return f"audience {audiences[0]} is" if len(audiences) == 1 else f"audiences {', '.join(audiences)} are"


def _fact_languages(pb: Playbook) -> Iterator[Finding]:
    """Whoever reads another language than the playbook's gets the same facts in theirs: never the playbook's words
    in a sentence of another language, nor a translation that drops a field or an item."""
    facts, here = pb.communication.facts, ("communication", "facts")
    for language, audiences in _written(pb).items():
        if facts.has_words() and language not in facts.translations:
            yield here, (f"{_whom(audiences)} written to in {language} but the fact sheet has no {language} "
                         f"version: give it under `translations: {{{language}: …}}`"), True
    for language, words in facts.translations.items():
        where = (*here, "translations", language)
        if language == pb.language:
            yield where, (f"the fact sheet is already in {language}, the playbook's language: translations are for "
                          "its other languages"), True
            continue
        for field, why in word_gaps(facts, words, pb.language, language):
            yield (*where, field), f"partial translation: {why}", False


def _claim_languages(pb: Playbook) -> Iterator[Finding]:
    """A correction quotes the claim and states its truth in its reader's language: each claim has them in every
    language corrections are written in."""
    corrected = _written(pb, ("correction",))
    for i, claim in enumerate(pb.communication.claims):
        here = ("communication", "claims", i)
        for language, audiences in corrected.items():
            if language not in claim.translations:
                yield here, (f"claim '{claim.id}' is corrected in {language} ({', '.join(audiences)}) but has no "
                             f"{language} version: give `translations: {{{language}: {{claim: …, truth: …}}}}`"), False
        for language in claim.translations:
            where = (*here, "translations", language)
            if language == pb.language:
                yield where, (f"claim '{claim.id}' is already in {language}, the playbook's language: translations "
                              "are for its other languages"), True
            for field, why in claim_gaps(claim, pb.language, language):
                yield (*where, field), f"partial translation: {why}", False


def _duplicates(ids: list[str], loc: Loc, noun: str) -> Iterator[Finding]:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            yield (*loc, i, "id"), f"duplicate {noun} id '{ident}'", False
        seen.add(ident)
