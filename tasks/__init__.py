"""Prefect tasks: thin wrappers around crisiscomms functions, one module per capability."""
