"""The outbox: one row per message ever attempted (exactly-once), and each pack's first send attempt."""

from crisiscomms.state.migrations.tables import create_or_adopt, integer, seq, text

revision = "outbox_0001"
down_revision = None
branch_labels = ("outbox",)
depends_on = None


def upgrade() -> None:
    create_or_adopt("outbox", seq(), text("key", unique=True), text("playbook"), text("pack"), text("message"),
                    text("channel"), text("status"), integer("attempts"), text("receipt", True), text("at"))
    create_or_adopt("releases", text("pack", primary_key=True), text("first_attempt"))
