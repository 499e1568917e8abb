"""readiness.check: the readiness report (`crisis ready`) as a step, e.g. of a preparation phase run weekly."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from crisiscomms.playbook.steps import Record, StepBase


class ReadinessRecord(Record):
    status: Literal["green", "amber", "red"] = Field(description="The worst item's status.")
    red: int
    amber: int
    green: int
    report: str = Field(description="The report as Markdown (a file in the project's state directory).")
    items: list[dict[str, str]] = Field(description="Every item not green: subject, status, finding, fix, where.")


class ReadinessCheck(StepBase):
    """Is the team ready for a crisis today? People and backups, approval chains, every message rendered, legal
    clearances, channels and secrets (checked without publishing), monitoring, open actions: an artifact and a
    file, green / amber / red per item with its fix."""

    type: Literal["readiness.check"]
    probe: bool = Field(True, description="Connect to each channel (publishing nothing); false: settings and "
                        "secrets only.")
    fail_on_red: bool = Field(False, description="Fail the step, and so the run, when an item is red (a scheduled "
                              "check that must be noticed).")

    Result: ClassVar[type[Record]] = ReadinessRecord
