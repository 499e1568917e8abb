"""The tasks of a burst: one per part of the file, never one per mention (crisiscomms.monitoring.burst).

They run on whichever worker of the flow's task runner takes them (a Dask cluster): the playbook's models are
loaded once per worker process and kept for its next parts.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task

from crisiscomms.monitoring import burst
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.playbook.models import Playbook

_enrichers: dict[str, Enricher] = {}  # per worker process, by playbook (spaCy models take seconds to load)


def _enricher(playbook: Playbook) -> Enricher:
    key = playbook.model_dump_json()
    if key not in _enrichers:
        _enrichers.clear()  # one playbook's models at a time: a worker's memory stays that of one
        _enrichers[key] = Enricher(playbook)
    return _enrichers[key]


@task(name="burst.newest", task_run_name="newest:{part.index}")
def newest_of(playbook: Playbook, part: burst.Part) -> datetime | None:
    return burst.newest_of(playbook, part)


@task(name="burst.part", task_run_name="part:{part.index}")
def enrich_part(playbook: Playbook, part: burst.Part, out: str, newest: datetime | None) -> burst.PartResult:
    return burst.enrich_part(playbook, part, Path(out), _enricher(playbook), newest)
