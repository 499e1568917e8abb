"""`python -m crisiscomms.stack.cli`."""

from crisiscomms.stack.cli import app

app()
