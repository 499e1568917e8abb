"""The crisis registry: crisis ids, the alerts monitoring raised, the journal of steps, lessons and actions."""

import sqlalchemy as sa

from crisiscomms.state.migrations.tables import create_or_adopt, integer, seq, text

revision = "crises_0001"
down_revision = None
branch_labels = ("crises",)
depends_on = None


def upgrade() -> None:
    create_or_adopt("crises", text("id", primary_key=True), text("playbook"), text("title"), text("opened_at"),
                    text("opened_by"), text("closed_at", True), integer("drill", server_default="0"),
                    indexes={"crises_open": ["playbook", "closed_at"]})
    create_or_adopt("alerts", seq(), text("playbook"), text("crisis", True), text("level"), text("kind"), text("at"),
                    text("window_start"), text("window_end"), text("payload"), text("run_id", True),
                    indexes={"alerts_time": ["playbook", "at"]})
    create_or_adopt("steps", seq(), text("crisis"), text("run_id"), text("phase"), text("step"), text("type"),
                    text("at"), text("record"), sa.UniqueConstraint("run_id", "step"),
                    indexes={"steps_crisis": ["crisis", "at"]})
    create_or_adopt("lessons", text("crisis", primary_key=True), text("body"), text("at"))
    create_or_adopt("actions", seq("id"), text("crisis"), text("playbook"), text("what"), text("owner"), text("due"),
                    text("done_at", True), sa.UniqueConstraint("crisis", "what", "owner"))
