"""File sources at their edges: a last line without its newline is read once the file is finished (always for a
one-shot read, after a quiet `settle` time for a file that may grow), and a CSV's stray quote or wrong row costs
that row alone, with its line number, never the rows after it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.monitoring.sources import Batch, FileReader, SourceError, build_source
from crisiscomms.playbook.monitoring import FileSource

HEADER = "id,created_at,text,author\n"


def row(n: int, text: str | None = None) -> str:
    return f"{n},2026-03-12T08:{n % 60:02d}:00Z,{text or f'post {n}'},@u{n}\n"


def jsonl(n: int) -> str:
    return json.dumps({"id": str(n), "created_at": "2026-03-12T08:00:00Z", "text": f"post {n}"})


class Wall:
    """The wall clock a reader compares file times with: `at(path, seconds)` puts it that long after the last write."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def at(self, path: Path, seconds: float) -> None:
        self.now = path.stat().st_mtime + seconds


def reader(path: Path, wall: Wall | None = None, **options: Any) -> FileReader:
    return FileReader("f", path, "csv" if path.suffix == ".csv" else "jsonl", display=path.name,
                      wall=wall or Wall(), **options)


def read(source: FileReader, cursor: dict[str, Any] | None = None) -> tuple[Batch, dict[str, Any]]:
    batch = source.read(cursor)
    return batch, json.loads(json.dumps(batch.cursor))  # as a restarted process gets it back


def ids(batch: Batch) -> list[str]:
    return [record.data["id"] for record in batch.records]


def positions(batch: Batch) -> list[tuple[str, str]]:
    return [(q.position, q.reasons[0]) for q in batch.quarantined]


# --- a last line without its newline ----------------------------------------------------------------------


def test_a_finished_files_last_line_without_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "done.jsonl"
    path.write_text("\n".join(jsonl(n) for n in range(10)), encoding="utf-8")  # no newline after the 10th
    batch, cursor = read(reader(path, finished=True))
    assert ids(batch) == [str(n) for n in range(10)] and not batch.quarantined and not batch.notes
    assert batch.records[-1].position == "done.jsonl:10"
    assert cursor["offset"] == path.stat().st_size and cursor["open"] is True


def test_a_growing_files_half_line_waits_until_the_file_has_settled(tmp_path: Path) -> None:
    path, wall = tmp_path / "live.jsonl", Wall()
    path.write_text(jsonl(1) + "\n" + jsonl(2)[:20], encoding="utf-8")  # the writer is half-way through line 2
    wall.at(path, 1)
    first, cursor = read(reader(path, wall))
    assert ids(first) == ["1"] and not first.quarantined
    assert first.notes == ["live.jsonl:2: 20 byte(s) not read yet: the record there is not finished (no newline, "
                           "or a quoted field still open); it is read once the file has not changed for 60 s"]

    with path.open("a", encoding="utf-8") as out:
        out.write(jsonl(2)[20:])  # line 2 is whole now, still without its newline
    wall.at(path, 59)
    assert read(reader(path, wall), cursor)[0].read == 0  # written a moment ago: it may still grow
    wall.at(path, 60)
    second, cursor = read(reader(path, wall), cursor)
    assert ids(second) == ["2"] and second.records[0].position == "live.jsonl:2" and not second.notes

    with path.open("a", encoding="utf-8") as out:  # the writer ends line 2 after all, and goes on
        out.write("\n" + jsonl(3) + "\n")
    third, _ = read(reader(path, wall), cursor)
    assert ids(third) == ["3"] and third.records[0].position == "live.jsonl:3"  # that newline was line 2's


def test_the_settle_time_is_the_playbooks_file_source_setting(tmp_path: Path) -> None:
    spec = FileSource(type="file", id="f", path="live.jsonl", settle="10s")
    (tmp_path / "live.jsonl").write_text(jsonl(1), encoding="utf-8")  # no newline yet
    source = build_source(spec, tmp_path)
    assert isinstance(source, FileReader)
    source.wall = wall = Wall()
    wall.at(tmp_path / "live.jsonl", 9)
    assert source.read(None).read == 0
    wall.at(tmp_path / "live.jsonl", 10)
    assert ids(source.read(None)) == ["1"]
    assert FileSource(type="file", id="f", path="x.jsonl").settle == 60


