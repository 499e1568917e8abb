"""`crisis monitor --input`: a file of mentions analysed offline; bad lines quarantined, counts reconcile; each
output line carries its entities (offsets into the text) and the audience it comes from, with why."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crisiscomms.stack.project import Project

ROOT = Path(__file__).resolve().parents[2]
AUDIENCES = ROOT / "tests" / "fixtures" / "audiences"  # a playbook with audience rules and a default audience
CRISIS = str(Path(sys.executable).parent / "crisis")
ENRICHED_FIELDS = {"id", "created_at", "text", "lang", "analysed", "sentiment", "keywords", "hashtags", "handles",
                   "relevance", "entities", "segment", "segment_reason", "reach"}
ENTITY_FIELDS = {"text", "label", "start", "end"}
LABELS = {"PER", "ORG", "LOC", "MISC", "PRODUCT"}
ALERT_FIELDS = {"window_start", "window_end", "volume", "baseline", "score", "level", "kind"}


def _monitor(tmp: Path, source: Path, playbook: str = "rappel-produit",
             project: Path = ROOT) -> tuple[subprocess.CompletedProcess[str], Path, Path, Path]:
    out, alerts, bad = tmp / "enriched.jsonl", tmp / "alerts.jsonl", tmp / "bad.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([CRISIS, "monitor", playbook, "--input", str(source), "--out", str(out),
                           "--alerts", str(alerts), "--quarantine", str(bad)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    return done, out, alerts, bad


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def messy_file(tmp_path: Path) -> Path:
    good = [{"id": f"ok-{i}", "created_at": f"2026-03-12T08:{i:02d}:00Z", "text": f"Rappel Laiterie Duval numéro {i}"}
            for i in range(20)]
    lines = [json.dumps(g, ensure_ascii=False).encode() for g in good]
    lines += [
        b'{"id": "broken", "created_at": "2026-03-12T08:00:00Z", "text": "unterminated',  # broken JSON
        b'{"id": "no-text", "created_at": "2026-03-12T08:00:00Z"}',                         # missing field
        b'{"id": ["a"], "created_at": 12, "text": {"nested": true}}',                       # wrong types
        b'{"id": "ok-3", "created_at": "2026-03-12T09:00:00Z", "text": "duplicate id"}',    # duplicate id
        b'{"id": "future", "created_at": "2099-01-01T00:00:00Z", "text": "from the future"}',
        json.dumps({"id": "huge", "created_at": "2026-03-12T08:00:00Z", "text": "x" * 1_048_576}).encode(),
        b"\x00\x01\x02\xff\xfe binary garbage \x00",
        '{"id": "latin1", "created_at": "2026-03-12T08:00:00Z", "text": "café crème"}'.encode("latin-1"),
        b"[1, 2, 3]",
    ]
    path = tmp_path / "messy.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_messy_input_is_processed_where_valid_and_quarantined_with_reasons(messy_file: Path, tmp_path: Path) -> None:
    done, out, alerts, bad = _monitor(tmp_path, messy_file)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "read 29 = processed 20 + quarantined 9" in done.stderr
    enriched, quarantined = _lines(out), _lines(bad)
    assert {e["id"] for e in enriched} == {f"ok-{i}" for i in range(20)}
    assert all(set(e) >= ENRICHED_FIELDS for e in enriched)
    # "Rappel Laiterie Duval numéro i": the playbook's brand is an organisation; each mention gets one of the
    # playbook's audiences (or `unassigned` when it names no default), with the reason.
    assert all({"text": "Laiterie Duval", "label": "ORG", "start": 7, "end": 21} in e["entities"] for e in enriched)
    audiences = set(Project(ROOT).load("rappel-produit").playbook.audiences)
    assert all(e["segment"] in audiences | {"unassigned"} and e["segment_reason"] for e in enriched)
    assert all(q["reasons"] and "messy.jsonl:" in q["position"] for q in quarantined)
    reasons = " ".join(r for q in quarantined for r in q["reasons"])
    for expected in ("JSON", "text", "duplicate id 'ok-3'", "future", "longer than", "UTF-8"):
        assert expected in reasons, expected
    assert alerts.read_text() == "" or all(set(a) >= ALERT_FIELDS for a in _lines(alerts))


def test_a_real_crisis_file_gets_languages_flagged_and_a_spike_alert(tmp_path: Path) -> None:
    source = tmp_path / "spain.jsonl"
    lines = (ROOT / "data" / "crisislex" / "2013_Spain_train_crash.jsonl").read_text(encoding="utf-8").splitlines()
    source.write_text("\n".join(json.dumps({k: v for k, v in json.loads(x).items() if k != "gold"}) for x in lines)
                      + "\n", encoding="utf-8")
    done, out, alerts, _ = _monitor(tmp_path, source)
    assert done.returncode == 0, done.stderr[-3000:]
    enriched = _lines(out)
    assert len(enriched) == 1000
    by_lang = {e["lang"]: e for e in enriched}
    assert by_lang["en"]["analysed"] is True and by_lang["es"]["analysed"] is False
    assert by_lang["es"]["sentiment"] is None
    raised = _lines(alerts)
    assert raised and all(set(a) >= ALERT_FIELDS for a in raised)


# Who speaks, where and what: one mention per audience rule of tests/fixtures/audiences, and what no rule claims.
# id → (author, channel, text, expected segment, expected segment_reason)
SPEAKERS: dict[str, tuple[str | None, str | None, str, str, str]] = {
    "afp": ("@afpfr", None, "La Laiterie Duval rappelle des yaourts vendus en Normandie",
            "journalistes", "author @afpfr is listed"),
    "retweet": ("jean_dupont", None, "RT @BFMTV: Rappel Laiterie Duval : des yaourts contaminés à Caen",
                "journalistes", "retweeted author @BFMTV is listed"),
    "regional": ("ouest_info", None, "Rappel : la Laiterie Duval retire ses yaourts nature à Rennes",
                 "journalistes", "author @ouest_info contains 'info'"),
    "intranet": (None, "intranet", "Courage à toutes les équipes de la Laiterie Duval à Vire, on tient bon",
                 "salaries", "channel 'intranet' is listed"),
    "linkedin": ("claire.martin", "LinkedIn", "Fière de nos équipes de la Laiterie Duval pendant ce rappel",
                 "salaries", "channel 'LinkedIn' is listed"),
    "authority": ("marc_b", None, "La DGCCRF demande le retrait de tous les yaourts Laiterie Duval",
                  "autorites", "names the entity 'DGCCRF'"),
    "scoop": ("marc_b", None, "Selon nos informations, la Laiterie Duval savait depuis janvier",
              "journalistes", "says 'selon nos informations'"),
    "parent": ("marie_l", None, "Mon fils est malade après un yaourt Laiterie Duval 😡 #rappelconso",
               "clients", "no rule matched: default audience"),
    "english": ("jo", None, "Laiterie Duval recalls yogurts sold in London #foodsafety",
                "clients", "no rule matched: default audience"),
    "spanish": ("pepe", None, "La Laiterie Duval retira sus yogures en Madrid por una contaminación con listeria",
                "clients", "no rule matched: default audience"),
}
AUDIENCE_NAMES = {"journalistes", "salaries", "autorites", "clients"}  # clients is the default


@pytest.fixture(scope="module")
def audience_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """`crisis monitor veille-marque` over SPEAKERS (one run for the tests below): output lines by id."""
    tmp = tmp_path_factory.mktemp("audiences")
    project = tmp / "project"
    shutil.copytree(AUDIENCES, project)
    source = tmp / "mentions.jsonl"
    records = []
    for i, (key, (author, channel, text, _, _)) in enumerate(SPEAKERS.items()):
        record = {"id": key, "created_at": f"2026-03-12T08:{i:02d}:00Z", "text": text, "author": author,
                  "channel": channel}
        records.append({k: v for k, v in record.items() if v is not None})
    records[-3]["reach"] = 12_000  # "parent": followers, as an export gives them
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    done, out, _, _ = _monitor(tmp, source, "veille-marque", project)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"read {len(SPEAKERS)} = processed {len(SPEAKERS)} + quarantined 0" in done.stderr
    return {line["id"]: line for line in _lines(out)}


def test_every_output_line_carries_entities_whose_offsets_slice_the_text(
        audience_run: dict[str, dict[str, Any]]) -> None:
    assert set(audience_run) == set(SPEAKERS)
    for line in audience_run.values():
        assert set(line) >= ENRICHED_FIELDS
        assert isinstance(line["entities"], list)
        for entity in line["entities"]:
            assert set(entity) == ENTITY_FIELDS and entity["label"] in LABELS
            assert line["text"][entity["start"]:entity["end"]] == entity["text"], (line["id"], entity)
    assert sum(len(line["entities"]) for line in audience_run.values()) >= 15


def test_a_french_or_english_brand_mention_gives_the_brand_as_an_organisation(
        audience_run: dict[str, dict[str, Any]]) -> None:
    for key, line in audience_run.items():
        if key == "spanish":
            continue
        assert line["lang"] in ("fr", "en") and line["analysed"] is True, key
        start = line["text"].index("Laiterie Duval")
        brand = {"text": "Laiterie Duval", "label": "ORG", "start": start, "end": start + 14}
        assert [e for e in line["entities"] if e["start"] < brand["end"] and brand["start"] < e["end"]] == [brand]
    assert {"text": "DGCCRF", "label": "ORG", "start": 3, "end": 9} in audience_run["authority"]["entities"]


def test_a_language_the_playbook_does_not_analyse_gets_no_entities_but_still_an_audience(
        audience_run: dict[str, dict[str, Any]]) -> None:
    spanish = audience_run["spanish"]
    assert (spanish["lang"], spanish["analysed"], spanish["sentiment"], spanish["entities"]) == ("es", False, None, [])
    assert "Laiterie Duval" in spanish["keywords"]  # still about the brand
    assert spanish["segment"] == "clients"


def test_every_output_line_gets_one_audience_of_the_playbook_and_the_reason(
        audience_run: dict[str, dict[str, Any]]) -> None:
    assert {line["segment"] for line in audience_run.values()} == AUDIENCE_NAMES  # every rule kind is exercised
    for key, (_, _, _, segment, reason) in SPEAKERS.items():
        assert (audience_run[key]["segment"], audience_run[key]["segment_reason"]) == (segment, reason), key


def test_the_reach_a_source_gives_is_kept_in_the_output(audience_run: dict[str, dict[str, Any]]) -> None:
    assert audience_run["parent"]["reach"] == 12_000
    assert audience_run["afp"]["reach"] is None  # not given: unknown, not zero


# --- what `crisis monitor` reads, and what it leaves when it does not finish ---------------------------------


def _record(i: int) -> dict[str, str]:
    return {"id": f"m-{i}", "created_at": f"2026-03-12T08:{i:02d}:00Z", "text": f"Rappel Laiterie Duval numéro {i}"}


def test_a_last_line_without_newline_is_read(tmp_path: Path) -> None:
    source = tmp_path / "ten.jsonl"
    source.write_text("\n".join(json.dumps(_record(i)) for i in range(10)), encoding="utf-8")  # no final newline
    done, out, _, bad = _monitor(tmp_path, source)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "read 10 = processed 10 + quarantined 0" in done.stderr and "note:" not in done.stderr
    assert [e["id"] for e in _lines(out)] == [f"m-{i}" for i in range(10)] and _lines(bad) == []


def test_a_csv_input_is_read_by_its_name_with_a_mapping_and_a_stray_quote_costs_one_row(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    rows = [f'{i},2026-03-12T08:{i:02d}:00Z,"Rappel Laiterie Duval, lot {i}"' for i in range(30)]
    rows[5] = '5,2026-03-12T08:05:00Z,"Rappel Laiterie Duval sans guillemet fermant'
    source.write_text("tweet_id,date,body\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out, bad = tmp_path / "enriched.jsonl", tmp_path / "bad.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([CRISIS, "monitor", "rappel-produit", "--input", str(source), "--out", str(out),
                           "--quarantine", str(bad), "--map", "id=tweet_id", "--map", "created_at=date",
                           "--map", "text=body"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "read 30 = processed 29 + quarantined 1" in done.stderr
    assert [e["id"] for e in _lines(out)] == [str(i) for i in range(30) if i != 5]
    assert _lines(out)[0]["text"] == "Rappel Laiterie Duval, lot 0"
    [stray] = _lines(bad)
    assert stray["position"] == f"{source}:7" and stray["raw"] == rows[5]
    assert stray["reasons"] == ["a quoted field opened on this line runs to line 8, where the row is wrong: "
                                "not a CSV row: ',' expected after '\"'"]


def test_format_csv_reads_a_csv_whatever_its_name(tmp_path: Path) -> None:
    source = tmp_path / "export.txt"
    source.write_text("id,created_at,text\n" + "".join(f"{r['id']},{r['created_at']},{r['text']}\n"
                                                       for r in map(_record, range(5))), encoding="utf-8")
    out = tmp_path / "enriched.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([CRISIS, "monitor", "rappel-produit", "--input", str(source), "--out", str(out),
                           "--format", "csv"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "read 5 = processed 5 + quarantined 0" in done.stderr
    assert [e["id"] for e in _lines(out)] == [f"m-{i}" for i in range(5)]


@pytest.mark.parametrize(("signal_number", "code", "said"), [(signal.SIGTERM, 143, "terminated (SIGTERM)"),
                                                             (signal.SIGINT, 130, "interrupted (Ctrl-C)")])
def test_an_interrupted_run_leaves_its_outputs_as_they_were_and_says_where_it_stopped(
        tmp_path: Path, signal_number: int, code: int, said: str) -> None:
    source = tmp_path / "mentions.jsonl"
    source.write_text("".join(json.dumps(_record(i)) + "\n" for i in range(50)), encoding="utf-8")
    out, bad = tmp_path / "enriched.jsonl", tmp_path / "bad.jsonl"
    out.write_text("an earlier run's output\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    running = subprocess.Popen([CRISIS, "monitor", "rappel-produit", "--input", str(source), "--out", str(out),
                                "--quarantine", str(bad)], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(tmp_path.glob(".enriched.jsonl.*.part")) or running.poll() is not None)
        running.send_signal(signal_number)  # the run has its temporary files: it is under way
        _, stderr = running.communicate(timeout=120)
    finally:
        running.kill()
    assert running.returncode == code, stderr[-3000:]
    assert f"crisis monitor {said}." in stderr
    assert re.search(rf"{re.escape(str(source))}: stopped (after|before) line \d+ \(byte [\d,]+ of "
                     rf"{source.stat().st_size:,}\); the \d+ record\(s\) read by then \(\d+ processed, \d+ "
                     r"quarantined\) had gone to temporary files, now removed; "
                     rf"{re.escape(str(bad))}, {re.escape(str(out))} left as before", stderr), stderr
    assert out.read_text(encoding="utf-8") == "an earlier run's output\n" and not bad.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enriched.jsonl", "mentions.jsonl"]  # nothing half-done


def test_two_outputs_naming_one_file_or_the_input_are_refused_before_anything_runs(tmp_path: Path) -> None:
    source = tmp_path / "mentions.jsonl"
    source.write_text(json.dumps(_record(1)) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    for extra, said in ((["--out", str(tmp_path / "o.jsonl"), "--quarantine", str(tmp_path / "o.jsonl")],
                         f"--out {tmp_path / 'o.jsonl'} is the same file as --quarantine"),
                        (["--out", str(source)], f"--out {source} is the same file as --input"),
                        (["--out", str(tmp_path / "o.jsonl"), "--map", "txt=body"],
                         "mapping names txt, which are not mention fields")):
        done = subprocess.run([CRISIS, "monitor", "rappel-produit", "--input", str(source), *extra], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 1 and said in done.stderr, done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mentions.jsonl"]


def _wait_for(condition: Callable[[], bool], deadline: float = 120) -> None:
    """Poll until `condition` holds (a wait, not a speed requirement: the deadline only stops a hung test)."""
    give_up = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < give_up, "the condition never held"
        time.sleep(0.02)
