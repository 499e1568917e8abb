"""The process `crisis up` starts on its port: Prefect's own server app (API, UI, services) with the approver page
beside it under `/approve/`, answering only its own host names.

    python -m crisiscomms.stack.gateway --root PROJECT --host 127.0.0.1 --port 4200

Prefect's app is built exactly as `prefect server start` builds it (`create_app(final=True)`); its settings
(auth string, CORS) come from the environment `crisis up` gives this process. The page reaches the Prefect API
over loopback with the stack's credential, like any other client.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import httpx
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from crisiscomms.communication import approver_page
from crisiscomms.monitoring.store import state_dir


class PrefectRuns:
    """The page's view of the Prefect REST API: a run's current pause, and resuming it with an answer."""

    def __init__(self, api_url: str, auth: str | None, transport: httpx.BaseTransport | None = None) -> None:
        user, _, password = (auth or "").partition(":")
        self._client = httpx.Client(base_url=api_url.rstrip("/"), timeout=90, transport=transport,
                                    auth=(user, password) if auth else None)

    def pause_key(self, run_id: str) -> str | None:
        response = self._client.get(f"/flow_runs/{run_id}")
        if response.status_code != 200:
            return None
        state = response.json().get("state") or {}
        return (state.get("state_details") or {}).get("pause_key") if state.get("type") == "PAUSED" else None

    def ended(self, run_id: str) -> str | None:
        response = self._client.get(f"/flow_runs/{run_id}")
        if response.status_code != 200:
            return None
        state = response.json().get("state") or {}
        if state.get("type") not in {"COMPLETED", "FAILED", "CANCELLED", "CRASHED", "CANCELLING"}:
            return None
        return f"{state.get('name')}" + (f" ({state['message']})" if state.get("message") else "")

    def resume(self, run_id: str, run_input: dict[str, Any]) -> str | None:
        for _ in range(4):  # a 503 is SQLite's lock timeout, rolled back: the same request is safe to send again
            response = self._client.post(f"/flow_runs/{run_id}/resume", json={"run_input": run_input})
            if response.status_code != 503:
                break
        if response.status_code != 201 and response.status_code != 200:
            return f"server answered {response.status_code}"
        body = response.json()
        if body.get("status") != "ACCEPT":
            return (body.get("details") or {}).get("reason") or str(body.get("status"))
        return None


def allowed_hosts(host: str) -> list[str]:
    """The stack's own names, and those a proxy in front of it uses (CRISIS_ALLOWED_HOSTS, comma-separated)."""
    extra = [h.strip() for h in os.environ.get("CRISIS_ALLOWED_HOSTS", "").split(",") if h.strip()]
    return sorted({host, "127.0.0.1", "localhost", *extra})


def begin_sqlite_writes_immediately() -> None:
    """Every transaction Prefect's server opens on SQLite begins IMMEDIATE instead of DEFERRED.

    Why: some of Prefect 3.8.8's endpoints — the Resume of a paused run, the Run form's create_flow_run, flow-run
    labels — read first and write later in a DEFERRED transaction. In WAL mode, when any other connection commits
    in between (the event persister, the task-run recorder, a flow run's logs or state), the write fails at once
    with SQLITE_BUSY_SNAPSHOT: "database is locked", a 503, "Oops" in the UI; busy_timeout cannot help, the
    snapshot is stale for good. IMMEDIATE takes the write lock at BEGIN, where SQLite waits its turn (busy_timeout)
    for the other writer's few milliseconds. Measured: 12 of 250 resumes failed with monitoring runs every 10-20 s;
    0 of 150 with this. PostgreSQL is not affected.
    """
    from prefect.server.database import configurations

    sqlite = configurations.AioSqliteConfiguration
    if getattr(sqlite.begin_transaction, "_immediate", False):
        return
    deferred = sqlite.begin_transaction

    def immediate(self: Any, session: Any, with_for_update: bool = False) -> Any:
        return deferred(self, session, with_for_update=True)  # with_for_update on SQLite: BEGIN IMMEDIATE

    immediate._immediate = True  # type: ignore[attr-defined]
    sqlite.begin_transaction = immediate  # type: ignore[method-assign]


def create_gateway(root: Path, host: str) -> ASGIApp:
    from prefect.server.api.server import create_app

    begin_sqlite_writes_immediately()
    prefect_app = create_app(final=True)
    runs = PrefectRuns(os.environ["PREFECT_API_URL"], os.environ.get("PREFECT_API_AUTH_STRING"))
    page = approver_page.create_app(state_dir(root), runs)

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/approve/"):
            await page(scope, receive, send)
        else:  # the API, the UI, websockets, and the lifespan that runs Prefect's services
            await prefect_app(scope, receive, send)

    return TrustedHostMiddleware(dispatch, allowed_hosts=allowed_hosts(host))


class HideLinks(logging.Filter):
    """The access log never keeps an approver's personal link: `/approve/<token>` is written `/approve/…`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and "/approve/" in str(record.args[2]):
            path = str(record.args[2])
            record.args = (*record.args[:2], path[: path.index("/approve/") + len("/approve/")] + "…",
                           *record.args[3:])
        return True


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4200)
    args = parser.parse_args()
    logging.getLogger("uvicorn.access").addFilter(HideLinks())
    uvicorn.run(create_gateway(args.root, args.host), host=args.host, port=args.port, timeout_keep_alive=5,
                log_level=os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "info").lower())


if __name__ == "__main__":
    main()
