"""Approval of a message pack: the run pauses, the chain answers through the Resume form's input, the decision
and every answer are recorded; refusals, rejection and timeouts never approve."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from crisiscomms.communication import signing
from crisiscomms.communication.approval import ApprovalStore
from crisiscomms.playbook.steps import ApprovalRecord, PackRecord, ReleaseRecord
from flows.engine import RunHistory, walk_phase
from tests.sent import as_sent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))  # never the checkout's .crisis/


@flow
def _communication(playbook: str) -> RunHistory:
    return walk_phase(str(FIXTURES), playbook, "communication", {}, RunHistory())


class Running:
    """The phase flow in a thread, so the test can answer its pauses as an approver would."""

    def __init__(self, playbook: str) -> None:
        self.result: RunHistory | None = None
        self.thread = threading.Thread(target=self._run, args=(playbook,), daemon=True)
        self.thread.start()

    def _run(self, playbook: str) -> None:
        self.result = _communication(playbook)

    def answer(self, decision: str, name: str, comment: str = "", edits: str = "", receipt: str = "") -> None:
        run_id = _paused_run(timeout=60)
        resume_flow_run(run_id, run_input={"decision": decision, "name": name, "comment": comment,
                                           "edits": edits, "link_receipt": receipt})
        _wait_until_not_paused(run_id)

    def done(self) -> RunHistory:
        self.thread.join(timeout=120)
        assert self.result is not None, "the phase did not finish"
        return self.result

    def approval(self, step_id: str = "approval") -> ApprovalRecord:
        return self.done().record(step_id, ApprovalRecord)


def _paused_run(timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))
            if runs:
                return runs[0].id
            time.sleep(0.2)
    raise AssertionError("no paused run")


def _wait_until_not_paused(run_id: Any) -> None:
    with get_client(sync_client=True) as client:
        for _ in range(100):
            if client.read_flow_run(run_id).state.type != StateType.PAUSED:
                return
            time.sleep(0.1)


def test_the_whole_chain_approves_with_a_quorum_of_different_people() -> None:
    run = Running("message-approve")
    run.answer("approve", "Sophie Lefèvre", "Faits vérifiés")
    run.answer("approve", "Claire Martin")
    run.answer("approve", "Julien Roche", comment="{{ ''.__class__ }}")
    history = run.done()
    record = history.record("approval", ApprovalRecord)
    assert record.decision == "approved"
    assert record.hash == history.record("pack", PackRecord).hash
    assert [(d["stage"], d["name"], d["role"], d["via"], "refused" in d) for d in record.decisions] == [
        (1, "Sophie Lefèvre", "juridique", "ui", False), (2, "Claire Martin", "communication", "ui", False),
        (2, "Julien Roche", "communication", "ui", False)]
    assert record.decisions[2]["comment"] == "{{ ''.__class__ }}"  # kept as typed: data, never rendered
    released = history.record("release", ReleaseRecord)
    assert (released.status, released.hash) == ("released", record.hash)
    (receipt,) = released.receipts
    assert receipt["status"] == "sent"
    sent = json.loads(Path(receipt["detail"].removeprefix("file ")).read_text(encoding="utf-8"))
    pack = json.loads(Path(history.record("pack", PackRecord).path).read_text(encoding="utf-8"))
    state = Path(os.environ["CRISIS_STATE_DIR"])
    assert sent["text"] == as_sent(state, pack, pack["variants"][0])  # the approved bytes, the promised time written in


def test_the_form_offers_only_the_stage_people_and_the_server_refuses_anyone_else() -> None:
    run = Running("message-approve")
    run_id = _paused_run(timeout=60)
    for name in ("Claire Martin", "claire martin", "Stagiaire"):  # communication decides at stage 2, not 1
        with pytest.raises(RuntimeError, match="Cannot resume this run"):
            resume_flow_run(run_id, run_input={"decision": "approve", "name": name, "comment": "",
                                               "edits": "", "link_receipt": ""})
    run.answer("reject", "Sophie Lefèvre", "Le lot n'est pas confirmé")
    history = run.done()
    record = history.record("approval", ApprovalRecord)
    assert record.decision == "rejected"
    assert history.status("release") == "skipped" and not history.has_result("release")
    assert [(d["name"], d["comment"]) for d in record.decisions] == [("Sophie Lefèvre", "Le lot n'est pas confirmé")]


def _receipt(stage_id: str, name: str, digest: str, decision: str, comment: str) -> str:
    key = signing.load_key(Path(os.environ["CRISIS_STATE_DIR"]))
    return signing.sign(key, "receipt", {"s": stage_id, "p": name, "h": digest, "d": decision,
                                         "c": signing.digest(comment), "i": "test"})


def _escalated(run_id: Any, wait: float = 60.0) -> None:
    """Until the run waits on the escalated stage (not a fixed sleep: how soon the first stage opens varies)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        stage, _ = _open_stage(run_id)
        if stage is not None and stage.stage_id.endswith("e"):
            return
        time.sleep(0.2)
    raise AssertionError("the stage never escalated")


