"""The kill switch: every halt ever made, and who lifted it."""

from crisiscomms.state.migrations.tables import create_or_adopt, seq, text

revision = "killswitch_0001"
down_revision = None
branch_labels = ("killswitch",)
depends_on = None


def upgrade() -> None:
    create_or_adopt("halts", seq("id"), text("scope"), text("reason"), text("halted_by"), text("halted_at"),
                    text("lifted_by", True), text("lifted_at", True), indexes={"halts_open": ["scope", "lifted_at"]})
