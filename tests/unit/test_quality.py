"""The data-quality gate: every record read comes out as a mention or quarantined with all its reasons, in words a
communications officer understands, from one validation of the mention model; Great Expectations checks each batch
(volume, null rates, timestamp range, text lengths, duplicate ids, encoding) and its result is the gate's report;
batch-level gaps (silence, collapse, mapping, encoding) are batch issues; GE is only imported when a batch is gated."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.monitoring import expectations, record
from crisiscomms.monitoring.quality import GateResult, gate
from crisiscomms.playbook.monitoring import Gate

ROOT = Path(__file__).resolve().parents[2]
SPAIN = ROOT / "data" / "crisislex" / "2013_Spain_train_crash.jsonl"
NOW = datetime(2013, 8, 1, tzinfo=UTC)
WHEN = "2013-07-24T19:35:00Z"
BINARY = "text contains binary data (control characters or invalid Unicode)"


def ok(**fields: Any) -> dict[str, Any]:
    """A valid record, with some fields replaced (None kept: it is a value as read); `drop` removes keys."""
    record: dict[str, Any] = {"id": f"id-{random.random()}", "created_at": WHEN, "text": "Descarrila un tren en Santiago"}
    drop = fields.pop("drop", ())
    record.update(fields)
    for key in drop:
        record.pop(key, None)
    return record


# (case, raw record, reasons: [] when the record must pass)
MATRIX: list[tuple[str, Any, list[str]]] = [
    ("good", ok(id="good-1"), []),
    ("numeric id", ok(id=360120953373593600), []),
    ("missing id", ok(drop=["id"]), ["missing id"]),
    ("null id", ok(id=None), ["missing id"]),
    ("blank id", ok(id="   "), ["missing id"]),
    ("decimal id", ok(id=1.5), ["id is a decimal number, not text or a whole number"]),
    ("boolean id", ok(id=True), ["id is true/false, not text or a whole number"]),
    ("list id", ok(id=[1, 2]), ["id is a list, not text or a whole number"]),
    ("dup first", ok(id="dup"), []),
    ("dup second", ok(id="dup"), ["duplicate id 'dup' (first at bad.jsonl:9)"]),
    ("int first", ok(id=42), []),
    ("int as text", ok(id="42"), ["duplicate id '42' (first at bad.jsonl:11)"]),
    ("seen id", ok(id="old-1"), ["id 'old-1' was already read in an earlier batch"]),
    ("future", ok(created_at="2031-01-01T00:00:00Z"), ["created_at is in the future (2031-01-01T00:00:00Z)"]),
    ("within skew", ok(created_at=(NOW + timedelta(seconds=200)).isoformat()), []),
    ("not a date", ok(created_at="yesterday"), ["created_at is not a date: 'yesterday'"]),
    ("missing date", ok(drop=["created_at"]), ["missing created_at"]),
    ("date as object", ok(created_at={"$date": "x"}), ["created_at is not a date: {'$date': 'x'}"]),
    ("year out of range", ok(created_at="0001-01-01T00:00:00+05:00"),
     ["created_at is not a date: '0001-01-01T00:00:00+05:00'"]),
    ("rfc 2822 date", ok(id="rfc", created_at="Wed, 24 Jul 2013 19:35:00 +0000"), []),
    ("naive date", ok(id="naive", created_at="2013-07-24 19:35:00"), []),
    ("epoch date", ok(id="epoch", created_at=1374694500), []),
    ("epoch ms date", ok(id="epoch-ms", created_at=1374694500000), []),
    ("1 MB text", ok(text="x" * 2**20), ["text longer than 10000 characters (1048576)"]),
    ("empty text", ok(text=""), ["text is empty"]),
    ("null text", ok(text=None), ["missing text"]),
    ("nested dict text", ok(text={"body": {"fr": "rappel"}}), ["text is an object, not text"]),
    ("number text", ok(text=12), ["text is a whole number, not text"]),
    ("list text", ok(text=["a", "b"]), ["text is a list, not text"]),
    ("bytes text", ok(text=b"\x89PNG"), ["text is raw bytes, not text"]),
    ("binary garbage", ok(text="\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00"), [BINARY]),
    ("random bytes", ok(text=random.Random(7).randbytes(80).decode("latin-1")), [BINARY]),
    ("lone surrogate", ok(text="caf\udce9 au lait"), [BINARY]),
    ("one stray control", ok(text="aún a\x08sí protege a su guacamaya"), []),
    ("mojibake", ok(text="EspaÃ±a: descarrila un tren â€¦"), []),
    ("mixed encodings", ok(text="Santiago de Compostela – EspaÃ±a, España"), []),
    ("none everywhere", {k: None for k in ("id", "created_at", "text", "author", "channel", "url", "lang")},
     ["missing id", "missing created_at", "missing text"]),
    ("not an object", ["a", "list"],
     ["record is a list, not an object with fields", "missing id", "missing created_at", "missing text"]),
    ("null record", None,
     ["record is empty (null), not an object with fields", "missing id", "missing created_at", "missing text"]),
    ("unknown lang", ok(lang="xx"), ["lang 'xx' is not a known language code (known: es, en)"]),
    ("upper-case lang", ok(lang="EN"), []),
    ("undetermined lang", ok(lang="und"), []),
    ("numeric lang", ok(lang=12), ["lang is a whole number, not text"]),
    ("numeric author", ok(author=4242), []),
    ("object author", ok(author={"name": "x"}), ["author is an object, not text or a whole number"]),
    ("binary url", ok(url="http://x\x00\x00"), ["url contains binary data (control characters or invalid Unicode)"]),
    ("everything wrong", {"id": [1], "created_at": "soon", "text": {"a": 1}, "lang": 3.5},
     ["id is a list, not text or a whole number", "created_at is not a date: 'soon'",
      "text is an object, not text", "lang is a decimal number, not text"]),
]
SETTINGS = Gate(languages=["es", "en"])


def positions(count: int, name: str = "bad.jsonl") -> list[str]:
    return [f"{name}:{n}" for n in range(1, count + 1)]


@pytest.fixture(scope="module")
def matrix() -> tuple[list[tuple[str, Any]], GateResult]:
    records = list(zip(positions(len(MATRIX)), [raw for _, raw, _ in MATRIX], strict=True))
    return records, gate(records, "demo", SETTINGS, NOW, seen_ids={"old-1", "old-2"})


def spain_records() -> list[tuple[str, dict[str, Any]]]:
    records = []
    for n, line in enumerate(SPAIN.read_text(encoding="utf-8").splitlines(), start=1):
        raw = json.loads(line)
        raw.pop("gold")
        records.append((f"{SPAIN.name}:{n}", raw))
    return records


@pytest.mark.parametrize(("position", "case", "reasons"),
                         [(p, case, reasons) for p, (case, _, reasons) in zip(positions(len(MATRIX)), MATRIX,
                                                                               strict=True)],
                         ids=[case for case, _, _ in MATRIX])
def test_bad_input_matrix(matrix: tuple[list[Any], GateResult], position: str, case: str, reasons: list[str]) -> None:
    _, result = matrix
    quarantined = {q.position: q.reasons for q in result.quarantined}
    assert quarantined.get(position, []) == reasons, case


def test_matrix_counts_reconcile(matrix: tuple[list[Any], GateResult]) -> None:
    records, result = matrix
    expected_bad = sum(1 for _, _, reasons in MATRIX if reasons)
    assert len(result.quarantined) == expected_bad
    assert len(result.mentions) + len(result.quarantined) == len(records)
    summary = result.summary
    assert (summary["rows_read"], summary["valid"], summary["quarantined"]) == (len(records), len(result.mentions),
                                                                                expected_bad)
    assert summary["success"] is False and summary["ge_success"] is False
    # GE describes the batch as read, quarantined records included
    checks = summary["expectations"]
    assert checks["volume"] == {**checks["volume"], "success": True, "observed": len(records)}
    assert checks["text_length"]["unexpected"] == 2 and checks["text_length"]["success"] is False
    assert checks["created_at_range"]["unexpected"] == 1  # the one in 2031
    # GE counts every occurrence of a duplicate id ("dup" twice, 42 and "42"); only the later ones are quarantined
    assert checks["id_unique"]["unexpected"] == 4
    assert [q.position for q in result.quarantined if q.reasons[0].startswith("duplicate id")] == [
        "bad.jsonl:10", "bad.jsonl:12"]
    # null rates: 37 of 47 records have a usable id (text or a whole number)
    assert checks["id_present"]["success"] is True and checks["id_present"]["observed"] == pytest.approx(37 / 47)
    # 2 garbled texts of 40: GE flags the share, but too few for a batch issue (an alert)
    assert checks["text_encoding"]["unexpected"] == 2 and checks["text_encoding"]["success"] is False
    assert result.batch_issues == []


def test_matrix_mentions_are_converted(matrix: tuple[list[Any], GateResult]) -> None:
    _, result = matrix
    for mention in result.mentions:
        assert mention.created_at.utcoffset() == timedelta(0)
        assert mention.source == "demo"
    by_id = {m.id: m for m in result.mentions}
    assert "360120953373593600" in by_id and "42" in by_id  # numbers as ids, kept as text
    for key in ("rfc", "naive", "epoch", "epoch-ms"):
        assert by_id[key].created_at == datetime(2013, 7, 24, 19, 35, tzinfo=UTC), key
    assert {m.lang for m in result.mentions} == {None, "en"}  # "EN" → en, "und" → undeclared
    assert "4242" in {m.author for m in result.mentions}


def test_quarantine_keeps_the_raw_record_short_and_writable(matrix: tuple[list[Any], GateResult]) -> None:
    _, result = matrix
    for q in result.quarantined:
        assert q.source == "demo" and q.reasons
        assert len(q.raw) <= 2000
        q.raw.encode("utf-8")  # lone surrogates are escaped, not carried into the quarantine file
    huge = next(q for q in result.quarantined if q.reasons == ["text longer than 10000 characters (1048576)"])
    assert huge.raw.endswith("…") and huge.raw.startswith('{"id": ')


def test_spain_train_crash_passes_entirely() -> None:
    records = spain_records()
    result = gate(records, "crisislex", Gate(), NOW + timedelta(days=30), baseline_volume=500,
                  newest=NOW)  # a file of the event, read a month later: judged by its own dates
    assert len(result.mentions) == len(records) == 1000
    assert result.quarantined == [] and result.batch_issues == []
    assert result.summary["success"] is True and result.summary["ge_success"] is True
    assert [m.id for m in result.mentions] == [raw["id"] for _, raw in records]
    assert result.mentions[0].channel == "twitter"
    # the one real mojibake tweet ("Yoâ€¦") is counted, not quarantined
    assert result.summary["expectations"]["text_encoding"]["unexpected"] == 1


def test_randomised_junk_always_reconciles() -> None:
    rng = random.Random(20130724)
    junk: list[Any] = [None, "", " ", "x", 0, -1, 2**70, 1.5, float("nan"), True, [], {}, {"a": [1]}, b"\xff",
                       "yesterday", WHEN, "2999-01-01T00:00:00Z", "\x00\x01\x02", "caf\udce9", "é" * 20_000,
                       "EspaÃ±a", "fr", "zz", "pt-BR", ("t",), object()]
    fields = ("id", "created_at", "text", "author", "channel", "url", "lang", "gold")
    records: list[tuple[str, Any]] = []
    for n in range(600):
        if rng.random() < 0.03:
            raw: Any = rng.choice(junk)
        else:
            raw = {f: rng.choice(junk) for f in fields if rng.random() < 0.8}
            if rng.random() < 0.3:
                raw.update(id=f"r{rng.randrange(300)}", created_at=WHEN, text="un tren")
        records.append((f"junk.jsonl:{n + 1}", raw))
    result = gate(records, "junk", Gate(), NOW, window=(NOW - timedelta(days=30), NOW), seen_ids=["r1", "r2"])
    assert len(result.mentions) + len(result.quarantined) == len(records)
    assert len({q.position for q in result.quarantined}) == len(result.quarantined)
    assert all(q.reasons and len(q.raw) <= 2000 for q in result.quarantined)
    assert len({m.id for m in result.mentions}) == len(result.mentions)
    for mention in result.mentions:
        assert 1 <= len(mention.text) <= 10_000
        assert NOW - timedelta(days=30) <= mention.created_at < NOW
        assert mention.id not in {"r1", "r2"}
    json.loads(result.to_json())


def test_window_bounds_created_at() -> None:
    start, end = datetime(2013, 7, 24, 19, tzinfo=UTC), datetime(2013, 7, 24, 20, tzinfo=UTC)
    records = [("w:1", ok(created_at="2013-07-24T19:00:00Z")), ("w:2", ok(created_at="2013-07-24T20:00:00Z")),
               ("w:3", ok(created_at="2013-07-24T18:59:59+00:00"))]
    result = gate(records, "demo", Gate(), NOW, window=(start, end))
    assert [m.created_at for m in result.mentions] == [start]
    assert {q.position: q.reasons for q in result.quarantined} == {
        "w:2": ["created_at is outside the monitored window 2013-07-24T19:00:00Z – 2013-07-24T20:00:00Z "
                "(2013-07-24T20:00:00Z)"],
        "w:3": ["created_at is outside the monitored window 2013-07-24T19:00:00Z – 2013-07-24T20:00:00Z "
                "(2013-07-24T18:59:59Z)"],
    }
    with pytest.raises(ValueError, match="is not before its end"):
        gate(records, "demo", Gate(), NOW, window=(end, start))


def test_length_bounds_and_any_two_letter_language() -> None:
    records = [("l:1", ok(text="hi", lang="pt-BR")), ("l:2", ok(text="hello", lang="zz")), ("l:3", ok(lang="fra"))]
    result = gate(records, "demo", Gate(min_text_length=3, max_text_length=5), NOW)
    assert {q.position: q.reasons for q in result.quarantined} == {
        "l:1": ["text shorter than 3 characters (2)"],
        "l:3": ["text longer than 5 characters (30)", "lang 'fra' is not a known language code"],
    }
    assert [m.lang for m in result.mentions] == ["zz"]


def test_collapse_is_a_batch_issue() -> None:
    records = [(f"c:{n}", ok()) for n in range(3)]
    result = gate(records, "demo", Gate(collapse_ratio=0.1), NOW, baseline_volume=120)
    assert result.batch_issues == ["volume collapsed: 3 records read, below 10% of the baseline (120) — "
                                   "possible data gap"]
    assert len(result.mentions) == 3 and result.summary["success"] is False
    assert result.summary["expectations"]["volume"]["observed"] == 3
    # at the threshold, or with a baseline too small to mean anything, or with the alarm off: no issue
    assert gate(records, "demo", Gate(collapse_ratio=0.025), NOW, baseline_volume=120).batch_issues == []
    assert gate(records, "demo", Gate(), NOW, baseline_volume=4).batch_issues == []
    assert gate(records, "demo", Gate(collapse_ratio=0), NOW, baseline_volume=1000).batch_issues == []


def test_silence_is_one_batch_issue() -> None:
    result = gate([], "demo", Gate(), NOW, baseline_volume=120)
    assert result.batch_issues == ["source silent: no record read, while the baseline expects about 120 per batch"]
    assert result.mentions == [] and result.quarantined == []
    assert result.summary["rows_read"] == 0
    assert gate([], "demo", Gate(), NOW).batch_issues == []  # no baseline: nothing was expected
    assert gate([], "demo", Gate(), NOW, baseline_volume=2).batch_issues == []


def test_absent_field_points_at_the_mapping() -> None:
    records = [(f"m:{n}", {"id": f"m{n}", "created_at": WHEN, "body": "texte"}) for n in range(4)]
    result = gate(records, "demo", Gate(), NOW)
    assert result.batch_issues == ["no record has a usable text — check the source's field mapping"]
    assert [q.reasons for q in result.quarantined] == [["missing text"]] * 4


def test_systematic_mojibake_is_a_batch_issue_not_a_quarantine() -> None:
    records = [(f"e:{n}", ok(text="EspaÃ±a: descarrila un tren" if n % 2 else "España")) for n in range(10)]
    result = gate(records, "demo", Gate(), NOW)
    assert len(result.mentions) == 10
    assert result.batch_issues == ["5 of 10 texts look garbled (wrong character encoding, e.g. 'Ã©' for 'é') — "
                                   "check the source's encoding"]


def test_report_markdown_and_json(matrix: tuple[list[Any], GateResult]) -> None:
    _, result = matrix
    report = result.report_markdown()
    assert report.startswith(f"**Data-quality gate — source `demo`**: {len(MATRIX)} read, ")
    assert "| Check | Expectation | Unexpected (or observed) | Result |" in report
    assert "| ids are unique in the batch | `expect_column_values_to_be_unique` on `id` | 4 | ❌ |" in report
    assert report.count("\n| ") == len(result.summary["expectations"]) + 1  # header, one row each
    assert "- `bad.jsonl:3`: missing id" in report
    payload = json.loads(result.to_json())
    assert payload["summary"] == json.loads(json.dumps(result.summary))
    assert payload["quarantined"][0] == {"position": "bad.jsonl:3", "reasons": ["missing id"]}
    assert payload["summary"]["elapsed_seconds"] > 0


def test_context_is_built_once_and_keeps_no_results(capfd: pytest.CaptureFixture[str]) -> None:
    gate([("a:1", ok())], "demo", Gate(), NOW)
    engine = expectations._ENGINE
    gate([("a:1", ok())], "demo", Gate(), NOW, window=(NOW - timedelta(days=30), NOW))
    assert expectations._ENGINE is engine
    assert engine is not None and engine.context.validation_results_store.list_keys() == []
    assert "Calculating Metrics" not in capfd.readouterr().err  # progress bars are off


def test_concurrent_batches_do_not_mix() -> None:
    def run(n: int) -> GateResult:
        records = [(f"t{n}:{k}", ok(id=f"t{n}-{k}")) for k in range(20 + n)] + [(f"t{n}:bad", ok(text=None))]
        return gate(records, f"s{n}", Gate(), NOW)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(8)))
    for n, result in enumerate(results):
        assert len(result.mentions) == 20 + n and [q.position for q in result.quarantined] == [f"t{n}:bad"]
        assert {m.source for m in result.mentions} == {f"s{n}"}


def test_great_expectations_is_imported_lazily() -> None:
    code = ("import sys, crisiscomms.monitoring.quality; "
            "print(sorted(m for m in ('great_expectations', 'pandas') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.strip() == "[]"


def test_reach_is_kept_when_it_is_a_count_and_set_aside_otherwise() -> None:
    records = [("f.jsonl:1", ok(id="a", reach=1200)), ("f.jsonl:2", ok(id="b", reach="beaucoup")),
               ("f.jsonl:3", ok(id="c", reach=-5)), ("f.jsonl:4", ok(id="d"))]
    result = gate(records, "f", Gate(), NOW)
    assert [(m.id, m.reach) for m in result.mentions] == [("a", 1200), ("d", None)]
    assert [q.reasons for q in result.quarantined] == [
        ["reach is text, not a whole number"],
        ["could not be read as a mention: Input should be greater than or equal to 0"],
    ]


def test_each_record_is_validated_once_by_the_mention_model(monkeypatch: pytest.MonkeyPatch) -> None:
    validated: list[Any] = []
    original = record.ReadMention.model_validate

    def counted(data: Any, **kwargs: Any) -> Any:
        validated.append(data.get("id"))
        return original(data, **kwargs)

    monkeypatch.setattr(record.ReadMention, "model_validate", counted)
    records = [("o:1", ok(id="a")), ("o:2", ok(id="b", text=None)), ("o:3", "not a record"), ("o:4", ok(id="c"))]
    result = gate(records, "demo", Gate(), NOW)
    assert validated == ["a", "b", None, "c"]
    assert [m.id for m in result.mentions] == ["a", "c"]
    assert all(isinstance(m, record.ReadMention) for m in result.mentions)  # the validated model itself, no copy


def test_great_expectations_reports_null_rates_and_timestamp_range_of_the_batch() -> None:
    records = [("n:1", ok(id="a", author="@x", lang="es")), ("n:2", ok(id="b", author="@y")),
               ("n:3", ok(id="c", created_at=0)), ("n:4", ok(id="d", created_at="2031-01-01T00:00:00Z"))]
    result = gate(records, "demo", Gate(), NOW)
    checks = result.summary["expectations"]
    assert checks["author_filled"]["observed"] == 0.5 and checks["lang_filled"]["observed"] == 0.25
    assert checks["channel_filled"]["observed"] == 0.0 and checks["channel_filled"]["success"] is True
    assert checks["text_present"]["observed"] == 1.0
    # the far future and 1970 (older than gate.max_age) are each a record's fault, and GE reports the range as off
    assert checks["created_at_range"]["unexpected"] == 2 and checks["created_at_range"]["success"] is False
    assert [q.position for q in result.quarantined] == ["n:3", "n:4"] and len(result.mentions) == 2
    assert result.quarantined[0].reasons[0].startswith("too_old: created_at 1970-01-01T00:00:00Z")
    assert result.summary["ge_success"] is False and result.batch_issues == []


def test_the_summary_of_an_empty_batch_is_strict_json() -> None:
    result = gate([], "demo", Gate(), NOW)
    assert result.summary["expectations"]["volume"]["observed"] == 0
    json.loads(json.dumps(result.summary, allow_nan=False))  # an artifact and a task result must carry it


def test_a_file_dated_in_year_one_gets_a_limit_of_age_and_no_overflow() -> None:
    first = datetime(1, 1, 1, tzinfo=UTC)
    records = [(f"f:{i}", {"id": f"y{i}", "created_at": (first + timedelta(minutes=i)).isoformat(), "text": "t"})
               for i in range(30)]
    result = gate(records, "ancient", Gate(), NOW, newest=first + timedelta(minutes=29))
    assert len(result.mentions) + len(result.quarantined) == 30 and len(result.mentions) == 30