def _open_stage(run_id: Any) -> Any:
    store = ApprovalStore(Path(os.environ["CRISIS_STATE_DIR"]))
    try:
        with get_client(sync_client=True) as client:
            key = client.read_flow_run(run_id).state.state_details.pause_key
        return store.waiting_stage(str(run_id), key), key
    finally:
        store.close()


def test_a_link_answer_needs_a_receipt_signed_for_exactly_that_answer_stage_and_pack() -> None:
    run = Running("message-approve")
    run_id = _paused_run(timeout=60)
    stage, _ = _open_stage(run_id)
    forged = signing.sign(b"x" * 32, "receipt", {"s": stage.stage_id, "p": "Sophie Lefèvre", "h": stage.hash,
                                                 "d": "approve", "c": signing.digest(""), "i": "f"})
    run.answer("approve", "Sophie Lefèvre", receipt=forged)  # not our key
    run.answer("approve", "Sophie Lefèvre", comment="autre", receipt=_receipt(
        stage.stage_id, "Sophie Lefèvre", stage.hash, "approve", ""))  # signed for another comment
    run.answer("approve", "Sophie Lefèvre", receipt=_receipt(stage.stage_id, "Sophie Lefèvre", stage.hash,
                                                             "approve", ""))
    run.answer("reject", "Claire Martin", "non")
    record = run.approval()
    refused = [d.get("refused", "") for d in record.decisions]
    assert "not issued by this crisis stack" in refused[0] and "does not match this answer" in refused[1]
    assert [(d["via"], "refused" in d) for d in record.decisions] == [
        ("link", True), ("link", True), ("link", False), ("ui", False)]


def test_a_refusal_is_recorded_against_its_pause_and_keeps_the_stage_deadline() -> None:
    run = Running("approval-edits")
    run_id = _paused_run(timeout=60)
    before, key = _open_stage(run_id)
    time.sleep(1.5)
    run.answer("approve", "Julien Roche", edits="summary: pas avec une approbation")  # refused: asks again
    after, second = _open_stage(_paused_run(timeout=60))
    assert second != key and after.deadline == before.deadline
    store = ApprovalStore(Path(os.environ["CRISIS_STATE_DIR"]))
    try:
        verdict, reason = store.answer(str(run_id), key)
    finally:
        store.close()
    assert verdict == "refused" and "edits come with request_changes only" in reason
    with get_client(sync_client=True) as client:  # the form that comes back says it first
        description = client.read_flow_run_input(run_id, f"paused-{second}-description")
    assert json.loads(description).startswith("**Refused:** edits come with request_changes only")
    run.answer("reject", "Julien Roche")
    assert run.approval("approval_step").decision == "rejected"


def test_a_request_for_changes_stops_the_chain() -> None:
    run = Running("message-approve")
    run.answer("request_changes", "Sophie Lefèvre", "Retirer la citation")
    record = run.approval()
    assert record.decision == "changes_requested" and len(record.decisions) == 1


def test_a_stage_that_times_out_escalates_once_then_times_out_without_approving() -> None:
    run = Running("approval-timeout")
    record = run.approval()
    assert record.decision == "timed_out"
    assert [d["decision"] for d in record.decisions] == ["timed_out", "timed_out"]
    assert record.decisions[1]["role"] == "communication"  # the escalation's role


def test_a_timed_out_stage_never_shows_the_run_as_failed_and_the_server_leaves_the_deadline_to_the_run() -> None:
    run = Running("approval-timeout")
    run_id = _paused_run(timeout=60)
    with get_client(sync_client=True) as client:
        paused = client.read_flow_run(run_id).state
        # The server fails a pause at its own expiry: set well past the stage's 2 s, it only ever fails a run whose
        # process died (else it raced the run's own timeout and wrote a Failed state into the audit trail).
        assert (paused.state_details.pause_timeout - paused.timestamp).total_seconds() > 60
        assert run.approval().decision == "timed_out"
        states = client.read_flow_run_states(run_id)
    assert StateType.FAILED not in {s.type for s in states}, [s.name for s in states]


def test_the_escalated_role_can_approve_after_a_timeout() -> None:
    run = Running("approval-timeout")
    _escalated(_paused_run(timeout=60))  # legal does not answer within its 2 s: the stage goes to its backup
    run.answer("approve", "Julien Roche")
    record = run.approval()
    assert record.decision == "approved"
    assert [d["decision"] for d in record.decisions] == ["timed_out", "approve"]


