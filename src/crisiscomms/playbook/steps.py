"""Step types: one strict pydantic model per `type`, gathered in a discriminated union.

Each step type declares the record it produces (`Result`), so that `when:` conditions and templates
that read `<step_id>.<field>` are checked before anything runs. Execution lives elsewhere: the
top-level `tasks/registry.py` maps every model here to exactly one Prefect task.

A field that names another step is typed `Annotated[StepId, Ref(StepType)]`; fields naming roles, channels,
playbooks and template files, Jinja texts and `when:` conditions carry their marker too (markers.py). The walker
(walker.py) finds them all from these annotations, for validation and for the plan's order alike.

To add a step type: write its model (a `type: Literal["domain.verb"]` field and a `Result`), append
it to STEP_TYPES (step_types.py), add its task to the registry and a fixture under tests/fixtures/steps/ — the
completeness tests fail until all three exist.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from crisiscomms.errors import show
from crisiscomms.playbook.markers import Condition, Names, Ref, TemplateFile, Text

StepId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
PlaybookId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
RoleName = Annotated[Name, Names("role")]
ChannelName = Annotated[Name, Names("channel")]
AudienceName = Annotated[Name, Names("audience")]
StepText = Annotated[str, Text("step")]  # Jinja, rendered with inputs, team, alert and earlier results

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# The longest duration a playbook may set: a year and a day. Longer is a typo, and the run would fail on it
# (Python's timedelta, Prefect's timeouts and schedules all stop well before 10^17 days).
MAX_DURATION_DAYS = 366
MAX_DURATION = MAX_DURATION_DAYS * 86400


def parse_duration(value: Any) -> int:
    """`90`, `"45s"`, `"30m"`, `"2h"`, `"1d"` → seconds, at most MAX_DURATION. The one place durations are parsed."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like 30s, 15m, 2h, 1d")
    seconds = value if isinstance(value, int) else _seconds(value)
    if seconds is None or seconds <= 0:
        raise ValueError(f"{show(value)} is not a duration: write 30s, 15m, 2h or 1d")
    if seconds > MAX_DURATION:
        raise ValueError(f"{show(value)} is longer than {MAX_DURATION_DAYS} days, the longest duration a playbook "
                         "may set")
    return seconds


def _seconds(text: Any) -> int | None:
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    if len(match[1].lstrip("0")) > 12:  # far beyond the bound; and int() refuses texts of over 4,300 digits
        return MAX_DURATION + 1
    return int(match[1]) * _UNIT_SECONDS[match[2]]


# A duration field of the playbook: `90`, `"45s"`, `"30m"`, `"2h"`, `"1d"` in YAML, seconds once validated.
Duration = Annotated[int, BeforeValidator(parse_duration)]


class Spec(BaseModel):
    """Base of every playbook model: strict, immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# The four phases, in the order a run walks them: the one place they are written.
PhaseName = Literal["preparation", "assessment", "communication", "post_crisis"]
PHASES: tuple[str, ...] = get_args(PhaseName)


class Record(BaseModel):
    """Base of step results: small, serialisable, readable by later steps."""

    model_config = ConfigDict(frozen=True)


# How a step ended in a run. `reused` is only shown in a phase's table: an earlier run's assessment that a phase
# started on its own reads (its status in the history stays `completed`).
StepStatus = Literal["completed", "failed", "skipped", "blocked", "reused"]


class StepBase(Spec):
    id: StepId = Field(description="Unique id of the step in the playbook (a noun for its outcome).")
    title: str = Field("", description="What the step is for, in the playbook's language.")
    after: list[Annotated[StepId, Ref()]] = Field(default_factory=list, description="Steps that must finish first.")
    when: Annotated[str, Condition()] | None = Field(
        None, description="Condition on inputs or earlier results, e.g. `inputs.gravite >= haute`."
    )
    on_failure: Literal["stop", "continue"] = Field(
        "stop", description="`stop` fails the phase; `continue` records the failure and goes on."
    )
    retries: int = Field(0, ge=0, le=10, description="Retries on failure before `on_failure` applies.")
    timeout: Duration | None = Field(None, description="Time limit of one attempt: `90s`, `15m`, `2h`.")

    Result: ClassVar[type[Record]] = Record


class ChecklistRecord(Record):
    item: str
    owner: str
    owner_people: list[str]
    status: Literal["recorded"]
    recorded_at: str


class ChecklistItem(StepBase):
    """A preparation or follow-up action assigned to a role, recorded in the run's audit trail."""

    type: Literal["checklist.item"]
    item: str = Field(min_length=1, description="The action, as the team reads it.")
    owner: RoleName = Field(description="The team role responsible (a key of `team`).")
    channel: ChannelName | None = Field(None, description="Channel through which the owner is reached.")

    Result: ClassVar[type[Record]] = ChecklistRecord


