"""`crisis monitor --input`: a file of mentions analysed offline; bad lines quarantined, counts reconcile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CRISIS = str(Path(sys.executable).parent / "crisis")
ENRICHED_FIELDS = {"id", "created_at", "text", "lang", "analysed", "sentiment", "keywords", "hashtags", "handles",
                   "relevance"}
ALERT_FIELDS = {"window_start", "window_end", "volume", "baseline", "score", "level", "kind"}


def _monitor(tmp: Path, source: Path) -> tuple[subprocess.CompletedProcess[str], Path, Path, Path]:
    out, alerts, bad = tmp / "enriched.jsonl", tmp / "alerts.jsonl", tmp / "bad.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([CRISIS, "monitor", "rappel-produit", "--input", str(source), "--out", str(out),
                           "--alerts", str(alerts), "--quarantine", str(bad)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
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
