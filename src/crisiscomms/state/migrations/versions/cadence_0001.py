"""The update promises each release made, and whether the next release kept them."""

import sqlalchemy as sa

from crisiscomms.state.migrations.tables import create_or_adopt, integer, seq, text

revision = "cadence_0001"
down_revision = None
branch_labels = ("cadence",)
depends_on = None


def upgrade() -> None:
    create_or_adopt("promises", seq("id"), text("playbook"), text("run_id"), text("pack"), text("promised"),
                    text("released_at"), integer("drill"), text("priority", True), text("fulfilled_at", True),
                    text("fulfilled_by_run", True), text("fulfilled_by_pack", True), text("missed_at", True),
                    text("reminder", True), sa.UniqueConstraint("playbook", "pack"),
                    indexes={"promises_open": ["playbook", "drill", "fulfilled_at", "promised"]})
