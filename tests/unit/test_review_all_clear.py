"""The end of a crisis: the all-clear answers every open update promise and makes none; an audience the crisis never
reached is named in the post-mortem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crisiscomms.communication import cadence
from crisiscomms.review.model import Sent
from crisiscomms.review.postmortem import _unreached

T0 = datetime(2026, 3, 14, 8, 0, tzinfo=UTC)


@pytest.fixture()
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def test_the_all_clear_keeps_every_open_promise_and_promises_nothing(root: Path) -> None:
    cadence.record_release(root, "pb", "run1", "pack1", T0 + timedelta(hours=2), T0)
    cadence.record_release(root, "pb", "drill", "pack0", T0 + timedelta(hours=1), T0, drill=True)  # another stream
    cadence.record_release(root, "pb", "run2", "pack2", T0 + timedelta(hours=3), T0 + timedelta(hours=1))  # keeps 1
    kept = cadence.record_final_release(root, "pb", "run3", "pack3", T0 + timedelta(hours=3, minutes=30))
    assert [(p.pack, p.status()) for p in kept] == [("pack2", "late")]
    promises = {p.pack: p for p in cadence.promises(root, "pb")}
    assert set(promises) == {"pack1", "pack0", "pack2"}  # none made by the all-clear
    assert promises["pack1"].fulfilled_by_pack == "pack2" and promises["pack2"].fulfilled_by_pack == "pack3"
    assert promises["pack0"].fulfilled_at is None  # a drill's promise is not kept by a real all-clear
    assert cadence.record_final_release(root, "pb", "run4", "pack4", T0 + timedelta(hours=5)) == []


def _sent(audience: str, channel: str, status: str) -> Sent:
    return Sent(at=T0, kind="update", audience=audience, channel=channel, language="fr", status=status, pack="p",
                key=f"{audience}{channel}{status}")


def test_an_audience_none_of_whose_messages_went_out_is_named() -> None:
    sent = [_sent("clients", "site_web", "sent"), _sent("distributeurs", "email_partenaires", "failed"),
            _sent("distributeurs", "email_partenaires", "failed"), _sent("salaries", "intranet", "in_doubt"),
            _sent("salaries", "intranet", "sent")]
    assert _unreached(sent) == ["distributeurs on email_partenaires received NONE of its 2 message(s) (2 failed): "
                                "reach them another way, and fix the channel"]
