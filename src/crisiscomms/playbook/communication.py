"""The `communication:` section of a playbook: who speaks, the fact sheet, and which messages go where.

    communication:
      organisation: {name: Laiterie Duval, spokesperson: Julien Roche, website: "https://…", contact: presse@…}
      facts:                                   # the fact sheet; the team updates it as the crisis unfolds
        subject: Yaourt nature bio 4 × 125 g
        summary: Des consommateurs signalent un goût anormal.
        known: [Deux lots sont concernés]
        doing: [Analyses en laboratoire]
        advice: [Ne pas consommer les lots L26061 et L26062]
        next_update: 2h                        # in 2 hours, or a date and time
        translations:                          # the same texts in each other language the playbook writes in
          en: {subject: Organic plain yoghurt 4 × 125 g, summary: Consumers report an unusual taste., …}
      messages:
        - {kind: holding_statement, audiences: [clients, journalistes], channels: [site_web]}
        - {kind: social_post, audiences: [clients], channels: [reseaux_sociaux]}
        - {kind: internal_memo, audiences: [salaries], channels: [intranet]}
        - {kind: correction, audiences: [clients], channels: [site_web]}
      claims:                                  # false claims the team prepares for, or adds during the crisis
        - id: toute_la_production
          claim: Toute la production est contaminée.
          truth: Seuls deux lots sont rappelés, par précaution.
          match: [toute la production, whole production]   # any of these (folded: case and accents aside)
          denials: [pas contaminée, not the whole]         # a mention saying so denies it: not counted as spread
          threshold: 3                                     # mentions in one monitoring window: it spreads
          translations:                                    # what an English correction quotes and states
            en: {claim: The whole production is contaminated., truth: "Only two batches are recalled, as a precaution."}

A playbook speaks its own `language` in `facts` and in each claim; an audience written to in another language gets
that language's `translations` (validation refuses a missing or partial one: see `sheet_gaps`, `claim_gaps`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from crisiscomms.errors import show
from crisiscomms.playbook.markers import TemplateFile
from crisiscomms.playbook.monitoring import Language
from crisiscomms.playbook.steps import AudienceName, ChannelName, Duration, RoleName, Spec, StepId, parse_duration

MessageKind = Literal[
    "holding_statement", "press_release", "social_post", "internal_memo", "faq", "update", "correction", "all_clear"
]
MESSAGE_KINDS: tuple[str, ...] = MessageKind.__args__  # type: ignore[attr-defined]
MIN_YEAR, MAX_YEAR = 2000, 2100  # of a next update given as a date and time


class Organisation(Spec):
    name: str = Field(min_length=1, description="Who speaks, as signed at the bottom of every message.")
    spokesperson: str = ""
    website: str = ""
    contact: str = Field("", description="Press or customer contact (e-mail or phone).")


class Question(Spec):
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)


class FactTexts(Spec):
    """The words of a fact sheet, in one language."""

    subject: str = ""
    summary: str = ""
    known: list[str] = Field(default_factory=list)
    doing: list[str] = Field(default_factory=list)
    advice: list[str] = Field(default_factory=list)
    faq: list[Question] = Field(default_factory=list)

    def has_words(self) -> bool:
        return any(getattr(self, name) for name in FactTexts.model_fields)


# Translations beside the playbook's own sheet, not one sheet per language: a one-language playbook (the common case)
# stays as it was written, and `next_update` (a delay or a date, the same promise in every language) is given once.
class FactSheet(FactTexts):
    """What we know, what we do, what people should do, and when we speak next."""

    next_update: str = Field("2h", description="When we speak next: a delay (`2h`) or an ISO date and time.")
    translations: dict[Language, FactTexts] = Field(
        default_factory=dict, description="The same texts in each other language the playbook writes in (`en: "
        "{subject: …, summary: …}`): an audience written to in that language reads them. Every field given in the "
        "playbook's language is given here too, lists item for item.")

    @field_validator("next_update")
    @classmethod
    def _a_delay_or_a_moment(cls, value: str) -> str:
        """Checked when the playbook loads (and when an approver edits it), not when the pack renders."""
        try:
            parse_duration(value)
            return value
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{show(value)} is neither a delay (30m, 2h, 1d) nor an ISO date and time "
                             "(2026-03-12T18:00)") from None
        # Year 9999 with a zone overflows when the time is spoken in Paris time; any year that far is a typo.
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise ValueError(f"{show(value)} is not a date to promise: the next update falls between the years "
                             f"{MIN_YEAR} and {MAX_YEAR}")
        return value

    def in_language(self, language: str) -> FactSheet:
        """The sheet as an audience reading `language` gets it: that translation's words, the same next update.
        The playbook's own language (or a language validation let through with no words to translate): as is."""
        words = self.translations.get(language)
        if words is None:
            return self
        return FactSheet.model_validate({**words.model_dump(), "next_update": self.next_update})

    def edited(self, edits: Mapping[str, Any]) -> FactSheet:
        """This sheet with an approver's edits (the same shape as the sheet: top-level fields in the playbook's
        language, `translations: {en: {…}}` in another): the fields given replaced, every other one kept."""
        data = self.model_dump()
        translations = data.pop("translations")
        for language, words in (edits.get("translations") or {}).items():
            translations[language] = {**translations.get(language, {}), **words}
        own = {name: value for name, value in edits.items() if name != "translations"}
        return FactSheet.model_validate({**data, **own, "translations": translations})


Gap = tuple[str, str]  # (the field at fault, "" for the whole version; why)


