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
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from crisiscomms.errors import show
from crisiscomms.playbook.markers import TemplateFile
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


class FactSheet(Spec):
    """What we know, what we do, what people should do, and when we speak next."""

    subject: str = ""
    summary: str = ""
    known: list[str] = Field(default_factory=list)
    doing: list[str] = Field(default_factory=list)
    advice: list[str] = Field(default_factory=list)
    faq: list[Question] = Field(default_factory=list)
    next_update: str = Field("2h", description="When we speak next: a delay (`2h`) or an ISO date and time.")

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
