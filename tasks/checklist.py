"""checklist.item: record an action and who owns it — the audit trail of preparation and follow-up."""

from __future__ import annotations

from prefect import get_run_logger, task

from crisiscomms import clock
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.steps import ChecklistItem, ChecklistRecord


def checklist_record(step: ChecklistItem, context: StepContext) -> ChecklistRecord:
    role = context.playbook.team.get(step.owner)
    people = [member.name for member in role.members] if role else []
    return ChecklistRecord(item=step.item, owner=step.owner, owner_people=people, status="recorded",
                           recorded_at=clock.now_text())


@task(name="checklist.item")
def record_checklist_item(step: ChecklistItem, context: StepContext) -> ChecklistRecord:
    record = checklist_record(step, context)
    owners = ", ".join(record.owner_people) or step.owner
    get_run_logger().info("☐ %s — %s (%s)", step.item, step.owner, owners)
    return record
