"""A burst cut into parts, each read by whichever worker takes it, then put together: the same counts, windows and
alerts as one process reading the whole file — a repeated id across parts kept once — and every quarantined record
named by its file and line."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from crisiscomms.errors import CrisisError
from crisiscomms.monitoring import burst, monitor
from crisiscomms.monitoring.enrich import Enricher
from crisiscomms.monitoring.monitor import FILE_CHUNK
from crisiscomms.monitoring.sources import FileReader
from crisiscomms.stack.project import Project
from tests.unit.test_monitor import project

_ = project
CRISISLEX = Path(__file__).resolve().parents[2] / "data" / "crisislex"


def _file(tmp_path: Path) -> Path:
    """Two events' tweets, a few hostile lines among them, and one tweet repeated far from its first copy."""
    lines = []
    for event in ("2013_Spain_train_crash", "2013_West_Texas_explosion"):
        for line in (CRISISLEX / f"{event}.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            record.pop("gold")
            lines.append(json.dumps(record, ensure_ascii=False))
    lines[37:37] = ["{not json", '{"id": "x"}', ""]
    lines.append(lines[5])  # read again 2,000 lines later: a one-process read sets it aside
    path = tmp_path / "burst.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_burst_read_in_parts_is_the_file_read_at_once(project: Project, tmp_path: Path) -> None:
    playbook = project.load("veille").playbook
    path = _file(tmp_path)
    enricher = Enricher(playbook, entities=False)
    whole = monitor.monitor_file(playbook, path, lambda outcome: None, processes=1, chunk=250)
    parts = burst.cut(path, 250)  # whole batches of the one-process read
    assert len(parts) == 9 and parts[0].start == 0 and all(a.end == b.start for a, b in pairwise(parts))
    before = burst.newest_before([burst.newest_of(playbook, part) for part in parts])
    out = tmp_path / "out"
    out.mkdir()
    results = [burst.enrich_part(playbook, part, out, enricher, newest)
               for part, newest in reversed(list(zip(parts, before, strict=True)))]  # in any order
    together = burst.put_together(playbook, results)
    assert (together.read, together.processed, together.quarantined) == (whole.read, whole.processed,
                                                                          whole.quarantined) == (2003, 1000, 1003)
    assert together.duplicates == 1
    assert [a.model_dump() for a in together.alerts] == [a.model_dump() for a in whole.alerts]
    assert sum(1 for f in out.glob("part-?????.jsonl") for _ in f.open()) == whole.processed + 1  # the repeat, in its part


def test_parts_without_a_repeated_id_merge_their_windows_without_reading_again(
        project: Project, tmp_path: Path) -> None:
    playbook = project.load("veille").playbook
    path = tmp_path / "plain.jsonl"
    path.write_text((CRISISLEX / "2013_Spain_train_crash.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    enricher = Enricher(playbook, entities=False)
    out = tmp_path / "out"
    out.mkdir()
    parts = burst.cut(path, 300)
    before = burst.newest_before([burst.newest_of(playbook, part) for part in parts])
    results = [burst.enrich_part(playbook, part, out, enricher, newest) for part, newest in zip(parts, before, strict=True)]
    for result in results:
        Path(result.mentions_file).unlink()  # not needed: the windows came back with the counts
    together = burst.put_together(playbook, results)
    whole = monitor.monitor_file(playbook, path, lambda outcome: None, processes=1, chunk=300)
    assert together.duplicates == 0 and together.processed == whole.processed == 1000
    assert [a.model_dump() for a in together.alerts] == [a.model_dump() for a in whole.alerts]


def test_a_quarantined_record_of_a_part_names_the_file_and_its_line(project: Project, tmp_path: Path) -> None:
    playbook = project.load("veille").playbook
    path = _file(tmp_path)
    part = burst.cut(path, 30)[1]  # lines 31 to 60: the hostile lines are 38 and 39 (the empty 40 holds nothing)
    out = tmp_path / "out"
    out.mkdir()
    result = burst.enrich_part(playbook, part, out, Enricher(playbook, entities=False))
    assert result.read == 29 and result.quarantined == 2 and result.notes == []
    kept = [json.loads(line) for line in (out / "part-00001.quarantine.jsonl").open(encoding="utf-8")]
    assert [(q["position"], q["reasons"][0][:8]) for q in kept] == [(f"{path}:38", "not JSON"), (f"{path}:39", "missing ")]


def test_parts_of_whole_batches_read_each_line_once(tmp_path: Path) -> None:
    """A part of exactly FILE_CHUNK records takes two reads, as the pass reads it: the second finds the part's end,
    never the next part's first line."""
    path = tmp_path / "big.jsonl"
    path.write_text("".join(f'{{"id": "{n}", "created_at": "2013-07-24T18:00:00Z", "text": "post {n}"}}\n'
                            for n in range(2 * FILE_CHUNK + 7)), encoding="utf-8")
    parts = burst.cut(path, FILE_CHUNK)
    assert [_records_read(part) for part in parts] == [FILE_CHUNK, FILE_CHUNK, 7]


def _records_read(part: burst.Part) -> int:
    reader = FileReader("input", Path(part.path), "jsonl", finished=True, until=part.end)
    cursor: dict[str, object] = {"offset": part.start, "line": part.line}
    total = 0
    while True:
        batch = reader.read(cursor, limit=FILE_CHUNK)
        total += batch.read
        if batch.read < FILE_CHUNK:
            return total
        cursor = batch.cursor


def test_a_csv_burst_is_refused_with_why(tmp_path: Path) -> None:
    with pytest.raises(CrisisError, match="quoted field may span lines"):
        burst.cut(tmp_path / "export.csv", 100)
