"""On a real flow run (session harness): the release task writes the promised time into every message it sends
and records that same time as the cadence promise, counted from the release, not from the rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crisiscomms.communication import cadence, messages
from tests.flows.test_cadence_killswitch import FIXTURES, PLAYBOOK, _approved_pack, _outbox_files, _release


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CRISIS_STATE_DIR", str(tmp_path))
    return tmp_path


def test_the_promise_recorded_is_the_time_written_into_the_messages_counted_from_the_release(state: Path) -> None:
    rendered = datetime.now(UTC) - timedelta(minutes=90)  # approval took an hour and a half
    approval = _approved_pack(rendered)
    before = datetime.now(UTC).replace(microsecond=0)
    released = _release(approval)
    after = datetime.now(UTC)
    assert released.status == "released"

    (promise,) = cadence.promises(FIXTURES, PLAYBOOK)
    promised = cadence.parse_time(promise.promised)
    assert before + timedelta(hours=1) <= promised <= after + timedelta(hours=1)  # release + 1 h, not render + 1 h
    texts = [json.loads(path.read_text(encoding="utf-8"))["text"] for path in _outbox_files(state)]
    assert len(texts) == 4
    for text in texts:
        assert messages.NEXT_UPDATE_MARKER not in text
        assert messages.spoken_time(promised, "fr") in text  # the cadence and the messages agree
        assert messages.spoken_time(rendered + timedelta(hours=1), "fr") not in text

    again = _release(approval)  # a re-run: nothing sent twice, the same promise
    assert [r["status"] for r in again.receipts] == ["already_sent"] * 4
    assert cadence.promises(FIXTURES, PLAYBOOK) == [promise]
