"""`crisis`: validate and run playbooks, start and stop the local stack, answer approvals, halt releases,
review past crises.

One module per family of commands; each registers its commands on the one `app` (common.py) when imported here.
Each command imports what it needs where it runs, so `validate` starts without Prefect.
"""

from crisiscomms.stack.cli import (  # noqa: F401  (each registers its commands)
    approvals,
    drills,
    monitoring,
    playbooks,
    readiness,
    release,
    review,
    stack,
)
from crisiscomms.stack.cli.common import app

__all__ = ["app"]
