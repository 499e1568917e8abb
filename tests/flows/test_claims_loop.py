"""The misinformation loop on the session's Prefect harness: a claim entered by hand is measured, its correction
drafted for exactly the audiences where it spreads, approved, released to the file outbox, recorded, and then
tracked by monitoring before / since; a declared claim that spreads raises `crisis.claim.spreading`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run

from crisiscomms.mention import EnrichedMention
from crisiscomms.monitoring.correction import open_corrections
from crisiscomms.monitoring.store import open_store
from crisiscomms.playbook.steps import ClaimSpreadRecord, ClaimTrackRecord, PackRecord, ReleaseRecord
from crisiscomms.stack.project import Project
from flows.engine import RunHistory, walk_phase
from tasks.monitoring import emit_spreading_claims, publish_claim_tracking

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "claims"
CLAIM = "Des enfants hospitalisés à Lyon {{ 7 * 7 }}"


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))  # never the checkout's .crisis/
    yield tmp_path / "state"


def mentions_file(folder: Path) -> Path:
    """Half an hour of mentions: the claim among customers and employees, the press on something else."""
    now = datetime.now(UTC)
    rows = [("c1", "Partagez : des enfants hospitalisés à Lyon après le produit Y de Marque X", "twitter", 30),
            ("c2", "RT @c1: Partagez : des enfants hospitalisés à Lyon après le produit Y de Marque X", "twitter", 25),
            ("c3", "Marque X : DES ENFANTS HOSPITALISES a Lyon ?!", "facebook", 20),
            ("s1", "En interne on dit que des enfants sont hospitalisés à Lyon, Marque X confirme ?", "intranet", 15),
            ("s2", "Collègues : enfants hospitalisés à Lyon, vrai ou faux ? Marque X", "intranet", 12),
            ("p1", "Marque X rappelle deux lots du produit Y", "presse", 10),
            ("c4", "Le produit Y de Marque X est très bon", "twitter", 5)]
    path = folder / "mentions.jsonl"
    path.write_text("".join(json.dumps({"id": i, "created_at": (now - timedelta(minutes=m)).isoformat(),
                                        "text": t, "author": f"@{i}", "channel": c, "lang": "fr"},
                                       ensure_ascii=False) + "\n" for i, t, c, m in rows), encoding="utf-8")
    return path


@flow
def _communication(inputs: dict[str, Any]) -> RunHistory:
    return walk_phase(str(ROOT), "rumeur", "communication", inputs, RunHistory())


@flow
def _monitoring_claims(run_id: str) -> dict[str, Any]:
    playbook = Project(ROOT).load("rumeur").playbook  # loaded once, as flows/monitor.py does
    return {"events": emit_spreading_claims(playbook, str(ROOT), run_id),
            "rows": publish_claim_tracking(playbook, str(ROOT))}


def _approve_when_paused(name: str) -> None:
    with get_client(sync_client=True) as client:
        for _ in range(600):
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))
            if runs:
                resume_flow_run(runs[0].id, run_input={"decision": "approve", "name": name, "link_receipt": "",
                                                       "comment": "Vérifié"})
                return
            time.sleep(0.2)
    raise AssertionError("the correction never waited for approval")


def _latest_artifact(key: str) -> Any:
    with get_client(sync_client=True) as client:
        versions = [a for a in client.read_artifacts() if a.key == key]
    assert versions, f"no artifact {key}"
    return max(versions, key=lambda a: a.created)


def test_a_claim_entered_by_hand_is_corrected_where_it_spreads_released_recorded_and_tracked(
        state_dir: Path, tmp_path: Path) -> None:
    source = mentions_file(tmp_path)
    result: dict[str, RunHistory] = {}
    runner = threading.Thread(
        target=lambda: result.update(history=_communication({"rumeur": CLAIM, "mentions": str(source)})), daemon=True)
    runner.start()
    _approve_when_paused("Claire Martin")
    runner.join(timeout=180)
    history = result["history"]
    assert history.statuses == dict.fromkeys(["rumeur", "correction", "validation", "diffusion", "suivi"],
                                             "completed")
    spread = history.record("rumeur", ClaimSpreadRecord)
    assert (spread.claim, spread.mentions, spread.audiences) == (CLAIM, 5, ["salaries", "clients"])
    pack = history.record("correction", PackRecord)
    assert pack.variants == ["correction/clients/site/fr", "correction/salaries/intranet/fr"]  # not the press
    receipts = history.record("diffusion", ReleaseRecord).receipts
    assert [(r["message"], r["status"]) for r in receipts] == [(v, "sent") for v in pack.variants]
    for receipt in receipts:  # the approved text, quoting the claim verbatim (its template syntax inert)
        sent = json.loads(Path(receipt["detail"].removeprefix("file ")).read_text(encoding="utf-8"))
        assert f"« {CLAIM} »" in sent["text"]
    track = history.record("suivi", ClaimTrackRecord)
    assert (track.status, track.audiences, track.before, track.hash) == (
        "recorded", ["clients", "salaries"], 5, pack.hash)

    # Monitoring keeps reading: two mentions before the correction, three since (one of them in the press).
    corrected_at = datetime.fromisoformat(track.corrected_at)
    later = [("m1", "des enfants hospitalisés à Lyon, Marque X se tait", "clients", -600),
             ("m2", "Enfants hospitalisés à Lyon ?", "salaries", -300),
             ("m3", "Toujours ces enfants hospitalisés à Lyon…", "clients", 0),
             ("m4", "Des enfants hospitalisés à Lyon, dit-on", "journalistes", 0),
             ("m5", "des enfants hospitalisés à lyon", "clients", 0)]
    store = open_store(ROOT)
    try:
        store.commit_batch("rumeur", "veille", "run-after", [
            EnrichedMention(id=i, created_at=corrected_at + timedelta(seconds=s), text=t, lang="fr", analysed=True,
                            relevance=0.5, segment=seg) for i, t, seg, s in later], [], {"offset": 0}, len(later))
    finally:
        store.close()
    time.sleep(1)  # the mentions "since" are now in the past
    (row,) = _monitoring_claims("run-after")["rows"]
    assert (row["claim_id"], row["mentions_before"], row["mentions_since"]) == (track.claim_id, 2, 3)
    assert row["per_audience_before_since"] == "clients 1→2, journalistes 0→1, salaries 1→0"
    table = json.loads(_latest_artifact("rumeur-claims").data)
    assert [(r["claim"], r["mentions_before"], r["mentions_since"]) for r in table] == [(CLAIM, 2, 3)]
    chart = _latest_artifact(f"rumeur-claims-{track.claim_id}")
    assert chart.type == "image" and chart.data.startswith("data:image/svg+xml;base64,")


def test_monitoring_emits_an_event_when_a_declared_claim_spreads(state_dir: Path) -> None:
    now = datetime.now(UTC) - timedelta(minutes=10)
    texts = [("e1", "Des enfants hospitalisés !", "clients"), ("e2", "ENFANTS HOSPITALISES, partagez", "salaries"),
             ("e3", "Aucun enfant n'a été hospitalisé : enfants hospitalisés, c'est faux", "journalistes")]
    store = open_store(ROOT)
    try:
        store.commit_batch("rumeur", "veille", "run-1", [
            EnrichedMention(id=i, created_at=now, text=t, lang="fr", analysed=True, relevance=0.5, segment=s)
            for i, t, s in texts], [], {"offset": 0}, len(texts))
    finally:
        store.close()
    (event,) = _monitoring_claims("run-1")["events"]
    assert (event["claim_id"], event["mentions"], event["audiences"]) == ("enfants", 2, {"clients": 1, "salaries": 1})
    assert _monitoring_claims("run-1")["events"] == []  # the same window never raises twice
    with get_client(sync_client=True) as client:
        for _ in range(100):
            found = client.request("POST", "/events/filter", json={
                "filter": {"event": {"name": ["crisis.claim.spreading"]}, "any_resource": {
                    "id": ["crisiscomms.playbook.rumeur.claim.enfants"]}}}).json()["events"]
            if found:
                break
            time.sleep(0.2)
    assert found and found[0]["payload"]["claim_id"] == "enfants"
    assert found[0]["resource"]["crisiscomms.claim.id"] == "enfants"
    book = open_corrections(ROOT)
    try:
        assert book.last_event("rumeur", "enfants") is not None
    finally:
        book.close()


def test_the_demo_communication_phase_runs_only_its_correction_branch_for_a_declared_claim(state_dir: Path) -> None:
    from flows.phases import communication

    history = communication(playbook="rappel-produit", inputs={"rumeur": "toute_la_production", "soumettre": False})
    usual = ["prise_de_parole", "veille_renforcee", "messages", "validation", "diffusion", "validation_juridique",
             "declaration", "reseaux", "memo_salaries", "fin_alerte", "validation_fin", "diffusion_fin"]
    assert history.statuses == {**dict.fromkeys(usual, "skipped"), "rumeur": "completed",
                                "correction": "completed", "validation_correction": "skipped",
                                "diffusion_correction": "skipped", "suivi_rumeur": "skipped"}
    spread = history.record("rumeur", ClaimSpreadRecord)
    assert spread.audiences == ["salaries", "distributeurs", "clients"]  # the press only denies it
    assert spread.by_audience["journalistes"]["denials"] == 4
    assert history.record("correction", PackRecord).variants == [
        "correction/clients/site_web/fr", "correction/salaries/intranet/fr",
        "correction/distributeurs/email_partenaires/fr"]
