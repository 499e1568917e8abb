"""The rules of an approval stage, without Prefect: who may decide, which answers count, and what a deadline does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crisiscomms.communication import signing
from crisiscomms.communication.approval import StageRecord, approvers, judge
from crisiscomms.playbook.models import Playbook

KEY = b"k" * 32
OPENED = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _stage(via: list[str] | None = None) -> StageRecord:
    return StageRecord(stage_id="run/validation/0/1", run_id="run", playbook="p", title="T", step="validation",
                       number=1, of=2, roles=["juridique"],
                       approvers=[{"name": "Sophie Lefèvre", "role": "juridique", "email": None, "notify": None},
                                  {"name": "Karim Benali", "role": "juridique", "email": None, "notify": None}],
                       hash="h" * 64, pack_path="", opened_at=OPENED.isoformat(),
                       deadline=(OPENED + timedelta(minutes=30)).isoformat(), via=via or ["link", "ui"])


def _answer(decision: str = "approve", name: str = "Sophie Lefèvre", comment: str = "", receipt: str = "",
            edits: str = "") -> dict[str, str]:
    return {"decision": decision, "name": name, "comment": comment, "edits": edits, "link_receipt": receipt}


def _receipt(stage: StageRecord, name: str, decision: str, comment: str = "") -> str:
    return signing.sign(KEY, "receipt", {"s": stage.stage_id, "p": name, "h": stage.hash, "d": decision,
                                         "c": signing.digest(comment), "i": "x"})


def test_the_people_of_a_stage_are_its_roles_members_once_and_never_the_author() -> None:
    playbook = Playbook.model_validate({
        "id": "p", "version": "1", "title": "T", "phases": {},
        "team": {"a": {"title": "A", "members": [{"name": "Claire Martin"}, {"name": "Julien Roche"}]},
                 "b": {"title": "B", "members": [{"name": "claire  MARTIN"}, {"name": "Léa Petit"}]}}})
    assert [(p.name, p.role) for p in approvers(playbook, ["a", "b"])] == [
        ("Claire Martin", "a"), ("Julien Roche", "a"), ("Léa Petit", "b")]
    assert [p.name for p in approvers(playbook, ["a", "b"], author="Claire Martin")] == ["Julien Roche", "Léa Petit"]


def test_answers_through_the_form_and_through_a_link_are_told_apart_and_recorded_with_the_role() -> None:
    stage = _stage()
    ui = judge(stage, _answer(), [], "", KEY, OPENED)
    link = judge(stage, _answer("reject", "Karim Benali", "non", _receipt(stage, "Karim Benali", "reject", "non")),
                 [], "", KEY, OPENED)
    assert (ui.entry["via"], ui.entry["role"], ui.approved_by, ui.outcome) == ("ui", "juridique", "Sophie Lefèvre",
                                                                               None)
    assert (link.entry["via"], link.outcome, link.refused) == ("link", "rejected", "")


@pytest.mark.parametrize(("answer", "approved", "author", "via", "why"), [
    (_answer(name="Claire Martin"), [], "", None, "is not one of the people who decide at this stage"),
    (_answer(), ["sophie lefevre"], "", None, "already approved at this stage"),
    (_answer(), [], "Sophie  LEFÈVRE", None, "its author cannot approve it"),
    (_answer(), [], "", ["link"], "through the personal link sent to each approver only"),
    (_answer(edits="summary: x"), [], "", None, "edits come with request_changes only"),
    (_answer("request_changes", edits="sumary: x"), [], "", None, "edits not usable"),
    (_answer(receipt="abc.def"), [], "", None, "the link receipt is not valid"),
])
def test_answers_that_cannot_count_are_refused_with_the_reason(answer: dict[str, str], approved: list[str],
                                                                author: str, via: list[str] | None,
                                                                why: str) -> None:
    verdict = judge(_stage(via), answer, approved, author, KEY, OPENED)
    assert why in verdict.refused and verdict.outcome is None and not verdict.approved_by
    assert verdict.entry["refused"] == verdict.refused


def test_a_receipt_counts_only_for_exactly_the_answer_stage_and_pack_it_was_signed_for() -> None:
    stage = _stage()
    good = _receipt(stage, "Sophie Lefèvre", "approve")
    assert judge(stage, _answer(receipt=good), [], "", KEY, OPENED).approved_by == "Sophie Lefèvre"
    for answer in (_answer("reject", receipt=good), _answer(comment="autre", receipt=good),
                   _answer(name="Karim Benali", receipt=good)):
        assert "does not match this answer" in judge(stage, answer, [], "", KEY, OPENED).refused
    forged = signing.sign(b"z" * 32, "receipt", {"s": stage.stage_id})
    assert "not issued by this crisis stack" in judge(stage, _answer(receipt=forged), [], "", KEY, OPENED).refused


def test_a_deadline_receipt_times_the_stage_out_only_once_the_deadline_has_passed() -> None:
    stage = _stage()
    deadline = signing.sign(KEY, "deadline", {"s": stage.stage_id})
    early = judge(stage, _answer(receipt=deadline), [], "", KEY, OPENED + timedelta(minutes=29))
    assert "has not passed" in early.refused and early.outcome is None
    late = judge(stage, _answer(receipt=deadline), [], "", KEY, OPENED + timedelta(minutes=30, seconds=1))
    assert (late.outcome, late.entry["decision"], late.entry["via"], late.refused) == ("timed_out", "timed_out",
                                                                                      "flow", "")
    other = signing.sign(KEY, "deadline", {"s": "run/validation/0/2"})
    assert "for another stage" in judge(stage, _answer(receipt=other), [], "", KEY, OPENED + timedelta(hours=1)).refused
    forged = signing.sign(b"z" * 32, "deadline", {"s": stage.stage_id})
    assert "not valid" in judge(stage, _answer(receipt=forged), [], "", KEY, OPENED + timedelta(hours=1)).refused


def test_an_answer_given_after_the_deadline_does_not_count() -> None:
    stage = _stage()
    late = judge(stage, _answer(), [], "", KEY, OPENED + timedelta(minutes=31))
    assert "deadline" in late.refused and "has passed" in late.refused and not late.approved_by