def test_a_half_line_completed_after_it_settled_is_read_in_two_pieces_and_nothing_is_lost(tmp_path: Path) -> None:
    path, wall = tmp_path / "slow.jsonl", Wall()
    path.write_text(jsonl(1)[:20], encoding="utf-8")
    wall.at(path, 60)  # a writer silent for the whole settle time, in the middle of a line
    first, cursor = read(reader(path, wall))
    with path.open("a", encoding="utf-8") as out:
        out.write(jsonl(1)[20:] + "\n")
    second, _ = read(reader(path, wall), cursor)
    assert [(q.position, q.raw) for q in first.quarantined + second.quarantined] == [
        ("slow.jsonl:1", jsonl(1)[:20]), ("slow.jsonl:2", jsonl(1)[20:])]


def test_a_growing_csv_header_waits_and_a_finished_one_without_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(HEADER.rstrip("\n"), encoding="utf-8")
    growing, cursor = read(reader(path))
    assert growing.read == 0 and cursor["offset"] == 0 and f"export.csv:1: {len(HEADER) - 1} byte(s) not read yet" in growing.notes[0]
    done, cursor = read(reader(path, finished=True), cursor)
    assert done.read == 0 and not done.notes and cursor["offset"] == path.stat().st_size


# --- CSV: one bad row costs that row ---------------------------------------------------------------------


def test_a_stray_quote_costs_its_own_row_and_the_200_rows_after_it_are_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    rows = [row(n) for n in range(1, 301)]
    rows[99] = row(100, '"Rappel yaourts')  # line 101: a quote that never closes
    rows[149] = row(150, '"Duval, toujours"')  # a quoted field further on: the stray quote would close on it
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    batch, cursor = read(reader(path, finished=True))
    assert ids(batch) == [str(n) for n in range(1, 301) if n != 100]
    assert positions(batch) == [("export.csv:101", "a quoted field opened on this line runs to line 151, where "
                                 "the row is wrong: not a CSV row: ',' expected after '\"'")]
    assert batch.quarantined[0].raw == rows[99].rstrip("\n")  # its own text, not the 50 rows after it
    assert batch.records[-1].position == "export.csv:301" and cursor["line"] == 301


def test_a_quote_that_never_closes_is_given_up_after_max_row_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    rows = [row(n) for n in range(1, 21)]
    rows[4] = row(5, '"jamais fermé')  # no other quote in the file: only the bound stops it
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    batch, _ = read(reader(path, finished=True, max_row_lines=8))
    assert ids(batch) == [str(n) for n in range(1, 21) if n != 5]
    assert positions(batch) == [("export.csv:6", "a quoted field opened on this line is not closed within 8 lines")]


def test_a_growing_csv_with_an_open_quote_is_held_back_by_the_bound_or_the_settle_time_only(tmp_path: Path) -> None:
    path, wall = tmp_path / "export.csv", Wall()
    path.write_text(HEADER + row(1) + row(2, '"oops') + row(3) + row(4), encoding="utf-8")
    wall.at(path, 1)
    first, cursor = read(reader(path, wall, max_row_lines=5), None)
    assert ids(first) == ["1"] and "export.csv:3:" in first.notes[0]  # rows 3, 4 may still belong to row 2

    with path.open("a", encoding="utf-8") as out:
        out.write(row(5) + row(6))  # row 2's quote now runs over 5 lines: the bound
    wall.at(path, 1)
    second, cursor = read(reader(path, wall, max_row_lines=5), cursor)
    assert positions(second) == [("export.csv:3", "a quoted field opened on this line is not closed within 5 lines")]
    assert ids(second) == ["3", "4", "5", "6"]

    with path.open("a", encoding="utf-8") as out:
        out.write(row(7, '"encore') + row(8))
    wall.at(path, 1)
    assert ids(read(reader(path, wall, max_row_lines=5), cursor)[0]) == []
    wall.at(path, 60)  # settled: the file ends inside that quoted field
    third, _ = read(reader(path, wall, max_row_lines=5), cursor)
    assert positions(third) == [("export.csv:8", "a quoted field opened on this line is not closed by the end of "
                                 "the file")]
    assert ids(third) == ["8"]


def test_rows_of_the_wrong_width_are_quarantined_alone_even_across_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(HEADER + row(1) + "2,2026-03-12T08:02:00Z,trop,de,colonnes\n"
                    + '3,2026-03-12T08:03:00Z,"sur deux\nlignes",@c,EN TROP\n' + row(4)
                    + '5,2026-03-12T08:05:00Z,"sur deux\nlignes, bien",@e\n', encoding="utf-8")
    batch, _ = read(reader(path, finished=True))
    assert ids(batch) == ["1", "4", "5"] and batch.records[2].data["text"] == "sur deux\nlignes, bien"
    assert positions(batch) == [
        ("export.csv:3", "5 columns where the header has 4"),
        ("export.csv:4", "a quoted field opened on this line runs to line 5, where the row is wrong: 5 columns "
                         "where the header has 4"),
        ("export.csv:5", "3 columns where the header has 4")]  # `lignes",@c,EN TROP`: read again as a row


