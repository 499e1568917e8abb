"""The playbook: what a comms team writes in YAML, as strict immutable pydantic models.

No Prefect and no I/O here: loading and checking are in `loader.py` and `inspect.py`.
"""

from __future__ import annotations

import keyword
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from crisiscomms.errors import show
from crisiscomms.playbook.assessment import AssessmentSettings, AudienceKind, AudienceRules
from crisiscomms.playbook.communication import Communication, MessageKind
from crisiscomms.playbook.monitoring import Monitoring
from crisiscomms.playbook.step_types import Step
from crisiscomms.playbook.steps import PHASES, Duration, Name, PlaybookId, Spec

Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
InputType = Literal["string", "text", "integer", "number", "boolean", "choice", "datetime"]
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "text": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "choice": (str,),
    "datetime": (datetime, str),
}


FORM_WORDS = ("phase", "crisis_id")  # the Run form's own fields, beside the playbook's inputs


def _not_a_form_word(name: str) -> str:
    """An input is a field of the playbook's Run form (a parameter of its flow, beside `phase`)."""
    if name in FORM_WORDS or keyword.iskeyword(name):
        raise ValueError(f"'{name}' cannot name an input: the Run form uses it (rename it, e.g. '{name}_crise')")
    return name


InputName = Annotated[Name, AfterValidator(_not_a_form_word)]


class InputSpec(Spec):
    """A typed crisis parameter; it becomes a field of the Run form in the Prefect UI."""

    type: InputType = "string"
    title: str = ""
    description: str = ""
    choices: list[str] | None = Field(
        None, description="Allowed values of a `choice`, in increasing order (conditions use it)."
    )
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None

    @model_validator(mode="after")
    def _coherent(self) -> InputSpec:
        if (self.type == "choice") != bool(self.choices):
            raise ValueError("`choices` goes with `type: choice`, and a choice needs choices")
        if self.default is not None:
            self.check_value(self.default)
        return self

    def check_value(self, value: Any) -> Any:
        """Return `value` if it fits this input, else raise ValueError saying why."""
        allowed = _PYTHON_TYPES[self.type]
        if isinstance(value, bool) and bool not in allowed:
            raise ValueError(f"{show(value)} is not of type {self.type}")
        if not isinstance(value, allowed):
            raise ValueError(f"{show(value)} is not of type {self.type}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{show(value)} is not one of {', '.join(self.choices)}")
        return value


class Person(Spec):
    name: str = Field(min_length=1)
    email: Email | None = None
    phone: str | None = None
    notify: Name | None = Field(
        None, description="How this person hears that an approval waits for them: `email` (their address, over "
        "SMTP) or a channel of kind apprise or webhook (Slack, Teams, ntfy …: a channel that reaches this person). "
        "Default: `email` when an address is given.")
    checked: date | None = Field(None, description="When this person's contact details were last confirmed "
                                 "(`2026-11-30`): the readiness report flags them once older than "
                                 "`readiness.review_period`.")


class Role(Spec):
    title: str = Field(min_length=1, description="The role as the team names it.")
    members: list[Person] = Field(min_length=1)
    backup: Name | None = Field(None, description="Role that steps in when this one does not answer.")
    hourly_rate: float | None = Field(None, ge=0, le=100000, description="Cost of an hour of this role's time, "
                                      "for the post-mortem's effort estimate (in the review's currency).")


class Audience(Spec):
    """A group the crisis touches. Its `match` rules segment mentions; the `default` audience takes the rest."""

    title: str = Field(min_length=1)
    language: str = Field("fr", pattern=r"^[a-z]{2}$", description="The language its messages are written in "
                          "(ISO 639-1); default: the playbook's `language`.")
    description: str = ""
    kind: AudienceKind = Field("other", description="What the audience is to the scoring (media, government…).")
    match: AudienceRules | None = Field(None, description="Rules telling that a mention comes from this audience.")
    default: bool = Field(False, description="Mentions no rule claims belong here (one audience at most).")


ChannelKind = Literal["email", "webhook", "apprise", "social", "press", "intranet", "sms", "phone", "file",
                      "website"]
# Kinds that send to a URL; the URL is a secret, named here and held elsewhere (never in the YAML).
URL_KINDS: tuple[str, ...] = ("webhook", "apprise")
# Characters a message may have on a channel of this kind when the playbook does not say (a post, a text).
DEFAULT_MAX_LENGTH: dict[str, int] = {"social": 280, "sms": 160}
MAX_MESSAGE_LENGTH = 100_000  # a bound the renderer can honour (it stops at 200,000 characters)


