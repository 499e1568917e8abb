"""Step types of the post-crisis review (and the preparation step that carries its actions forward)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from crisiscomms.playbook.markers import Ref
from crisiscomms.playbook.steps import Duration, Record, StepBase, StepId

Question = Annotated[str, StringConstraints(min_length=3, max_length=300)]


class ReviewRecord(Record):
    crisis: str
    provisional: bool = Field(description="The crisis was still under way: the report so far.")
    drill: bool
    figures: int = Field(description="Figures computed (with a value).")
    missing: list[str] = Field(description="What could not be computed or collected, and why.")
    markdown: str = Field(description="The report as Markdown (a file in the project's state directory).")
    html: str = Field(description="The standalone HTML report with its charts.")
    data: str = Field(description="The post-mortem as JSON, for other tools.")
    evidence: str = Field(description="The evidence archive (`crisis review verify` checks it).")
    evidence_sha256: str
    lessons: bool = Field(False, description="The team's lessons are in the report.")


class ReviewCollect(StepBase):
    """The post-mortem of the run's crisis, collected from the flow-run history and the project's stores: timeline,
    figures, charts, the report (Markdown, HTML, JSON, artifacts) and the evidence pack."""

    type: Literal["review.collect"]
    currency: str = Field("EUR", min_length=1, max_length=8, description="Currency of the team's hourly rates.")

    Result: ClassVar[type[Record]] = ReviewRecord


class LessonsRecord(ReviewRecord):
    status: Literal["answered", "unanswered"]
    answered_by: str = ""
    actions: int = Field(0, description="Actions decided: each is a checklist item of the next preparation run.")


class ReviewLessons(StepBase):
    """Ask the team the playbook's review questions in a form (the Prefect UI's Resume form): what worked, what did
    not, actions with an owner and a due date. Their answers are merged into the report and the evidence pack."""

    type: Literal["review.lessons"]
    review: Annotated[StepId, Ref(ReviewCollect)] = Field(description="The review.collect step whose report the "
                                                          "answers complete.")
    questions: list[Question] = Field(min_length=1, max_length=20, description="Asked in this order.")
    wait: Duration = Field(7 * 86400, description="How long the form waits for answers (`7d`).")

    Result: ClassVar[type[Record]] = LessonsRecord


class ActionsRecord(Record):
    actions: list[dict[str, str]] = Field(description="Each open action: what, owner, due, crisis it came from.")
    overdue: int


class ReviewActions(StepBase):
    """The actions decided in past reviews of this playbook and not done yet, as the preparation's checklist."""

    type: Literal["review.actions"]

    Result: ClassVar[type[Record]] = ActionsRecord
