"""Drills (`crisis drill`), as the session's drills show them (tests/integration/drilling.py): the demo's rehearsal
drill and a second drill of the same replay whose legal approver is slower, at the same time, each on its own stack
and clock with scripted approvers. Each completes, is scored from its own run history (the post-mortem code), and
the slower approver shows in its score by exactly the extra time; nothing reaches the live SMTP, webhook and Apprise
receivers the calling environment points at — for any drill of the session — while each drill's outbox holds every
message it sent; drills share no run, crisis or outbox."""

from __future__ import annotations

import pytest

from crisiscomms.review import crises
from crisiscomms.stack.server import saved_stack
from tests.backends import state_of

from .drilling import DEPLOYED, LEGAL, SLOW, SLOWER, Drilled

# Apprise imports imghdr (deprecated in Python 3.11, gone in 3.13): its warning, not ours.
pytestmark = [pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"), pytest.mark.server,
              pytest.mark.drill_stack]
QUICK = DEPLOYED
PAIR = (QUICK, SLOW)


def test_both_drills_complete_and_are_scored_from_their_own_run_history(drilled: Drilled) -> None:
    assert {name: drilled.by_name[name].code for name in PAIR} == {QUICK: 0, SLOW: 0}, [
        drilled.by_name[name].said[-2000:] for name in PAIR]
    for name in PAIR:
        score, pm = drilled.score(name), drilled.post_mortem(name)
        assert pm["crisis"]["drill"] is True and pm["crisis"]["closed_at"] and score["crisis"] == pm["crisis"]["id"]
        rows = {row["measure"]: row for row in score["rows"]}
        detect = next(f for f in pm["figures"] if f["key"] == "time_to_detect")["value"]
        assert rows["time to detect"]["value"] == f"{detect / 60:.0f} min"  # the review's figure, not the script's
        assert any(m.startswith("inject: false claim 'toute_la_production'") and rows[m]["met"] for m in rows)


def test_a_slower_approver_shows_in_the_score_by_exactly_the_extra_time(drilled: Drilled) -> None:
    def legal(name: str) -> list[float]:
        return [w["seconds"] for w in drilled.post_mortem(name)["approvals"] if w["approver"] == LEGAL]
    quick, slow = legal(QUICK), legal(SLOW)
    # Not always as many stages each: a pack's chain follows the priority of the assessment before it, and the
    # slower approver moves the later packs in the crisis. Every stage of hers moves by exactly the extra time.
    assert quick and slow
    assert all(q == 12 * 60 for q in quick) and all(s == (12 + SLOWER) * 60 for s in slow)
    over = [r for r in drilled.score(SLOW)["rows"] if LEGAL in r["measure"]]
    assert over and all(r["met"] is False and r["value"] == f"{12 + SLOWER} min" for r in over)  # target 20 min
    assert all(r["met"] for r in drilled.score(QUICK)["rows"] if LEGAL in r["measure"])


def test_no_drill_sends_by_a_real_channel_and_each_outbox_holds_every_message(drilled: Drilled) -> None:
    assert drilled.smtp == {} and drilled.hook == {}
    for name in drilled.by_name:
        pm = drilled.post_mortem(name)
        sent = [m for m in pm["sent"] if m["status"] == "sent"]
        if name in PAIR:
            assert {m["channel"] for m in sent} >= {"email_partenaires", "alerte_equipes", "mattermost"}
        outbox = drilled.folder(name) / "project" / ".crisis" / "outbox" / "exercice"
        kept = [p for p in outbox.rglob("*.json") if "approvals" not in p.parts]
        assert sent and len(kept) == len(sent), name


def test_drills_at_once_share_no_run_crisis_or_outbox(drilled: Drilled) -> None:
    folders = {name: drilled.folder(name) for name in drilled.by_name}
    assert len(set(folders.values())) == len(folders) and len({f.parent for f in folders.values()}) == 1
    runs: dict[str, set[str]] = {}
    for name, folder in folders.items():
        pm = drilled.post_mortem(name)
        assert len({r["id"] for r in pm["runs"]}) == len(pm["runs"]) > 0
        runs[name] = {r["id"] for r in pm["runs"]}
        assert {m["key"] for m in pm["sent"]} and (folder / "project" / ".crisis" / "crises.db").is_file()
    assert sum(map(len, runs.values())) == len(set().union(*runs.values()))  # no run in two drills
    stack = saved_stack(drilled.root)  # the project's own registry never saw them
    if stack is not None and stack.database:
        with state_of(stack):
            assert crises.listed(drilled.root) == []
    else:
        assert not (drilled.root / ".crisis" / "crises.db").exists()