def test_the_author_of_the_pack_cannot_approve_it() -> None:
    run = Running("approval-edits")
    run_id = _paused_run(timeout=60)
    with pytest.raises(RuntimeError, match="Cannot resume this run"):  # not even offered in the form
        resume_flow_run(run_id, run_input={"decision": "approve", "name": "Claire Martin", "comment": "",
                                           "edits": "", "link_receipt": ""})
    stage, _ = _open_stage(run_id)
    assert [a["name"] for a in stage.approvers] == ["Julien Roche"]
    run.answer("approve", "Julien Roche", edits="summary: x")  # refused: edits go with request_changes
    run.answer("approve", "Julien Roche")
    record = run.approval("approval_step")
    assert record.decision == "approved"
    with get_client(sync_client=True) as client:  # the audit table on the run: decision, refused, reason first
        tables = [a for a in client.read_artifacts() if a.key == "approval-edits-approval-step-approval"]
    table = max(tables, key=lambda a: a.created)  # other tests of this session made some with the same key
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [list(r)[:3] for r in rows] == [["decision", "refused", "reason"]] * 2
    assert [(r["name"], r["decision"], r["refused"]) for r in rows] == [
        ("Julien Roche", "approve", "REFUSED"), ("Julien Roche", "approve", "")]
    assert table.description.startswith(f"approved: pack {record.hash}")


def test_edits_re_render_the_pack_and_the_new_texts_need_a_new_approval() -> None:
    run = Running("approval-edits")
    run.answer("request_changes", "Julien Roche", comment="Préciser", edits="summary: Résumé corrigé après appel.")
    run.answer("approve", "Julien Roche")  # the second round approves the edited texts
    history = run.done()
    record, pack = history.record("approval_step", ApprovalRecord), history.record("pack", PackRecord)
    assert record.decision == "approved"
    assert [d["decision"] for d in record.decisions] == ["request_changes", "approve"]
    assert record.decisions[0]["edits"] == {"summary": "Résumé corrigé après appel."}
    assert (record.hash, record.path) == (pack.hash, pack.path)  # the re-rendered pack is the one
    kept = json.loads(Path(pack.path).read_text(encoding="utf-8"))
    assert "Résumé corrigé après appel." in kept["variants"][0]["text"]
    assert "Premier résumé." not in kept["variants"][0]["text"]
    sent = history.record("release", ReleaseRecord).receipts
    assert [r["status"] for r in sent] == ["sent"]
    outbox = Path(sent[0]["detail"].removeprefix("file "))
    state = Path(os.environ["CRISIS_STATE_DIR"])
    assert json.loads(outbox.read_text(encoding="utf-8"))["text"] == as_sent(state, kept, kept["variants"][0])


def test_unusable_edits_are_refused_and_the_stage_asks_again() -> None:
    run = Running("approval-edits")
    run.answer("request_changes", "Julien Roche", edits="sumary: faute de frappe")
    run.answer("approve", "Julien Roche", edits="summary: pas avec une approbation")
    run.answer("reject", "Julien Roche", comment="On attend")
    record = run.approval("approval_step")
    assert record.decision == "rejected"
    refused = [d["refused"] for d in record.decisions if "refused" in d]
    assert "sumary" in refused[0] and "edits come with request_changes only" in refused[1]


def test_release_refuses_anything_not_approved() -> None:
    import pytest

    from crisiscomms.communication import release
    from crisiscomms.playbook.steps import MessageRelease
    from crisiscomms.stack.project import Project
    from tasks.release import release_pack

    step = MessageRelease(id="release", type="message.release", approval="approval", pack="pack")
    frozen = Project(FIXTURES).freeze("message-release")
    for decision in ("rejected", "changes_requested", "timed_out"):
        approval = {"decision": decision, "hash": "x", "priority": None, "decisions": []}
        context = frozen.context("communication", {}, {"approval": approval, "pack": {"path": "/nope"}})
        with pytest.raises(release.ReleaseRefused, match=f"not approved \\({decision}\\): nothing released"):
            release_pack.fn(step, context)