def test_limit_splits_a_csv_with_rows_set_aside_without_losing_or_repeating(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    rows = [row(n) for n in range(1, 31)]
    rows[3], rows[10] = row(4, '"ouvert'), row(11, '"x"y')
    path.write_text(HEADER + "".join(rows) + '31,2026-03-12T08:31:00Z,"multi\nligne",@z\n', encoding="utf-8")
    whole, _ = read(reader(path, finished=True))
    source, cursor, seen = reader(path, finished=True, max_row_lines=6), None, []
    while (batch := source.read(cursor, limit=2)).read:
        assert batch.read <= 2
        seen += [r.position for r in batch.records] + [q.position for q in batch.quarantined]
        cursor = batch.cursor
    assert sorted(seen) == sorted([r.position for r in whole.records] + [q.position for q in whole.quarantined])
    assert len(seen) == len(set(seen)) == 31


def test_a_semicolon_csv_as_french_spreadsheets_write_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text('\ufeffid;created_at;text\n1;2026-03-12T08:00:00Z;"Rappel; yaourts ""Duval"""\n',
                    encoding="utf-8")
    batch, _ = read(reader(path, finished=True))
    assert [r.data for r in batch.records] == [
        {"id": "1", "created_at": "2026-03-12T08:00:00Z", "text": 'Rappel; yaourts "Duval"'}]


def test_a_csv_header_without_the_fields_a_mention_needs_is_noted(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("tweet_id,date,body,body\n1,2026-03-12T08:00:00Z,a,b\n", encoding="utf-8")
    batch, _ = read(reader(path, finished=True, mapping={"id": "tweet_id"}))
    assert batch.notes == [
        "export.csv: no column for created_at, text, which every mention needs (name a column so, or map one to it)",
        "export.csv: column(s) body appear more than once in the header; the last one of each is read"]


@pytest.mark.parametrize(("header", "why"), [("\n", "it is empty"), ('id,"text\n', "a quoted field is not closed"),
                                             ('id,"te"xt\n', "not a CSV row: ',' expected after '\"'")])
def test_a_first_line_that_is_not_a_header_is_refused_with_the_reason(tmp_path: Path, header: str, why: str) -> None:
    path = tmp_path / "export.csv"
    path.write_text(header + row(1), encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        reader(path, finished=True).read(None)
    assert str(caught.value) == f"source 'f': export.csv: line 1 is not a CSV header of column names ({why})"


def test_an_unknown_format_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="format 'xml' is not one of jsonl, csv"):
        FileReader("f", tmp_path / "x.xml", "xml")  # type: ignore[arg-type]


def test_what_a_writer_appends_while_a_settled_read_is_under_way_waits_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    path.write_text(jsonl(1) + "\n" + jsonl(2)[:20], encoding="utf-8")
    settled = path.stat().st_mtime + 60

    def wall() -> float:  # asked once the read has taken the file's size: the writer wakes up right then
        with path.open("a", encoding="utf-8") as out:
            out.write(jsonl(2)[20:] + "\n" + jsonl(3)[:20])
        return settled

    batch, cursor = read(FileReader("f", path, display=path.name, wall=wall))
    assert ids(batch) == ["1", "2"] and not batch.quarantined  # line 2 was not cut where the size was taken
    assert "live.jsonl:3: 20 byte(s) not read yet" in batch.notes[0]
    assert cursor["offset"] == path.stat().st_size - 20


def test_a_json_number_too_long_for_python_is_kept_as_its_digits_and_the_line_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    nines, ones = "9" * 5000, "1" * 4301
    path.write_text(f'{{"id": {nines}, "created_at": "2026-03-12T08:00:00Z", "text": "a", "reach": -{ones}}}\n'
                    f"{jsonl(2)}\n", encoding="utf-8")
    batch, _ = read(reader(path, finished=True))
    assert ids(batch) == ["9" * 5000, "2"] and not batch.quarantined  # the gate judges the values, not the framing
    assert batch.records[0].data["reach"] == "-" + "1" * 4301
