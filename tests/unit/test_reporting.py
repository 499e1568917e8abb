"""The monitoring artifact: the numbers a comms team looks at, as Markdown the Prefect UI renders."""

from __future__ import annotations

from crisiscomms.report.reporting import monitoring_markdown, sparkline


def test_sparkline_scales_to_the_highest_value() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == "▁▁▂▄█"
    assert sparkline([]) == ""


def test_the_report_reconciles_counts_and_shows_volume_against_baseline_and_alerts() -> None:
    windows = [{"start": f"2026-03-12T08:{m:02d}:00+00:00", "end": f"2026-03-12T08:{m + 5:02d}:00+00:00",
                "volume": v, "negative": v // 2, "analysed": v, "keywords": {"rappel": v}, "hashtags": {}}
               for m, v in zip(range(0, 50, 5), [2, 3, 2, 2, 3, 2, 40, 80, 60, 30], strict=True)]
    passes = [{"source": "demo", "read": 10, "processed": 9, "quarantined": 1, "alerts": [],
               "gate": {"expectations": {"unique_id": {"success": False, "unexpected": 1}}}},
              {"source": "presse", "read": 0, "processed": 0, "quarantined": 0, "failure": "timeout",
               "alerts": [{"kind": "data_gap", "level": "alert", "window_start": "2026-03-12T08:45:00Z",
                           "volume": 0, "baseline": 0.0, "score": 0.0, "reason": "data gap on 'presse'"}]}]
    markdown = monitoring_markdown("rappel-produit", passes, {"windows": windows, "alerts": []})
    assert "| **total** | **10** | **9** | **1** | |" in markdown
    assert "| `presse` | 0 | 0 | 0 | ❌ timeout |" in markdown
    assert "| 2026-03-12T08:30:00+00:00 | 40 | 2.0 | 20 |" in markdown  # baseline: median of the windows before
    assert "**Top keywords**: rappel (224)" in markdown
    assert "| data_gap | **alert** |" in markdown
    assert "unique_id ❌ 1" in markdown
