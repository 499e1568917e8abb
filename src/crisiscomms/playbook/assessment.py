"""Who a mention speaks for (audience rules) and how grave and urgent a crisis is (scoring), as playbook data.

    audiences:
      journalistes:
        title: Journalistes
        kind: media                        # scoring reads media / government involvement from kinds
        match:                             # rules; the strongest kind of evidence wins (monitoring.audience)
          authors: ["@afpfr", "@BFMTV"]    # exact handles of the author (or of the retweeted author)
          author_contains: [info, news]    # parts of the handle
          channels: [presse]               # mention channel or source id
          entities: [AFP]                  # entities named in the text
          keywords: [selon nos informations]
          links: true                      # a link in the text (weakest evidence)
      clients: {title: Clients, kind: public, default: true}   # who everyone else is

    assessment:
      safety: {fr: [malade, hôpital], en: [sick, hospital]}    # words that mean people may be hurt
      aliases: {Lac-Mégantic: ["#LacMegantic", Lac Megantic]}   # spellings merged into one entity
      scoring:                              # factor: {weight, full: value at which it counts fully}
        severity: {negative_share: {weight: 2, full: 0.6}, …}
        urgency: {volume_ratio: {weight: 2, full: 10}, …}
        high: 0.6
        medium: 0.3
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from crisiscomms.playbook.steps import Spec

AudienceKind = Literal[
    "media", "government", "ngo", "business", "employees", "public", "influencers", "witnesses", "other"
]
Factor = Literal[
    "volume_ratio", "growth", "negative_share", "media_share", "government_share", "safety_share", "reach"
]
FACTOR_HELP: dict[str, str] = {
    "volume_ratio": "peak window volume ÷ the usual volume of a window",
    "growth": "mentions in the latest quarter of the period ÷ those in the quarter before",
    "negative_share": "share of analysed mentions that are negative",
    "media_share": "share of mentions from audiences of kind `media`",
    "government_share": "share of mentions from audiences of kind `government`",
    "safety_share": "share of mentions with a safety word (`assessment.safety`)",
    "reach": "sum of the mentions' reach (followers or views when the source gives them)",
}


class AudienceRules(Spec):
    """Evidence that a mention comes from (or speaks for) an audience. Terms compare case- and accent-blind."""

    authors: list[str] = Field(default_factory=list, description="Handles of authors, exact (with or without @).")
    author_contains: list[str] = Field(default_factory=list, description="Parts of an author handle (`news`).")
    channels: list[str] = Field(default_factory=list, description="Mention channels or source ids.")
    entities: list[str] = Field(default_factory=list, description="Entities named in the text.")
    keywords: list[str] = Field(default_factory=list, description="Words or phrases of the text.")
    links: bool = Field(False, description="A link in the text (http://, https://, www.) is evidence, the "
                        "weakest: news outlets share links to their articles, people mostly write.")


class Weight(Spec):
    weight: float = Field(ge=0, le=100, description="How much this factor counts against the others.")
    full: float = Field(gt=0, description="Value of the factor at which it counts fully (scores are capped).")


def _default_severity() -> dict[Factor, Weight]:
    return {
        "negative_share": Weight(weight=2, full=0.6),
        "safety_share": Weight(weight=2, full=0.1),
        "media_share": Weight(weight=1.5, full=0.25),
        "government_share": Weight(weight=1.5, full=0.05),
        "reach": Weight(weight=1, full=1_000_000),
    }


def _default_urgency() -> dict[Factor, Weight]:
    return {
        "volume_ratio": Weight(weight=2, full=10),
        "growth": Weight(weight=1.5, full=3),
        "safety_share": Weight(weight=1, full=0.1),
    }


class Scoring(Spec):
    """Severity and urgency are weighted means of capped factors (0..1); the priority crosses them:
    p1 both ≥ high; p2 one ≥ high and the other ≥ medium; p3 one ≥ medium; p4 otherwise."""

    severity: dict[Factor, Weight] = Field(default_factory=_default_severity)
    urgency: dict[Factor, Weight] = Field(default_factory=_default_urgency)
    high: float = Field(0.6, gt=0, le=1)
    medium: float = Field(0.3, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Scoring:
        if self.medium >= self.high:
            raise ValueError("`medium` must be below `high`")
        for axis in ("severity", "urgency"):
            if not any(w.weight > 0 for w in getattr(self, axis).values()):
                raise ValueError(f"`{axis}` needs at least one factor with a weight above 0")
        return self


class AssessmentSettings(Spec):
    safety: dict[str, list[str]] = Field(
        default_factory=dict, description="Per language code or `any`: words that mean people may be hurt."
    )
    aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="Entity → other spellings merged into it (`#LacMegantic`)."
    )
    scoring: Scoring = Field(default_factory=Scoring)
    top: int = Field(10, ge=1, le=100, description="Entities, hashtags, mentions… listed in the assessment.")
    hit_share: float = Field(0.05, ge=0, le=1, description="An audience with at least this share of the "
                             "mentions is hit (it needs a message).")
    communicate_on_alert: Literal["p1", "p2", "p3", "p4"] | None = Field(
        None, description="When monitoring's alert opens a crisis and its automated assessment reaches this priority "
        "or a higher one (`p2`: p2 or p1), the communication phase starts at once, with the inputs' defaults: the "
        "pack is drafted and waits for its approval as always. Once per crisis, and never when the crisis already "
        "has a communication run. Unset: the team starts the communication phase.")
