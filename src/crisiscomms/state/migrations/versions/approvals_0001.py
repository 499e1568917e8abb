"""Approval stages, the personal links used, the verdict on each answer, and the key that signs the links."""

import sqlalchemy as sa

from crisiscomms.state.migrations.tables import create_or_adopt, seq, text

revision = "approvals_0001"
down_revision = None
branch_labels = ("approvals",)
depends_on = None


def upgrade() -> None:
    create_or_adopt("stages", seq(), text("stage_id", unique=True), text("run_id"), text("body"),
                    text("pause_key", server_default=""), text("status", server_default="open"))
    create_or_adopt("links", text("link_id", primary_key=True), text("stage_id"), text("person"), text("used_at"),
                    text("decision"), text("pause_key"))
    create_or_adopt("answers", text("run_id"), text("pause_key"), text("verdict"), text("reason"), text("at"),
                    sa.PrimaryKeyConstraint("run_id", "pause_key"))
    create_or_adopt("signing_keys", text("name", primary_key=True), text("value"), text("at"))