class NoteRecord(Record):
    text: str
    level: Literal["info", "warning"]


class NoteLog(StepBase):
    """A log-book entry: inline Jinja text or a template file, rendered with inputs and results."""

    type: Literal["note.log"]
    text: StepText | None = Field(None, description="Inline text (Jinja: `{{ inputs.produit }}`).")
    template: Annotated[str, TemplateFile("step")] | None = Field(
        None, description="A template under templates/, e.g. `notes/x.fr.md.j2`.")
    level: Literal["info", "warning"] = "info"

    Result: ClassVar[type[Record]] = NoteRecord

    @model_validator(mode="after")
    def _text_or_template(self) -> NoteLog:
        if (self.text is None) == (self.template is None):
            raise ValueError("give exactly one of `text` or `template`")
        return self


class CallRecord(Record):
    playbook: str
    version: str
    sha256: str = Field("", description="The called playbook's content hash, as the call read it once.")
    phases: list[str]
    status: Literal["completed", "failed"]
    steps: dict[str, str]


class PlaybookCall(StepBase):
    """Run another playbook (all phases, or some) as a sub-run, with inputs passed down."""

    type: Literal["playbook.call"]
    playbook: Annotated[PlaybookId, Names("playbook")] = Field(
        description="Id of the playbook to run (file name without .yaml).")
    phases: list[PhaseName] | None = Field(
        None, description="Phases to run; all by default."
    )
    with_: dict[str, StepText | int | float | bool] = Field(
        default_factory=dict, alias="with", description="Inputs of the called playbook."
    )

    Result: ClassVar[type[Record]] = CallRecord


Priority = Literal["p4", "p3", "p2", "p1"]  # increasing urgency: `assessment.priority >= p2` means p2 or p1


class AssessmentRecord(Record):
    """What the crisis is about, who it touches, how grave and urgent it is: read by later steps and templates."""

    priority: Priority
    severity: float = Field(ge=0, le=1)
    urgency: float = Field(ge=0, le=1)
    reasons: list[str]
    period_start: str | None
    period_end: str | None
    mentions: int
    analysed: int
    negative_share: float | None
    factors: dict[str, float | None] = Field(description="Raw factor values; null when the data lacks them.")
    audiences: dict[str, dict[str, Any]] = Field(description="Audience → count, share, sentiment, hit.")
    audiences_hit: list[str] = Field(description="Audiences with a large enough share: they need a message.")
    channels: list[dict[str, Any]]
    entities: list[dict[str, Any]] = Field(description="Top entities: text, label, count, examples.")
    hashtags: list[dict[str, Any]]
    handles: list[dict[str, Any]]
    top_mentions: list[dict[str, Any]] = Field(description="Most shared, then most far-reaching, mentions.")
    timeline: list[dict[str, Any]] = Field(description="Per window: start, volume, negative share.")
    languages: dict[str, int]


class AssessmentRun(StepBase):
    """Assess the crisis from its mentions: entities, audiences, channels, sentiment, severity × urgency.

    Mentions come from `mentions` (a JSONL/CSV file of the project, through the same gate and analysis as
    monitoring), or — when it is absent or renders empty — from the monitoring store: the `period` before the
    end of the alert that started the run, or before now.
    """

    type: Literal["assessment.run"]
    mentions: StepText | None = Field(None, description="File of mentions (Jinja allowed: `{{ inputs.mentions }}`).")
    period: Duration = Field(86400, description="Without `mentions`: how far back to read the store (`24h`).")

    Result: ClassVar[type[Record]] = AssessmentRecord


