"""Point 4 of issue 10, fast: slow and idle connections time out, one address has a cap."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiohttp import web

from lls.app.wiring import build_app
from lls.clock import FakeClock
from lls.config.settings import Config
from lls.http.connections import ConnectionGuard, GuardedSite
from lls.instance import Instance

REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@dataclass
class Listener:
    port: int
    guard: ConnectionGuard

    async def connect(
        self, source: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port, local_addr=(source, 0))


Start = Callable[..., Awaitable[Listener]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def listen(instance: Instance, clock: FakeClock) -> AsyncIterator[Start]:
    runners: list[web.AppRunner] = []

    async def start(
        *, per_address: int = 256, header_timeout_s: float = 10.0, keepalive_s: float = 60.0
    ) -> Listener:
        app = build_app(
            Config(data_dir=instance.data_dir, admin_port=0),
            instance=instance,
            clock=clock,
            run_jobs=False,
        )
        runner = web.AppRunner(app, keepalive_timeout=keepalive_s, handle_signals=False)
        await runner.setup()
        runners.append(runner)
        guard = ConnectionGuard(per_address=per_address, header_timeout_s=header_timeout_s)
        port = _free_port()
        await GuardedSite(runner, "127.0.0.1", port, guard=guard).start()
        return Listener(port, guard)

    yield start
    for runner in runners:
        await runner.cleanup()


async def _answer(reader: asyncio.StreamReader, timeout: float = 10) -> bytes:
    return await asyncio.wait_for(reader.read(65536), timeout)


async def test_headers_not_complete_in_time_are_answered_408_and_closed(listen: Start) -> None:
    server = await listen(header_timeout_s=0.5)
    reader, writer = await server.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
    started = time.monotonic()

    answer = await _answer(reader)

    assert answer.startswith(b"HTTP/1.1 408")
    assert await _answer(reader) == b""  # closed
    assert time.monotonic() - started < 5
    assert server.guard.timed_out == 1
    writer.close()


async def test_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    listen: Start,
) -> None:
    server = await listen(header_timeout_s=0.5)
    reader, writer = await server.connect()

    answer = await _answer(reader)

    assert answer.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_complete_request_is_answered_and_the_header_timer_stops(listen: Start) -> None:
    server = await listen(header_timeout_s=0.5, keepalive_s=30)
    reader, writer = await server.connect()
    writer.write(REQUEST)
    first = await _answer(reader)
    await asyncio.sleep(1.0)  # past the header timeout, within keep-alive

    writer.write(REQUEST)
    second = await _answer(reader)

    assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")
    writer.close()


async def test_idle_keepalive_connection_is_closed_after_keepalive_s(listen: Start) -> None:
    server = await listen(keepalive_s=0.5)
    reader, writer = await server.connect()
    writer.write(REQUEST)
    assert (await _answer(reader)).startswith(b"HTTP/1.1 200")
    started = time.monotonic()

    rest = await _answer(reader)

    assert rest == b""
    assert time.monotonic() - started < 5
    writer.close()


async def test_connections_beyond_the_cap_of_one_address_get_503_others_are_served(
    listen: Start,
) -> None:
    server = await listen(per_address=3)
    held = [await server.connect("127.0.0.2") for _ in range(3)]
    await asyncio.sleep(0.1)
    reader, writer = await server.connect("127.0.0.2")

    over = await _answer(reader)
    other_reader, other_writer = await server.connect("127.0.0.1")
    other_writer.write(REQUEST)
    other = await _answer(other_reader)

    assert over.startswith(b"HTTP/1.1 503")
    assert b"Retry-After: 10" in over
    assert other.startswith(b"HTTP/1.1 200")
    assert server.guard.open == {"127.0.0.2": 3, "127.0.0.1": 1}
    for _, w in [*held, (reader, writer), (other_reader, other_writer)]:
        w.close()


async def test_closed_connections_give_their_slot_back(listen: Start) -> None:
    server = await listen(per_address=2)
    for _ in range(5):
        reader, writer = await server.connect("127.0.0.3")
        writer.write(REQUEST)
        assert (await _answer(reader)).startswith(b"HTTP/1.1 200")
        writer.close()
        await writer.wait_closed()
    await asyncio.sleep(0.2)

    assert server.guard.open == {}


async def test_body_trickled_slower_than_the_body_timeout_is_answered_408(
    listen: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lls.http import body

    monkeypatch.setattr(body, "BODY_TIMEOUT_S", 0.5)
    server = await listen()
    reader, writer = await server.connect()
    writer.write(
        b"POST /licensing/validate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        b'{"licenseToken":'
    )
    started = time.monotonic()

    answer = await _answer(reader)

    assert answer.startswith(b"HTTP/1.1 408")
    assert b"REQUEST_TIMEOUT" in answer
    assert time.monotonic() - started < 5
    writer.close()
