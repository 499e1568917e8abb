"""crisiscomms: crisis-communication playbooks (YAML) run as Prefect flows.

The library under this package is plain typed Python and never imports Prefect at module level
(see the import-linter contracts in pyproject.toml). Prefect lives in the top-level ``tasks`` and
``flows`` packages of a crisiscomms project.
"""

__version__ = "0.1.0"