class ClaimSpreadRecord(Record):
    """How far a false claim spreads: where, since when, who carries it, who denies it."""

    claim_id: str = Field(description="The declared claim's id; `manual-…` for a claim entered by hand.")
    claim: str
    truth: str
    source: str
    terms: list[str] = Field(description="What a mention must contain to carry the claim.")
    matched_by: Literal["phrases", "words"] = Field(description="`phrases`: any term; `words`: enough of them.")
    rule: str = Field(description="How the terms are matched, in words.")
    denials_terms: list[str]
    threshold: int
    read: int = Field(description="Mentions examined.")
    mentions: int = Field(description="Mentions carrying the claim (denials aside).")
    denials: int = Field(description="Mentions that quote the claim to deny it.")
    peak: int = Field(description="Most mentions carrying the claim in one monitoring window.")
    spreading: bool = Field(description="Whether the peak reaches the claim's threshold.")
    first_seen: str | None
    last_seen: str | None
    period_start: str | None
    period_end: str | None
    origin: str
    by_audience: dict[str, dict[str, Any]] = Field(description="Audience → title, count, share, denials, spreading.")
    audiences: list[str] = Field(description="Audiences where the claim spreads: they get the correction.")
    examples: list[dict[str, Any]] = Field(description="Most shared mentions carrying the claim.")
    timeline: list[dict[str, Any]] = Field(description="Per window: start, mentions, denials.")
    window: int


class ClaimSpread(StepBase):
    """Measure how a false claim spreads, and in which audiences, from mentions.

    The claim is one of `communication.claims` (by id) or a text entered by hand (`"{{ inputs.rumeur }}"`);
    a rendered text that equals a declared id is that claim. Mentions come from `mentions` (a file, through the
    monitoring analysis) or, when absent or empty, from the monitoring store over `period` before now.
    """

    type: Literal["claim.spread"]
    claim: StepText = Field(min_length=1, description="A claim id of `communication.claims`, or a text (Jinja: "
                       "`{{ inputs.rumeur }}`).")
    truth: StepText | None = Field(None, description="What is true, for a claim entered by hand (Jinja allowed).")
    match: list[StepText] = Field(default_factory=list, description="For a claim entered by hand: phrases that carry "
                             "it (Jinja allowed; commas separate phrases). Default: its significant words.")
    mentions: StepText | None = Field(
        None, description="File of mentions (Jinja allowed); empty: the monitoring store.")
    period: Duration = Field(86400, description="Without `mentions`: how far back to read the store (`24h`).")
    min_count: int = Field(2, ge=1, description="Mentions an audience needs for the claim to spread in it.")
    min_share: float = Field(0.1, ge=0, le=1, description="Share of the claim's mentions an audience needs.")

    Result: ClassVar[type[Record]] = ClaimSpreadRecord


class PackRecord(Record):
    hash: str = Field(description="SHA-256 of every text of the pack: what an approval approves.")
    variants: list[str] = Field(description="kind/audience/channel/language of each message.")
    problems: list[str]
    path: str = Field(description="The pack (texts and metadata) as JSON, in the project's state directory.")
    next_update: str
    author: str = Field("", description="Who prepared the pack: barred from approving it.")
    status: Literal["ready", "nothing_to_send"] = Field(
        "ready", description="`nothing_to_send`: no message was left for the pack (a claim that spreads in no "
        "audience with a correction): no pack was kept, nothing to approve.")
    note: str = Field("", description="Why messages were left out, when some were.")


# What `drill:` may render to (any case): a drill is said yes or no, never guessed from another word.
YES_NO = {"true": True, "yes": True, "oui": True, "vrai": True, "1": True,
          "false": False, "no": False, "non": False, "faux": False, "0": False}


def yes_no(text: str) -> bool | None:
    """`oui`, `False`, ` 1 ` → True, False, True; anything else → None."""
    return YES_NO.get(text.strip().lower())


