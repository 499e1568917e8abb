"""The kill switch on the real local stack: `crisis halt` cancels the demo run waiting for its approval (its
worker process stops) and a scheduled update reminder; nothing is released; `crisis unhalt` lifts it."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crisiscomms.communication import killswitch

from .conftest import LiveStack
from .helpers import deployment, tail, ui_run, wait_final
from .test_ui_approval import outbox_files, wait_paused

CRISIS = str(Path(sys.executable).parent / "crisis")
PLAYBOOK = "rappel-produit"


def _crisis(stack: LiveStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRISIS, *args], cwd=stack.root, env=stack.stack.env(), capture_output=True, text=True,
                          timeout=120)


def test_crisis_halt_cancels_the_run_awaiting_approval_and_the_scheduled_reminder(live_stack: LiveStack) -> None:
    api, root = live_stack.api, live_stack.root
    from crisiscomms.monitoring.store import state_dir

    before = outbox_files(state_dir(root))
    created = ui_run(api, deployment(api, "crisis-playbook", "playbook")["id"], {"playbook": PLAYBOOK})
    assert created.status_code == 201, created.text
    parent_id = created.json()["id"]
    communication = wait_paused(api, parent_id, "validation-0", live_stack.worker_log, timeout=180)  # suspended
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    reminder = api.post(f"/deployments/{deployment(api, 'update-reminder', 'update-reminder')['id']}/create_flow_run",
                        json={"parameters": {"playbook": PLAYBOOK, "promise": 1},
                              "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": later}}})
    assert reminder.status_code == 201, reminder.text
    reminder_id = reminder.json()["id"]
    try:
        done = _crisis(live_stack, "halt", "--reason", "Lot mal identifié", "--by", "Claire Martin")
        assert done.returncode == 0, done.stderr + done.stdout
        assert communication["id"] in done.stdout and reminder_id in done.stdout, done.stdout
        assert wait_final(api, reminder_id, live_stack.worker_log, 30)["state_type"] == "CANCELLED"
        assert wait_final(api, communication["id"], live_stack.worker_log, 30)["state_type"] == "CANCELLED"
        parent = wait_final(api, parent_id, live_stack.worker_log, 60)  # the worker stopped its process
        assert parent["state_type"] == "CANCELLED", f"{parent['state']}\n{tail(live_stack.worker_log)}"
        assert outbox_files(state_dir(root)) == before  # nothing released
        status = _crisis(live_stack, "halt", "--status")
        assert "by Claire Martin: Lot mal identifié" in status.stdout
    finally:
        lifted = _crisis(live_stack, "unhalt", "--by", "Julien Roche")
    assert lifted.returncode == 0 and "lifted" in lifted.stdout, lifted.stderr
    assert killswitch.current(root) is None
