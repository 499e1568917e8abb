"""Free local ports for what the project starts itself: a drill's Prefect server, the project's PostgreSQL, and the
test servers of the suite.

A port learnt by binding port 0 and closing the probe is not safe to hand to a server started a few seconds later:
it comes from the kernel's ephemeral range, the range every outgoing connection of the machine also takes its local
port from, and any process may take it in between ("address already in use", seen in CI with two test lanes).
So a port is chosen outside that range, where the kernel hands out nothing on its own, and *reserved*: a connection
to it is opened and closed from the listening side, which leaves the port in TIME_WAIT for a minute. Until then a
plain bind, the probe of this module in any other process, fails on it, while a server that binds with
SO_REUSEADDR (uvicorn, PostgreSQL, Python's socket servers, aiosmtpd) takes it at once.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

HOST = "127.0.0.1"
LOWEST = 10_000  # below: ports of well-known services a machine may run (5432, 8080 …)
TRIES = 200
EPHEMERAL = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port(host: str = HOST) -> int:
    """A port of `host` that nobody listens on nor was given by this function in the last minute, outside the
    kernel's ephemeral range; reserved for a server that binds it with SO_REUSEADDR."""
    candidates = _outside_ephemeral()
    for _ in range(TRIES):
        port = random.choice(candidates)
        if _reserve(host, port):
            return port
    raise OSError(f"no free port on {host} after {TRIES} tries outside the ephemeral range")


def ephemeral_range() -> range:
    """The ports the kernel gives to outgoing connections and to binds of port 0 (Linux's default elsewhere)."""
    try:
        low, high = (int(part) for part in EPHEMERAL.read_text(encoding="ascii").split())
    except (OSError, ValueError):
        low, high = 32_768, 60_999
    return range(low, high + 1)


def _outside_ephemeral() -> range:
    ephemeral = ephemeral_range()
    below, above = range(LOWEST, ephemeral.start), range(ephemeral.stop, 65_536)
    return below if len(below) >= len(above) else above


def _reserve(host: str, port: int) -> bool:
    """Bind `port` without SO_REUSEADDR (fails if anyone listens there or reserved it), then leave it in TIME_WAIT:
    accept a connection of our own and close the accepted side first."""
    with socket.socket() as listener:
        try:
            listener.bind((host, port))
        except OSError:
            return False
        # The port's TIME_WAIT keeps the flags of this socket: with SO_REUSEADDR, it blocks the plain binds of
        # other probes, not the servers' binds.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.listen(1)
        with socket.create_connection((host, port), timeout=5):
            accepted, _ = listener.accept()
            accepted.close()
    return True