class MessagePack(StepBase):
    """Render every message the playbook's `communication.messages` declares, check them, and keep the pack.

    Any problem (missing variable, text too long for its channel, empty section, placeholder) fails the step,
    so nobody is ever asked to approve a broken pack.
    """

    type: Literal["message.pack"]
    assessment: Annotated[StepId, Ref(AssessmentRun)] | None = Field(
        None, description="The assessment.run step whose result messages may use.")
    claim: StepText | None = Field(None, description="For corrections: the false claim (Jinja allowed).")
    truth: StepText | None = Field(None, description="For corrections: what is true (Jinja allowed).")
    drill: StepText | bool = Field(False, description="An exercise: every message is marked [EXERCICE] "
                              "(`{{ inputs.exercice }}`).")
    author: StepText | None = Field(None, description="Who prepared the pack (Jinja: `{{ inputs.auteur }}`): "
                               "they may not approve it themselves.")
    kinds: list[Name] | None = Field(None, description="Only the playbook's messages of these kinds "
                                     "(`[correction]`). Default: every kind but `all_clear` (a pack of its own), "
                                     "`correction` only in a pack about a claim.")
    audiences_from: Annotated[StepId, Ref(ClaimSpread)] | None = Field(
        None, description="A claim.spread step: only the audiences where the claim spreads, and the claim and its "
        "truth from it.")

    Result: ClassVar[type[Record]] = PackRecord

    @field_validator("drill")
    @classmethod
    def _yes_or_no(cls, value: str | bool) -> str | bool:
        # A text without Jinja is what the run would read: `drill: "exercice"` would be sent as no drill at all.
        if isinstance(value, str) and "{{" not in value and "{%" not in value and yes_no(value) is None:
            raise ValueError(f"{show(value)} is not a yes/no word: write true or false (or a text like "
                             "`{{ inputs.exercice }}` that renders to one)")
        return value


class ApprovalRecord(Record):
    decision: Literal["approved", "rejected", "changes_requested", "timed_out"]
    hash: str = Field(description="The pack hash the decision is about: only these texts may be released.")
    path: str = Field("", description="The approved pack file (a new one when the approvers' edits re-rendered it).")
    priority: str | None
    decisions: list[dict[str, Any]] = Field(description="Each answer: stage, decision, name, role, comment, via "
                                            "(link, ui), at; a refused one with `refused` (why).")
    notices: list[dict[str, Any]] = Field(default_factory=list, description="Each approval request sent: person, "
                                          "stage, status (sent, failed, skipped), detail.")


class MessageApprove(StepBase):
    """Pause the run until the approval chain decides on a message pack (Resume form in the Prefect UI).

    The chain comes from `communication.approval` by the assessment's priority. A rejection, a request for
    changes or a timeout ends the step with that decision: nothing is released without `approved`.
    """

    type: Literal["message.approve"]
    pack: Annotated[StepId, Ref(MessagePack)] = Field(description="The message.pack step whose pack is to be approved.")
    assessment: Annotated[StepId, Ref(AssessmentRun)] | None = Field(
        None, description="The assessment.run step whose priority picks the chain.")

    Result: ClassVar[type[Record]] = ApprovalRecord


class ReleaseRecord(Record):
    hash: str
    status: Literal["released", "partly_failed", "halted"]
    receipts: list[dict[str, Any]] = Field(description="Per message and channel: status, detail, key, time, the "
                                           "pack's full SHA-256 and who approved it.")
    approved_by: list[str] = Field(default_factory=list, description="Who approved the released pack: name, role, "
                                   "stage, path (link or ui), time.")


class MessageRelease(StepBase):
    """Send the approved pack to its channels, each message exactly once (outbox + idempotency key).

    Refuses anything but `approved`, and any pack whose texts no longer hash to the approved hash.
    """

    type: Literal["message.release"]
    approval: Annotated[StepId, Ref(MessageApprove)] = Field(
        description="The message.approve step whose approved pack is released.")
    pack: Annotated[StepId, Ref(MessagePack)] = Field(description="The message.pack step that produced it.")

    Result: ClassVar[type[Record]] = ReleaseRecord


class ClaimTrackRecord(Record):
    claim_id: str
    claim: str
    corrected_at: str = Field(description="When the correction was released (its last message sent).")
    audiences: list[str] = Field(description="Audiences the correction reached.")
    hash: str = Field(description="The released pack's hash.")
    flow_run: str
    before: int = Field(description="Mentions carrying the claim before the correction.")
    since: int = Field(description="Mentions carrying the claim since the correction (monitoring store).")
    status: Literal["recorded", "already_recorded"]


class ClaimTrack(StepBase):
    """Record a released correction so that every monitoring run tracks the claim's spread before and since it."""

    type: Literal["claim.track"]
    spread: Annotated[StepId, Ref(ClaimSpread)] = Field(description="The claim.spread step whose claim was corrected.")
    release: Annotated[StepId, Ref(MessageRelease)] = Field(
        description="The message.release step that sent the correction.")

    Result: ClassVar[type[Record]] = ClaimTrackRecord
