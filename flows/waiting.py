"""A run that waits in its process for a form, with the deadline kept by the run and not by the server.

Prefect's `pause_flow_run(timeout=T)` gives the server the same T: the server's pause-expiry service then marks
the run Failed ("The flow was paused and never resumed") at about the moment the run itself sees its timeout
and goes on, so the run's history shows a failure that never happened (and a test or an automation that reads it
in between sees a terminal state). Here the server is given the deadline plus a grace, so it only steps in when
the waiting process itself died; the run ends its own wait and sets itself running again.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import get_client, get_run_logger
from prefect.client.schemas.objects import StateType
from prefect.context import FlowRunContext
from prefect.input.run_input import keyset_from_paused_state, run_input_subclass_from_type
from prefect.states import Paused, Running
from prefect.utilities.engine import propose_state_sync

from crisiscomms.errors import CrisisError

SERVER_GRACE = 300  # seconds after the run's own deadline before the server fails a pause nobody is waiting on


def wait_for_form(form: Any, key: str, seconds: float, poll: float) -> Any | None:
    """The form as submitted within `seconds`, or None once they have passed (the run then running again)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("only a flow run can wait for a form")
    run_id = context.flow_run.id
    get_run_logger().info("Pausing flow, execution will continue when this flow run is resumed.")
    proposed = Paused(timeout_seconds=int(seconds) + SERVER_GRACE, reschedule=False, pause_key=key)
    form = run_input_subclass_from_type(form)
    keyset = keyset_from_paused_state(proposed)
    proposed.state_details.run_input_keyset = keyset
    ends = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        state = propose_state_sync(client, proposed, flow_run_id=run_id)
        if not state.is_paused():
            raise RuntimeError(f"the run could not pause: the server answered {state.type.value}")
        form.save(keyset)
        while True:
            time.sleep(max(0.0, min(poll, ends - time.monotonic())))
            now = client.read_flow_run(run_id).state
            if now is not None and now.is_running():
                return form.load(keyset)
            if now is not None and now.type in {StateType.CANCELLED, StateType.CANCELLING}:
                raise CrisisError(f"the run was cancelled while waiting: {now.message or ''}".strip())
            if time.monotonic() >= ends:
                client.set_flow_run_state(run_id, Running(message="wait timed out"), force=True)
                return None
