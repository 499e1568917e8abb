"""Approval of a message pack: the run pauses, the chain answers through the Resume form's input, the decision
and every answer are recorded; refusals, rejection and timeouts never approve."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from flows.engine import walk_phase

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"


@flow
def _communication(playbook: str) -> dict[str, Any]:
    return walk_phase(str(FIXTURES), playbook, "communication", {}, {"results": {}, "statuses": {}})


class Running:
    """The phase flow in a thread, so the test can answer its pauses as an approver would."""

    def __init__(self, playbook: str) -> None:
        self.result: dict[str, Any] | None = None
        self.thread = threading.Thread(target=self._run, args=(playbook,), daemon=True)
        self.thread.start()

    def _run(self, playbook: str) -> None:
        self.result = _communication(playbook)

    def answer(self, decision: str, name: str, role: str = "communication", comment: str = "",
               edits: str = "") -> None:
        run_id = _paused_run(timeout=60)
        resume_flow_run(run_id, run_input={"decision": decision, "name": name, "role": role, "comment": comment,
                                           "edits": edits})
        _wait_until_not_paused(run_id)

    def done(self) -> dict[str, Any]:
        self.thread.join(timeout=120)
        assert self.result is not None, "the phase did not finish"
        return self.result


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
    run.answer("approve", "Sophie Lefèvre", "juridique", "Faits vérifiés")
    run.answer("approve", "claire martin")  # names compare case- and accent-blind
    run.answer("approve", "Claire Martin")  # the same person twice does not make a quorum
    run.answer("approve", "Julien Roche", comment="{{ ''.__class__ }}")
    history = run.done()
    record = history["results"]["approval"]
    assert record["decision"] == "approved"
    assert record["hash"] == history["results"]["pack"]["hash"]
    assert [(d["stage"], d["name"], "refused" in d) for d in record["decisions"]] == [
        (1, "Sophie Lefèvre", False), (2, "claire martin", False), (2, "Claire Martin", True),
        (2, "Julien Roche", False)]
    assert record["decisions"][3]["comment"] == "{{ ''.__class__ }}"  # kept as typed: data, never rendered
    released = history["results"]["release"]
    assert (released["status"], released["hash"]) == ("released", record["hash"])
    (receipt,) = released["receipts"]
    assert receipt["status"] == "sent"
    sent = json.loads(Path(receipt["detail"].removeprefix("file ")).read_text(encoding="utf-8"))
    pack = json.loads(Path(history["results"]["pack"]["path"]).read_text(encoding="utf-8"))
    assert sent["text"] == pack["variants"][0]["text"]  # the approved bytes, nothing else


def test_someone_outside_the_stage_roles_cannot_decide() -> None:
    run = Running("message-approve")
    run.answer("approve", "Claire Martin")  # communication, but stage 1 is legal's
    run.answer("reject", "Sophie Lefèvre", "juridique", "Le lot n'est pas confirmé")
    history = run.done()
    record = history["results"]["approval"]
    assert record["decision"] == "rejected"
    assert history["statuses"]["release"] == "skipped" and "release" not in history["results"]
    assert "is not a member of juridique" in record["decisions"][0]["refused"]
    assert record["decisions"][1]["comment"] == "Le lot n'est pas confirmé"


def test_a_request_for_changes_stops_the_chain() -> None:
    run = Running("message-approve")
    run.answer("request_changes", "Sophie Lefèvre", "juridique", "Retirer la citation")
    record = run.done()["results"]["approval"]
    assert record["decision"] == "changes_requested" and len(record["decisions"]) == 1


def test_a_stage_that_times_out_escalates_once_then_times_out_without_approving() -> None:
    run = Running("approval-timeout")
    record = run.done()["results"]["approval"]
    assert record["decision"] == "timed_out"
    assert [d["decision"] for d in record["decisions"]] == ["timed_out", "timed_out"]
    assert record["decisions"][1]["role"] == "communication"  # the escalation's role


def test_the_escalated_role_can_approve_after_a_timeout() -> None:
    run = Running("approval-timeout")
    time.sleep(3)  # legal does not answer within its 2 s
    run.answer("approve", "Julien Roche")
    record = run.done()["results"]["approval"]
    assert record["decision"] == "approved"
    assert [d["decision"] for d in record["decisions"]] == ["timed_out", "approve"]


def test_the_author_of_the_pack_cannot_approve_it() -> None:
    run = Running("approval-edits")
    run.answer("approve", "claire  martin ".title())  # the author, however written
    run.answer("approve", "Julien Roche")
    record = run.done()["results"]["approval_step"]
    assert record["decision"] == "approved"
    assert "prepared this pack: its author cannot approve it" in record["decisions"][0]["refused"]
    assert [d["name"] for d in record["decisions"] if "refused" not in d] == ["Julien Roche"]
    with get_client(sync_client=True) as client:  # the audit table on the run, refusal included
        table = [a for a in client.read_artifacts() if a.key == "approval-edits-approval-step-approval"][-1]
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [(r["name"], r["decision"], bool(r["refused"])) for r in rows] == [
        ("Claire  Martin ", "approve", True), ("Julien Roche", "approve", False)]
    assert table.description.startswith(f"approved: pack {record['hash'][:16]}")


def test_edits_re_render_the_pack_and_the_new_texts_need_a_new_approval() -> None:
    run = Running("approval-edits")
    run.answer("request_changes", "Julien Roche", comment="Préciser", edits="summary: Résumé corrigé après appel.")
    run.answer("approve", "Julien Roche")  # the second round approves the edited texts
    history = run.done()
    record, pack = history["results"]["approval_step"], history["results"]["pack"]
    assert record["decision"] == "approved"
    assert [d["decision"] for d in record["decisions"]] == ["request_changes", "approve"]
    assert record["decisions"][0]["edits"] == {"summary": "Résumé corrigé après appel."}
    assert (record["hash"], record["path"]) == (pack["hash"], pack["path"])  # the re-rendered pack is the one
    kept = json.loads(Path(pack["path"]).read_text(encoding="utf-8"))
    assert "Résumé corrigé après appel." in kept["variants"][0]["text"]
    assert "Premier résumé." not in kept["variants"][0]["text"]
    sent = history["results"]["release"]["receipts"]
    assert [r["status"] for r in sent] == ["sent"]
    outbox = Path(sent[0]["detail"].removeprefix("file "))
    assert json.loads(outbox.read_text(encoding="utf-8"))["text"] == kept["variants"][0]["text"]


def test_unusable_edits_are_refused_and_the_stage_asks_again() -> None:
    run = Running("approval-edits")
    run.answer("request_changes", "Julien Roche", edits="sumary: faute de frappe")
    run.answer("approve", "Julien Roche", edits="summary: pas avec une approbation")
    run.answer("reject", "Julien Roche", comment="On attend")
    record = run.done()["results"]["approval_step"]
    assert record["decision"] == "rejected"
    refused = [d["refused"] for d in record["decisions"] if "refused" in d]
    assert "sumary" in refused[0] and "edits come with request_changes only" in refused[1]


def test_release_refuses_anything_not_approved() -> None:
    import pytest

    from crisiscomms import release
    from crisiscomms.playbook.context import StepContext
    from crisiscomms.playbook.steps import MessageRelease
    from tasks.release import release_pack

    step = MessageRelease(id="release", type="message.release", approval="approval", pack="pack")
    for decision in ("rejected", "changes_requested", "timed_out"):
        context = StepContext(playbook_id="message-release", playbook_version="1.0.0", phase="communication",
                              root=str(FIXTURES), inputs={},
                              results={"approval": {"decision": decision, "hash": "x"}, "pack": {"path": "/nope"}})
        with pytest.raises(release.ReleaseRefused, match=f"not approved \\({decision}\\): nothing released"):
            release_pack.fn(step, context)


def test_crisis_pending_and_approve_answer_from_the_terminal(monkeypatch: Any) -> None:
    from prefect.settings import PREFECT_API_URL
    from typer.testing import CliRunner

    from crisiscomms.cli import app

    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    monkeypatch.chdir(FIXTURES)
    cli = CliRunner()
    run = Running("message-approve")
    paused = str(_paused_run(timeout=60))
    listing = cli.invoke(app, ["pending"])
    assert listing.exit_code == 0 and paused in listing.output
    nobody = cli.invoke(app, ["approve", "ffffffff", "--name", "Sophie Lefèvre", "--role", "juridique"])
    assert nobody.exit_code == 1 and "no paused run(s) match" in nobody.output
    done = cli.invoke(app, ["approve", paused[:8], "--name", "Sophie Lefèvre", "--role", "juridique", "--reject",
                            "--comment", "Lots non confirmés"])
    assert done.exit_code == 0, done.output
    assert "reject recorded for Sophie Lefèvre (juridique)" in done.output
    record = run.done()["results"]["approval"]
    assert (record["decision"], record["decisions"][0]["comment"]) == ("rejected", "Lots non confirmés")
