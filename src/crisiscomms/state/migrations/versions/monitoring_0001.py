"""The monitoring store: mentions, quarantine, watermarks, detector state, assessments, the run log, and the
claims' corrections and events."""

import sqlalchemy as sa

from crisiscomms.state.migrations.tables import create_or_adopt, integer, seq, text

revision = "monitoring_0001"
down_revision = None
branch_labels = ("monitoring",)
depends_on = None


def upgrade() -> None:
    create_or_adopt("mentions", text("playbook"), text("id"), text("source", True), text("created_at"),
                    text("run_id", True), text("data"), sa.PrimaryKeyConstraint("playbook", "id"),
                    indexes={"mentions_time": ["playbook", "created_at"], "mentions_run": ["playbook", "run_id"]})
    create_or_adopt("quarantine", seq(), text("playbook"), text("source"), text("position"), text("reasons"),
                    text("raw"), text("run_id", True), text("at"))
    create_or_adopt("cursors", text("playbook"), text("source"), text("cursor"), text("at"),
                    sa.PrimaryKeyConstraint("playbook", "source"))
    create_or_adopt("detector", text("playbook", primary_key=True), text("state"), text("at"))
    create_or_adopt("assessments", seq(), text("playbook"), text("step"), text("run_id", True), text("record"),
                    text("at"), indexes={"assessments_latest": ["playbook", "step", "at"]})
    create_or_adopt("runs", seq(), text("run_id"), text("playbook"), text("source"), integer("read"),
                    integer("processed"), integer("quarantined"), text("at"),
                    indexes={"runs_source": ["playbook", "source", "at"]})
    create_or_adopt("claim_corrections", text("playbook"), text("claim_id"), text("hash"), text("rule"),
                    text("corrected_at"), text("audiences"), text("flow_run", True), integer("period"), text("at"),
                    sa.PrimaryKeyConstraint("playbook", "claim_id", "hash"))
    create_or_adopt("claim_events", text("playbook"), text("claim_id"), text("window_start"), text("at"),
                    sa.PrimaryKeyConstraint("playbook", "claim_id", "window_start"))
