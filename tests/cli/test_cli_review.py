"""`crisis review list | show | verify | compare` on a registry and reviews written as the review step writes them
(post-mortems from tests/review_samples.py, an evidence archive sealed with the project's key). No Prefect server."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from crisiscomms import clock
from crisiscomms.communication import signing
from crisiscomms.review import crises, evidence
from crisiscomms.review.markdown import render_markdown
from crisiscomms.review.model import PostMortem
from crisiscomms.stack.cli import app, playbooks
from tests import review_samples as samples

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"
RECALL, VIRE, DRILL = samples.CRISIS_ID, "rappel-produit-20250402-1", "exercice-20250301-1"
QUIET, UNDER_WAY = "cellule-de-crise-20250410-1", "cellule-de-crise-20250506-1"
NOW = datetime(2025, 5, 6, 10, 0, tzinfo=UTC)
ARCHIVE = f"evidence-{RECALL}-20250317T103200Z.zip"


def _at(day: int, month: int, hour: int) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture project, its state (registry, reviews, key) in a scratch folder; the clock at NOW."""
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv(clock.CLOCK_FILE, str(tmp_path / "clock"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(FIXTURES)
    clock.set_time(tmp_path / "clock", NOW)
    return tmp_path / "state"


def _open(playbook: str, at: datetime, closed: datetime | None = None, drill: bool = False) -> str:
    crisis = crises.join_or_open(FIXTURES, playbook, f"crise {playbook}", "Claire Martin", at)
    if closed:
        crises.close(FIXTURES, crisis.id, closed)
    if drill:
        crises.mark_drill(FIXTURES, crisis.id)
    return crisis.id


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project's state, made once (SQLite commits take their time): five crises — the recall, a drill, one
    opened by hand with nothing collected, one without a review, one under way — each but one with its review
    written as the review step writes it, and the recall's evidence archive sealed with the project's key."""
    state = tmp_path_factory.mktemp("written")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRISIS_STATE_DIR", str(state))
        assert _open("rappel-produit", samples.ALERT, samples.ALL_CLEAR) == RECALL
        assert _open("exercice", _at(1, 3, 9), _at(1, 3, 11), drill=True) == DRILL
        assert _open("rappel-produit", _at(2, 4, 8), _at(2, 4, 9)) == VIRE
        assert _open("cellule-de-crise", _at(10, 4, 10), _at(10, 4, 12)) == QUIET
        assert _open("cellule-de-crise", _at(6, 5, 7)) == UNDER_WAY
    for pm, markdown in ((samples.complete_postmortem(), True),
                         (_adjusted(samples.complete_postmortem(drill=True), id=DRILL, playbook="exercice"), True),
                         (samples.empty_postmortem(), False),  # only the JSON: `show` renders it
                         (_adjusted(samples.provisional_postmortem(), id=UNDER_WAY, playbook="cellule-de-crise"), True)):
        folder = state / "reviews" / pm.crisis.id
        folder.mkdir(parents=True)
        (folder / "post-mortem.json").write_text(pm.model_dump_json(indent=1), encoding="utf-8")
        if markdown:
            (folder / "post-mortem.md").write_text(render_markdown(pm), encoding="utf-8")
    folder = state / "reviews" / RECALL
    entries = [evidence.Entry(name="timeline.json", kind="timeline", data=b'{"events": ["alerte 08:05"]}'),
               evidence.Entry(name="report/post-mortem.md", kind="report",
                              data=(folder / "post-mortem.md").read_bytes())]
    evidence.write_evidence(folder / ARCHIVE, {"crisis": RECALL}, entries, signing.load_key(state))
    return state


def _adjusted(pm: PostMortem, **crisis: Any) -> PostMortem:
    return pm.model_copy(update={"crisis": pm.crisis.model_copy(update=crisis)})


@pytest.fixture
def registry(state: Path, written: Path) -> Path:
    """This test's copy of the written state; the recall's evidence archive."""
    shutil.copytree(written, state)
    return state / "reviews" / RECALL / ARCHIVE


def _crisis(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _table(text: str) -> list[list[str]]:
    """A printed table (up to the first blank line) as cells, cut where the header's columns start."""
    lines = text.split("\n\n")[0].splitlines()
    starts = [m.start() for m in re.finditer(r"(?:(?<=\s\s)|^)\S(?:\S| (?! ))*", lines[0])]
    starts = ([0] if starts[0] else []) + starts  # the row labels' column has no header
    ends = [*starts[1:], None]
    return [[line[a:b].strip() for a, b in zip(starts, ends, strict=True)] for line in lines]


def test_list_shows_every_crisis_newest_first_drills_marked_with_the_key_figures(registry: Path) -> None:
    done = _crisis("review", "list")
    assert done.exit_code == 0, done.output
    header, *rows = _table(done.stdout)
    assert header == ["ID", "DRILL", "PLAYBOOK", "OPENED (UTC)", "CLOSED (UTC)", "DURATION", "REVIEW", "DETECT",
                      "FIRST STATEMENT", "SENT", "MISSING"]
    assert rows == [
        [UNDER_WAY, "", "cellule-de-crise", "2025-05-06 07:00", "under way", "3 h 00 min so far", "provisional",
         "25 min", "47 min", "3", "8"],
        [QUIET, "", "cellule-de-crise", "2025-04-10 10:00", "2025-04-10 12:00", "2 h 00 min", "no review yet", "", "",
         "", ""],
        [VIRE, "", "rappel-produit", "2025-04-02 08:00", "2025-04-02 09:00", "1 h 00 min", "final", "—", "—", "—",
         "10"],
        [RECALL, "", "rappel-produit", "2025-03-14 08:05", "2025-03-14 15:00", "6 h 55 min", "final", "25 min",
         "47 min", "6", "5"],
        [DRILL, "DRILL", "exercice", "2025-03-01 09:00", "2025-03-01 11:00", "2 h 00 min", "final", "25 min",
         "47 min", "6", "5"]]


def test_list_filters_drills_and_gives_json(registry: Path) -> None:
    only = _crisis("review", "list", "--drills")
    assert [row[0] for row in _table(only.stdout)[1:]] == [DRILL]
    real = _crisis("review", "list", "--no-drills")
    assert DRILL not in real.stdout and RECALL in real.stdout
    listed = json.loads(_crisis("review", "list", "--json").stdout)
    assert [c["id"] for c in listed] == [UNDER_WAY, QUIET, VIRE, RECALL, DRILL]
    recall = listed[3]
    assert (recall["drill"], recall["duration_seconds"], recall["closed_at"]) == (False, 24900.0,
                                                                                  "2025-03-14T15:00:00+00:00")
    assert recall["review"] == {"provisional": False, "generated_at": "2025-03-17T10:32:00+00:00", "time_to_detect": 1500.0,
                                "time_to_first_statement": 2820.0, "messages_sent": 6, "missing": 5}
    assert (listed[1]["review"], listed[1]["no_review"]) == (None, "no review yet")
    assert listed[0]["review"]["provisional"] is True and listed[0]["closed_at"] is None


def test_an_empty_registry_says_how_a_crisis_is_opened_and_is_not_created(state: Path) -> None:
    done = _crisis("review", "list")
    assert done.exit_code == 0
    assert "no crisis was ever opened in this project" in done.stdout
    assert "`crisis run PLAYBOOK --phase assessment`" in done.stdout
    assert _crisis("review", "list", "--json").stdout.strip() == "[]"
    shown = _crisis("review", "show", RECALL)
    assert shown.exit_code == 2 and f"no crisis '{RECALL}': no crisis was ever opened" in shown.stderr
    nothing = _crisis("review", "compare")
    assert nothing.exit_code == 0 and "no reviewed real crisis to compare" in nothing.stdout
    assert not (state / "crises.db").exists()


def test_show_prints_the_latest_post_mortem(registry: Path) -> None:
    done = _crisis("review", "show", RECALL)
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("# Post-mortem — Rappel des yaourts nature Laiterie Duval (lot L2403)\n")
    assert done.stdout == (registry.parent / "post-mortem.md").read_text(encoding="utf-8")
    assert f"evidence {registry} (`crisis review verify` checks it)" in done.stderr
    data = json.loads(_crisis("review", "show", RECALL, "--json").stdout)
    assert data["crisis"]["id"] == RECALL and data["provisional"] is False
    rendered = _crisis("review", "show", VIRE)  # only the JSON was written: rendered from it
    assert rendered.exit_code == 0 and "# Post-mortem — Question d'un journaliste" in rendered.stdout


def test_a_provisional_post_mortem_is_flagged_at_the_top(registry: Path) -> None:
    done = _crisis("review", "show", UNDER_WAY)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines()[0] == ("PROVISIONAL post-mortem, as of 2025-03-14 11:30 UTC — the crisis is still "
                                           "under way")
    crises.close(FIXTURES, UNDER_WAY, NOW)
    closed = _crisis("review", "show", UNDER_WAY)
    assert "the crisis is now closed: run the review again for the final report" in closed.stdout.splitlines()[0]


def test_show_without_a_review_says_how_to_make_one_and_an_unknown_id_lists_the_latest(registry: Path) -> None:
    missing = _crisis("review", "show", QUIET)
    assert missing.exit_code == 1 and missing.stdout == ""
    assert (f"`crisis run cellule-de-crise --phase post_crisis --crisis {QUIET}`" in
            " ".join(missing.stderr.split()))
    assert _crisis("review", "show", QUIET, "--json").exit_code == 1
    unknown = _crisis("review", "show", "rappel-produit-20990101-1")
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output
    message = " ".join(unknown.stderr.split())
    assert "no crisis 'rappel-produit-20990101-1'" in message
    assert f"latest: {UNDER_WAY}, {QUIET}, {VIRE}, {RECALL}, {DRILL}" in message


def test_verify_an_intact_archive_with_the_projects_key(registry: Path) -> None:
    done = _crisis("review", "verify", str(registry))
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [f"{registry}: intact — 2 entries, their hashes, the chain and the seal check "
                                        "out"]
    assert "approval.key (this project's)" in done.stderr


def test_verify_finds_a_flipped_byte_and_a_foreign_key(registry: Path, tmp_path: Path) -> None:
    data = bytearray(registry.read_bytes())
    data[data.index(b"alerte 08:05") + 7] ^= 0x01  # 08:05 → 18:05
    changed = tmp_path / "changed.zip"
    changed.write_bytes(bytes(data))
    done = _crisis("review", "verify", str(changed))
    assert done.exit_code == 1
    assert "1 problem(s) found" in done.stdout and "entry 'timeline.json': content changed" in done.stdout
    other = tmp_path / "other.key"
    other.write_text("ab" * 32)
    foreign = _crisis("review", "verify", str(registry), "--key-file", str(other))
    assert foreign.exit_code == 1 and "HMAC mismatch: not sealed with this key" in foreign.stdout


def test_verify_refuses_what_is_no_archive_and_checks_without_a_key_outside_a_project(
        registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = _crisis("review", "verify", str(tmp_path / "none.zip"))
    assert missing.exit_code == 2 and "no such file, not an evidence archive" in missing.stderr
    text = tmp_path / "notes.zip"
    text.write_text("not a zip")
    not_zip = _crisis("review", "verify", str(text))
    assert not_zip.exit_code == 2 and "not a ZIP archive" in not_zip.stderr and not_zip.stdout == ""
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not hex")
    assert _crisis("review", "verify", str(registry), "--key-file", str(bad_key)).exit_code == 2
    monkeypatch.chdir(tmp_path)  # a regulator's folder: no project, no key
    keyless = _crisis("review", "verify", str(registry))
    assert keyless.exit_code == 0, keyless.output
    assert "note: no key given: only the hashes and the chain were checked" in keyless.stdout
    assert "no key: not in a crisiscomms project" in keyless.stderr


def test_verify_never_makes_a_key(registry: Path, state: Path) -> None:
    (state / signing.KEY_FILE).unlink()
    done = _crisis("review", "verify", str(registry))
    assert done.exit_code == 0 and "holds none (give --key-file)" in done.stderr
    assert not (state / signing.KEY_FILE).exists()


def test_compare_puts_the_reviewed_real_crises_side_by_side(registry: Path) -> None:
    done = _crisis("review", "compare")
    assert done.exit_code == 0, done.output
    header, *rows = _table(done.stdout)
    assert header == ["", RECALL, VIRE, f"{UNDER_WAY} (provisional)"]
    assert {label: cells for label, *cells in rows} == {
        "Duration": ["6 h 55 min", "1 h 00 min", "3 h 25 min"],
        "Time to detect": ["25 min", "—", "25 min"],
        "Time to first statement": ["47 min", "—", "47 min"],
        "Pack to release": ["34 min", "—", "34 min"],
        "Longest approval stage": ["22 min", "—", "22 min"],
        "Updates on time / late / missed": ["1 / 1 / 1", "— / — / —", "0 / 1 / 0"],
        "Messages sent": ["6", "—", "3"],
        "Sends failed": ["1", "—", "1"],
        "Sends in doubt": ["1", "—", "0"],
        "Sentiment back in its band": ["6 h 25 min", "—", "—"],
        "Estimated cost": ["1\u202f412.50 EUR", "—", "1\u202f412.50 EUR"],
    }
    assert done.stdout.endswith("\n\n—: not computed (`crisis review show CRISIS_ID` says why)\n")


def test_compare_named_crises_marks_a_drill_and_one_without_review(registry: Path) -> None:
    done = _crisis("review", "compare", DRILL, QUIET, RECALL)
    assert done.exit_code == 0, done.output
    header, duration, detect, *_ = _table(done.stdout)
    assert header == ["", f"{DRILL} DRILL", QUIET, RECALL]
    assert (duration, detect) == (["Duration", "6 h 55 min", "no review", "6 h 55 min"],
                                  ["Time to detect", "25 min", "", "25 min"])
    drills = _crisis("review", "compare", "--drills", "--json")
    assert [c["crisis"] for c in json.loads(drills.stdout)] == [DRILL]
    unknown = _crisis("review", "compare", RECALL, "nope")
    assert unknown.exit_code == 2 and "no crisis 'nope'" in unknown.stderr and unknown.stdout == ""


def test_compare_as_json_gives_raw_values(registry: Path) -> None:
    columns = json.loads(_crisis("review", "compare", RECALL, QUIET, "--json").stdout)
    recall, quiet = columns
    assert recall["review"] == "final" and recall["figures"] == {
        "duration": 24900.0, "time_to_detect": 1500.0, "time_to_first_statement": 2820.0, "pack_to_release": 2040.0,
        "approval_stage_max": 1320.0, "messages_sent": 6, "sends_failed": 1, "sends_in_doubt": 1,
        "sentiment_return": 23100.0, "cost_total": 1412.5, "updates_on_time": 1, "updates_late": 1,
        "updates_missed": 1}
    assert (quiet["review"], quiet["no_review"], set(quiet["figures"].values())) == (None, "no review yet", {None})


def test_run_takes_a_crisis_id_and_refuses_an_unknown_one_before_anything_runs(
        registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = _crisis("run", "note-log", "--phase", "post_crisis", "--crisis", "nope")
    assert unknown.exit_code == 2 and "no crisis 'nope'" in unknown.stderr
    called: dict[str, Any] = {}

    def run_playbook(**given: Any) -> SimpleNamespace:
        called.update(given)
        return SimpleNamespace(statuses={})

    monkeypatch.setattr(playbooks, "_use_server_or_embedded", lambda project: None)
    monkeypatch.setattr(playbooks, "_entrypoint", lambda entrypoint: run_playbook)
    done = _crisis("run", "note-log", "--phase", "post_crisis", "--crisis", QUIET)
    assert done.exit_code == 0, done.output
    assert called == {"playbook": "note-log", "phase": "post_crisis", "inputs": {}, "crisis_id": QUIET}