def test_crisis_pending_and_approve_answer_from_the_terminal(monkeypatch: Any) -> None:
    from prefect.settings import PREFECT_API_URL
    from typer.testing import CliRunner

    from crisiscomms.stack.cli import app

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    monkeypatch.chdir(FIXTURES)
    cli = CliRunner()
    run = Running("message-approve")
    paused = str(_paused_run(timeout=60))
    listing = cli.invoke(app, ["pending"])
    assert listing.exit_code == 0 and paused in listing.output
    nobody = cli.invoke(app, ["approve", "ffffffff", "--name", "Sophie Lefèvre", "--role", "juridique"])
    assert nobody.exit_code == 1 and "no paused run(s) match" in nobody.output
    outsider = cli.invoke(app, ["approve", paused[:8], "--name", "Claire Martin", "--role", "juridique"])
    assert outsider.exit_code == 1 and "refused: 'Claire Martin' does not decide at stage 1/2" in outsider.output
    wrong_role = cli.invoke(app, ["approve", paused[:8], "--name", "sophie lefevre", "--role", "communication"])
    assert wrong_role.exit_code == 1 and "holds juridique at this stage" in wrong_role.output
    refused = cli.invoke(app, ["approve", paused[:8], "--name", "Sophie Lefèvre", "--comment", "x",
                               "--edits", str(FIXTURES / "playbooks" / "message-approve.yaml")])
    assert refused.exit_code == 2  # --edits without --changes
    done = cli.invoke(app, ["approve", paused[:8], "--name", "sophie lefevre", "--role", "juridique", "--reject",
                            "--comment", "Lots non confirmés"])
    assert done.exit_code == 0, done.output
    assert "reject recorded for Sophie Lefèvre" in done.output
    record = run.approval()
    assert (record.decision, record.decisions[0]["comment"]) == ("rejected", "Lots non confirmés")


def test_a_playbook_can_take_decisions_through_the_personal_links_only_and_a_drill_notifies_its_outbox() -> None:
    run = Running("approval-links")
    run_id = _paused_run(timeout=60)
    stage, _ = _open_stage(run_id)
    run.answer("approve", "Julien Roche")  # through the form: refused, the stage asks again
    run.answer("approve", "Julien Roche", receipt=_receipt(stage.stage_id, "Julien Roche", stage.hash, "approve", ""))
    record = run.approval("approval_step")
    assert record.decision == "approved"
    assert "takes decisions through the personal link sent to each approver only" in record.decisions[0]["refused"]
    assert [(n["person"], n["status"]) for n in record.notices] == [("Claire Martin", "sent"), ("Julien Roche", "sent")]
    sent = sorted((Path(os.environ["CRISIS_STATE_DIR"]) / "outbox" / "exercice" / "approvals").glob("*.json"))
    notes = [json.loads(p.read_text(encoding="utf-8")) for p in sent]
    assert sorted(n["variant"] if "variant" in n else n["id"] for n in notes) == [
        "approval/Claire Martin", "approval/Julien Roche"]
    links = [line for n in notes for line in n["text"].splitlines() if "/approve/" in line]
    assert len(set(links)) == 2 and all(n["subject"].startswith("[EXERCICE] Validation attendue") for n in notes)
    assert all(stage.hash in n["text"] for n in notes)


def test_each_person_of_a_stage_gets_one_request_with_their_own_link_and_the_escalation_tells_the_backup(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.receivers import HttpReceiver, SmtpReceiver

    with SmtpReceiver() as smtp, HttpReceiver() as apprise, HttpReceiver() as hook:
        monkeypatch.setenv("CRISIS_SMTP_HOST", smtp.host)
        monkeypatch.setenv("CRISIS_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("CRISIS_TEST_APPRISE_URL", apprise.url.replace("http://", "json://"))
        monkeypatch.setenv("CRISIS_TEST_HOOK_URL", hook.url)
        record = Running("approval-notify").approval()  # nobody answers: escalate, time out
        for receiver in (smtp, apprise, hook):
            receiver.wait_idle()
    assert record.decision == "timed_out"
    assert [(n["stage"], n["person"], n["status"]) for n in record.notices] == [
        (1, "Sophie Lefèvre", "sent"), (1, "Karim Benali", "sent"), (1, "Léa Petit", "sent"),
        (1, "Sans Contact", "skipped"), (1, "Claire Martin", "sent")]  # the last one: the escalation
    mails = {d.headers["X-Envelope-To"]: d.text for d in smtp.deliveries}
    assert sorted(mails) == ["claire@example.org", "sophie@example.org"]  # one each
    assert len(apprise.deliveries) == 1 and len(hook.deliveries) == 1
    texts = [*mails.values(), apprise.deliveries[0].body.decode(), hook.deliveries[0].body.decode()]
    links = [re.search(r"http://[^/\s]+/approve/([\w-]+\.[\w-]+)", text).group(1) for text in texts]
    assert len(set(links)) == 4  # each person their own link
    key = signing.load_key(Path(os.environ["CRISIS_STATE_DIR"]))
    people = {signing.verify(key, "link", token, now=0)["p"] for token in links}  # (the stages are over now)
    assert people == {"Sophie Lefèvre", "Karim Benali", "Léa Petit", "Claire Martin"}
