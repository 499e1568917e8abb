"""The free ports the project hands to the servers it starts: outside the kernel's ephemeral range, where no outgoing
connection can take them, and reserved so that no other caller gets the same one before its server binds it."""

from __future__ import annotations

import asyncio
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from crisiscomms.stack import ports
from crisiscomms.stack.ports import ephemeral_range, free_port


def test_a_free_port_is_outside_the_range_the_kernel_gives_outgoing_connections() -> None:
    chosen = {free_port() for _ in range(50)}
    assert not chosen & set(ephemeral_range())
    assert min(chosen) >= ports.LOWEST


def test_a_free_port_is_not_given_to_another_caller_before_its_server_binds_it() -> None:
    port = free_port()
    with socket.socket() as other, pytest.raises(OSError):  # another caller's probe: a plain bind
        other.bind((ports.HOST, port))


def test_a_server_binds_its_free_port_at_once_with_reuse_as_servers_do() -> None:
    with ThreadingHTTPServer((ports.HOST, free_port()), BaseHTTPRequestHandler) as server:
        assert server.server_address[1] != 0

    async def bind_with_asyncio(port: int) -> None:  # uvicorn's way, and aiosmtpd's
        listening = await asyncio.start_server(lambda reader, writer: None, ports.HOST, port)
        listening.close()
        await listening.wait_closed()

    asyncio.run(bind_with_asyncio(free_port()))


def test_a_port_someone_listens_on_is_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind((ports.HOST, free_port()))
        busy.listen()
        taken = busy.getsockname()[1]
        picks = iter([taken, taken, taken + 1])
        monkeypatch.setattr(ports.random, "choice", lambda candidates: next(picks))
        assert free_port() == taken + 1


def test_the_range_comes_from_the_kernel_and_has_a_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("20000\t60999\n")
    monkeypatch.setattr(ports, "EPHEMERAL", setting)
    assert ephemeral_range() == range(20_000, 61_000)
    assert ports._outside_ephemeral() == range(10_000, 20_000)
    setting.write_text("10500 60999\n")  # little room below: the ports above the range
    assert ports._outside_ephemeral() == range(61_000, 65_536)
    monkeypatch.setattr(ports, "EPHEMERAL", tmp_path / "absent")
    assert ephemeral_range() == range(32_768, 61_000)