def sheet_gaps(facts: FactSheet, own: str, language: str) -> list[Gap]:
    """How the sheet in `language` fails to say what the sheet in the playbook's language `own` says: no version at
    all (when there are words to translate), or a field given in one language only, or lists of unequal length."""
    if language == own or not facts.has_words():
        return []
    words = facts.translations.get(language)
    if words is None:
        return [("", f"the fact sheet has no {language} version")]
    return word_gaps(facts, words, own, language)


def word_gaps(mine: FactTexts, theirs: FactTexts, own: str, language: str) -> list[Gap]:
    gaps = []
    for name in FactTexts.model_fields:
        here, there = getattr(mine, name), getattr(theirs, name)
        if bool(here) != bool(there):
            given, missing = (own, language) if here else (language, own)
            gaps.append((name, f"`{name}` is given in {given} but not in {missing}"))
        elif isinstance(here, list) and len(here) != len(there):
            gaps.append((name, f"`{name}` has {len(here)} item(s) in {own} but {len(there)} in {language}"))
    return gaps


class MessageSpec(Spec):
    kind: MessageKind
    audiences: list[AudienceName] = Field(min_length=1)
    channels: list[ChannelName] = Field(min_length=1)
    languages: list[str] | None = Field(None, description="Default: each audience's language.")
    template: Annotated[str, TemplateFile("message")] | None = Field(
        None, description="A template under templates/ instead of messages/<kind>.")


Priority = Literal["p4", "p3", "p2", "p1"]


class Stage(Spec):
    """One step of an approval chain: `quorum` different members of `roles` must approve within `timeout`."""

    roles: list[RoleName] = Field(min_length=1, description="Team roles whose members may approve at this stage.")
    quorum: int = Field(1, ge=1, le=10, description="How many different people must approve.")
    timeout: Duration = Field(1800, description="How long to wait (`30m`); then escalate, or stop — never publish.")
    escalate_to: RoleName | None = Field(None, description="Role asked instead when this stage times out.")


class Approval(Spec):
    """Who approves, by priority of the crisis (from the assessment); `default` when none applies."""

    chains: dict[Priority, list[Stage]] = Field(default_factory=dict)
    default: list[Stage] = Field(default_factory=list)
    via: list[Literal["link", "ui"]] = Field(
        ["link", "ui"], min_length=1, description="How decisions may come: `link` (the personal, signed link each "
        "approver receives: the identity comes from the link) and `ui` (the Prefect UI's Resume form or `crisis "
        "approve`: anyone holding the server credential can pick any name). `[link]` accepts links only.")

    def chain(self, priority: str | None) -> list[Stage]:
        return self.chains.get(priority, self.default) if priority else self.default  # type: ignore[call-overload]


class ClaimTexts(Spec):
    """A claim's words in one language: what a correction quotes, and what it states instead."""

    claim: str = Field(min_length=1, description="The false statement, as people word it in this language.")
    truth: str = Field("", description="What is true, in this language.")


class Claim(Spec):
    """A false claim the team prepares for: how people word it, what is true, how to spot it in mentions."""

    id: StepId = Field(description="Short name of the claim (`toute_la_production`): events and inputs use it.")
    claim: str = Field(min_length=1, description="The false statement, as people word it (quoted in corrections).")
    truth: str = Field("", description="What is true: the first fact of the correction.")
    source: str = Field("", description="Where people can check (a link to the official information).")
    match: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Words or phrases that carry the claim, any language (case and accents "
        "aside); a mention with any of them carries it. Empty: the claim's own significant words.")
    denials: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description="Phrases of mentions that deny the claim (`pas contaminée`): counted "
        "as denials, not as spread.")
    threshold: int = Field(3, ge=1, description="Mentions in one monitoring window from which the claim is "
                           "spreading (monitoring then emits `crisis.claim.spreading`).")
    cooldown: Duration = Field(7200, description="After an event, how long (mention time) before the claim raises "
                          "another (`2h`).")
    translations: dict[Language, ClaimTexts] = Field(
        default_factory=dict, description="The claim and its truth in each other language its corrections are "
        "written in (`en: {claim: …, truth: …}`); `match` and `denials` already hold every language.")

    def in_language(self, language: str) -> ClaimTexts:
        """What a correction in `language` quotes and states (the playbook's own words when it has no version)."""
        return self.translations.get(language) or ClaimTexts(claim=self.claim, truth=self.truth)


def claim_gaps(claim: Claim, own: str, language: str) -> list[Gap]:
    """How a correction in `language` would fail to quote and state what one in the playbook's language does."""
    if language == own:
        return []
    words = claim.translations.get(language)
    if words is None:
        return [("", f"claim '{claim.id}' has no {language} version")]
    if bool(claim.truth) != bool(words.truth):
        given, missing = (own, language) if claim.truth else (language, own)
        return [("truth", f"the truth of claim '{claim.id}' is given in {given} but not in {missing}")]
    return []


class Communication(Spec):
    organisation: Organisation | None = None
    facts: FactSheet = Field(default_factory=FactSheet)
    messages: list[MessageSpec] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list, description="Known false claims: spotted in monitoring, "
                                "corrected with the `correction` messages (steps claim.spread, claim.track).")
    claim_input: str = Field("rumeur", min_length=1, description="The input a spreading claim fills when "
                             "monitoring starts the correction (automation `crisis-claim-starts-correction`): the "
                             "claim's id (`rumour` in an English playbook).")
    approval: Approval = Field(default_factory=Approval)
    pause_poll: Duration = Field(3, description="How often a paused run checks for a decision (`3s`): a decision "
                            "reaches the run within about this time.")
