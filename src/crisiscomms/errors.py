"""Every error crisiscomms raises on purpose derives from CrisisError.

    CrisisError
    ├── PlaybookError            a playbook cannot be used; carries every Issue found
    │   └── PlaybookFileError    the file itself is unreadable (encoding, size, YAML syntax, tags)
    ├── PlaybookChangedError     the playbook file changed while a run was using it: the run refuses to go on
    ├── ProjectError             no crisiscomms project (playbooks/, prefect.yaml) where one is expected
    ├── InputError               crisis inputs given to a run do not fit the playbook's `inputs:`
    ├── ExpressionError          a `when:` expression cannot be parsed or evaluated
    └── ServerError              the local Prefect server / worker could not be started or reached
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Issue:
    """One problem in a playbook, located the way an editor wants it."""

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class CrisisError(Exception):
    """Root of the errors crisiscomms raises on purpose."""


class PlaybookError(CrisisError):
    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class PlaybookFileError(PlaybookError):
    pass


class PlaybookChangedError(CrisisError):
    """The playbook file no longer has the hash the run started with; the message names both hashes."""


class ProjectError(CrisisError):
    pass


class InputError(CrisisError):
    pass


class ExpressionError(CrisisError):
    pass


class ServerError(CrisisError):
    pass


# Set by `crisis run` when it runs on the embedded (ephemeral) API: nobody else can reach that API, so nothing
# run there may wait for a human's answer.
EMBEDDED = "CRISIS_EMBEDDED_API"