class Channel(Spec):
    kind: ChannelKind
    title: str = ""
    audiences: list[Name] = Field(default_factory=list, description="Audiences reached on this channel.")
    max_length: int | None = Field(None, ge=1, le=MAX_MESSAGE_LENGTH,
                                   description="Longest message allowed (social: 280, sms: 160).")
    to: list[Email] = Field(default_factory=list, description="E-mail recipients (kind `email`).")
    url_env: str | None = Field(None, pattern=r"^[A-Z][A-Z0-9_]*$",
                                description="Environment variable holding the URL (kinds `webhook`, `apprise`): "
                                            "URLs are secrets.")
    url_secret: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]*$",
                                   description="Name of the Prefect Secret block holding the URL (kinds `webhook`, "
                                               "`apprise`), instead of `url_env`.")

    @model_validator(mode="after")
    def _one_url_source(self) -> Channel:
        given = [name for name in ("url_env", "url_secret") if getattr(self, name)]
        if self.kind in URL_KINDS and len(given) != 1:
            found = "both are given" if given else "neither is given"
            raise ValueError(f"a `{self.kind}` channel takes its URL from exactly one of `url_env` (an environment "
                             f"variable) or `url_secret` (a Prefect Secret block): {found}")
        if self.kind not in URL_KINDS and given:
            raise ValueError(f"`{given[0]}` goes with kinds {' and '.join(URL_KINDS)} only, not `{self.kind}`")
        return self

    @property
    def limit(self) -> int | None:
        return self.max_length or DEFAULT_MAX_LENGTH.get(self.kind)


class Phase(Spec):
    title: str = ""
    description: str = ""
    steps: list[Step] = Field(default_factory=list)


class Phases(Spec):
    preparation: Phase = Field(default_factory=Phase)
    assessment: Phase = Field(default_factory=Phase)
    communication: Phase = Field(default_factory=Phase)
    post_crisis: Phase = Field(default_factory=Phase)

    def items(self) -> list[tuple[str, Phase]]:
        return [(name, getattr(self, name)) for name in PHASES]


class ReadinessSettings(Spec):
    """What the preparation phase's readiness report holds the playbook to."""

    review_period: Duration = Field(180 * 86400, ge=86400, description="Contact details confirmed longer ago than "
                                    "this (`180d`) are stale.")
    source_silence: Duration = Field(86400, ge=60, description="A monitoring source whose last answer is older than "
                                     "this (`1d`) is flagged.")
    cleared: list[MessageKind] = Field(default_factory=list, description="Message kinds whose templates legal must "
                                       "have cleared (`templates/clearances.yaml`, written by `crisis clear`): an "
                                       "edit after the clearance voids it.")


class Playbook(Spec):
    """A crisis playbook. The file name (without .yaml) is its id."""

    id: PlaybookId
    version: str = Field(pattern=r"^\d+(\.\d+){0,2}([-+][0-9A-Za-z.-]+)?$")
    title: str = Field(min_length=1)
    language: str = Field("fr", pattern=r"^[a-z]{2}$", description="Default language (ISO 639-1).")
    description: str = ""
    inputs: dict[InputName, InputSpec] = Field(default_factory=dict)
    team: dict[Name, Role] = Field(default_factory=dict)
    audiences: dict[Name, Audience] = Field(default_factory=dict)
    channels: dict[Name, Channel] = Field(default_factory=dict)
    monitoring: Monitoring | None = Field(None, description="What to watch, where, how sensitively.")
    assessment: AssessmentSettings = Field(
        default_factory=AssessmentSettings, description="Safety words, entity aliases, severity × urgency scoring."
    )
    communication: Communication = Field(
        default_factory=Communication, description="Organisation, fact sheet, and which messages go where."
    )
    readiness: ReadinessSettings = Field(default_factory=ReadinessSettings,
                                         description="What the readiness report holds the team to.")
    phases: Phases

    @model_validator(mode="before")
    @classmethod
    def _audiences_speak_the_playbooks_language(cls, data: Any) -> Any:
        """An audience that names no language is written to in the playbook's (an English playbook's audiences
        are English unless they say otherwise)."""
        if not isinstance(data, dict) or not isinstance(data.get("audiences"), dict):
            return data
        language = data.get("language", "fr")
        audiences = {name: {"language": language, **spec} if isinstance(spec, dict) and "language" not in spec
                     else spec for name, spec in data["audiences"].items()}
        return {**data, "audiences": audiences}

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        # `version: 1.10` is the YAML float 1.1: turned back into text it would silently be another version.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f"this version is the number {show(value)} to YAML, which drops trailing zeros (1.10 "
                             'becomes 1.1): put it in quotes, e.g. version: "1.10"')
        return value

    def steps(self) -> list[tuple[str, int, Any]]:
        """(phase, index, step) for every step, in phase order then file order."""
        return [(name, i, step) for name, phase in self.phases.items() for i, step in enumerate(phase.steps)]
