"""The approval chain without Prefect: whole chains driven through the fake approver, with its clock; what each
answer does, what a timeout means, and what the chain decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crisiscomms.communication.answer import Answer
from crisiscomms.communication.chain import ApprovalChain, decide
from crisiscomms.communication.fake_approver import FakeApprover, FakeClock, Reply, Silence
from crisiscomms.errors import CrisisError
from crisiscomms.playbook.models import Playbook

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TEAM = {
    "juridique": {"title": "Juridique", "members": [{"name": "Sophie Lefèvre"}, {"name": "Karim Benali"}]},
    "communication": {"title": "Communication", "members": [{"name": "Claire Martin"}, {"name": "Julien Roche"},
                                                            {"name": "Léa Petit"}]},
    "direction": {"title": "Direction", "members": [{"name": "Marc Dubois"}]},
}
TWO_STAGES = [{"roles": ["juridique"], "timeout": "30m", "escalate_to": "direction"},
              {"roles": ["communication"], "quorum": 2, "timeout": "1h"}]


def _playbook(default: list[dict[str, Any]], chains: dict[str, Any] | None = None,
              via: list[str] | None = None) -> Playbook:
    approval: dict[str, Any] = {"default": default, "chains": chains or {}, **({"via": via} if via else {})}
    return Playbook.model_validate({"id": "p", "version": "1", "title": "T", "phases": {}, "team": TEAM,
                                    "communication": {"approval": approval}})


def _chain(default: list[dict[str, Any]] = TWO_STAGES, author: str = "", priority: str | None = None,
           **options: Any) -> ApprovalChain:
    pack = {"hash": "h" * 64, "path": "/packs/1.json", "author": author}
    return ApprovalChain.for_pack(_playbook(default, **options), pack, priority)


def _run(chain: ApprovalChain, *script: Reply | Silence) -> FakeApprover:
    fake = FakeApprover(script, FakeClock(START))
    decide(chain, fake)
    return fake


def _said(chain: ApprovalChain) -> list[tuple[Any, ...]]:
    return [(d["stage"], d["decision"], d["name"], d["role"], "refused" in d) for d in chain.decisions]


def test_a_two_stage_chain_with_a_quorum_an_author_and_an_escalation_decides_and_keeps_every_answer() -> None:
    chain = _chain(author="Claire Martin")
    fake = _run(chain, Silence(),  # legal lets its 30 minutes pass: the stage goes to the direction
                Reply("Marc Dubois", comment="OK pour la direction", after=600),
                Reply("Claire Martin"),  # she wrote the pack
                Reply("Julien Roche"), Reply("Julien Roche", after=5),  # twice is once
                Reply("Léa Petit", comment="Validé"))
    assert chain.decision() == "approved"
    assert _said(chain) == [
        (1, "timed_out", "", "juridique", False), (1, "approve", "Marc Dubois", "direction", False),
        (2, "approve", "Claire Martin", "", True), (2, "approve", "Julien Roche", "communication", False),
        (2, "approve", "Julien Roche", "communication", True), (2, "approve", "Léa Petit", "communication", False)]
    refused = [d["refused"] for d in chain.decisions if "refused" in d]
    assert "its author cannot approve it" in refused[0] and "already approved at this stage" in refused[1]
    assert chain.decisions[0]["comment"] == "no answer in 1800 s"
    assert [(s.stage_id, s.roles, [a["name"] for a in s.approvers]) for s in fake.opened] == [
        ("drill/approval/0/1", ["juridique"], ["Sophie Lefèvre", "Karim Benali"]),
        ("drill/approval/0/1e", ["direction"], ["Marc Dubois"]),
        ("drill/approval/0/2", ["communication"], ["Julien Roche", "Léa Petit"])]  # never the author
    escalated = fake.opened[1]  # opened at the first deadline, with a deadline of its own
    assert (escalated.opened_at, escalated.deadline) == ((START + timedelta(minutes=30)).isoformat(),
                                                         (START + timedelta(hours=1)).isoformat())
    assert [p.people for p in fake.prompts[-2:]] == [["Léa Petit"], ["Léa Petit"]]  # who approved is not asked
    assert "already approved" in fake.prompts[-1].refused
    assert [v.closes for v in fake.verdicts] == ["timed_out", "approved", "", "", "", "approved"]


def test_the_assessment_priority_picks_the_chain_and_no_chain_is_an_error() -> None:
    p1 = [{"roles": ["direction"], "timeout": "10m"}]
    assert _run(chain := _chain(chains={"p1": p1}, priority="p1"), Reply("Marc Dubois")).opened[0].roles == [
        "direction"]
    assert chain.decision() == "approved"
    assert _run(_chain(chains={"p1": p1}, priority="p3"), Reply("Sophie Lefèvre"), Silence()).opened[0].roles == [
        "juridique"]
    with pytest.raises(CrisisError, match="no approval chain for priority p2"):
        _chain(default=[], chains={"p1": p1}, priority="p2")


@pytest.mark.parametrize(("decision", "expected"), [("reject", "rejected"), ("request_changes", "changes_requested")])
def test_a_rejection_or_a_request_for_changes_ends_the_chain_at_its_stage(decision: str, expected: str) -> None:
    chain = _chain()
    fake = _run(chain, Reply("Karim Benali", decision, comment="Pas encore"))
    assert chain.decision() == expected and len(fake.opened) == 1 and len(chain.decisions) == 1


def test_a_stage_that_times_out_again_after_its_escalation_decides_timed_out_and_approves_nothing() -> None:
    chain = _chain()
    fake = _run(chain)  # nobody ever answers
    assert chain.decision() == "timed_out"
    assert [(d["decision"], d["role"]) for d in chain.decisions] == [("timed_out", "juridique"),
                                                                     ("timed_out", "direction")]
    assert len(fake.opened) == 2 and fake.clock.now() == START + timedelta(hours=1)


def test_without_escalate_to_a_timeout_ends_the_chain() -> None:
    chain = _chain([{"roles": ["juridique"], "timeout": "30m"}])
    assert len(_run(chain, Silence(), Reply("Sophie Lefèvre")).opened) == 1
    assert chain.decision() == "timed_out"


def test_approvals_given_before_a_timeout_still_count_after_the_escalation() -> None:
    chain = _chain([{"roles": ["juridique"], "quorum": 2, "timeout": "30m", "escalate_to": "direction"}])
    fake = _run(chain, Reply("Sophie Lefèvre"), Silence(), Reply("Marc Dubois"))
    assert chain.decision() == "approved"
    assert [d["decision"] for d in chain.decisions] == ["approve", "timed_out", "approve"]
    assert fake.prompts[-1].people == ["Marc Dubois"]


def test_a_late_answer_is_refused_and_the_stage_keeps_its_deadline() -> None:
    chain = _chain([{"roles": ["juridique"], "timeout": "30m"}])
    fake = _run(chain, Reply("Sophie Lefèvre", after=31 * 60))
    assert "has passed: it timed out" in chain.decisions[0]["refused"]
    assert chain.decision() == "timed_out" and len(fake.opened) == 1


def test_a_playbook_that_takes_links_only_refuses_the_form() -> None:
    chain = _chain([{"roles": ["juridique"], "timeout": "30m"}], via=["link"])
    _run(chain, Reply("Sophie Lefèvre", via="ui"), Reply("Sophie Lefèvre", via="link"))
    assert [(d["via"], "refused" in d) for d in chain.decisions] == [("ui", True), ("link", False)]
    assert chain.decision() == "approved"


def test_a_void_answer_never_counts() -> None:
    chain = _chain([{"roles": ["juridique"], "timeout": "30m"}])
    fake = FakeApprover([], FakeClock(START))
    chain.opened(fake.open(chain.open_stage()))  # type: ignore[arg-type]
    taken = chain.accept(Answer("approve", "Sophie Lefèvre", START, via="link", void="the link receipt is forged"))
    assert taken.refused == "the link receipt is forged" and chain.decision() is None
    assert chain.prompt() is not None  # the stage asks again


def test_edits_re_render_the_pack_and_the_whole_chain_starts_again_on_the_new_texts() -> None:
    chain = _chain()
    packs = []

    def rerender(edits: dict[str, Any]) -> dict[str, Any]:
        packs.append(edits)
        return {"hash": "n" * 64, "path": "/packs/2.json", "author": ""}

    fake = FakeApprover([Reply("Sophie Lefèvre"), Reply("Julien Roche", "request_changes", edits="summary: Corrigé."),
                         Reply("Karim Benali"), Reply("Léa Petit"), Reply("Claire Martin")], FakeClock(START))
    assert decide(chain, fake, rerender) == "approved"
    assert packs == [{"summary": "Corrigé."}]
    assert [(s.stage_id, s.hash[0]) for s in fake.opened] == [
        ("drill/approval/0/1", "h"), ("drill/approval/0/2", "h"), ("drill/approval/1/1", "n"),
        ("drill/approval/1/2", "n")]
    assert chain.pack["hash"] == "n" * 64 and chain.round == 1
    assert fake.prompts[-1].changed == "re-rendered with the edits of Julien Roche: summary"


def test_edits_that_break_the_pack_end_the_approval_and_the_request_is_told_why() -> None:
    chain = _chain()

    def rerender(edits: dict[str, Any]) -> dict[str, Any]:
        raise CrisisError("the press release is too long")

    fake = FakeApprover([Reply("Sophie Lefèvre", "request_changes", edits="summary: " + "x" * 10)], FakeClock(START))
    assert decide(chain, fake, rerender) == "changes_requested"
    assert [d["decision"] for d in chain.decisions] == ["request_changes", "rerender_failed"]
    assert "could not be re-rendered" in fake.verdicts[-1].refused and "too long" in fake.verdicts[-1].refused


def test_unusable_edits_are_refused_and_the_stage_asks_again() -> None:
    chain = _chain([{"roles": ["juridique"], "timeout": "30m"}])
    _run(chain, Reply("Karim Benali", "request_changes", edits="sumary: faute"),
         Reply("Karim Benali", "approve", edits="summary: x"), Reply("Karim Benali", "reject"))
    assert chain.decision() == "rejected"
    refused = [d["refused"] for d in chain.decisions if "refused" in d]
    assert "sumary" in refused[0] and "edits come with request_changes only" in refused[1]


def test_a_stage_nobody_but_the_author_can_decide_or_whose_quorum_cannot_be_reached_is_an_error() -> None:
    with pytest.raises(CrisisError, match="nobody but the pack's author holds direction"):
        _run(_chain([{"roles": ["direction"], "timeout": "30m"}], author="marc DUBOIS"))
    with pytest.raises(CrisisError, match="a quorum of 3 cannot be reached: only 2 people"):
        _run(_chain([{"roles": ["communication"], "quorum": 3, "timeout": "30m"}], author="Léa Petit"))
