"""Client SDK fixtures: an SDK client on the real test server, a wall-clock server, a flaky link."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from lls.app.wiring import build_app
from lls.client import LicenseClient
from lls.clock import SystemClock
from lls.config.settings import Config
from lls.instance import Instance
from tests.conftest import Server
from tests.pools import VendorKeys, grant

# The shortest window the server accepts (LicenseGrant: sessionWindowSeconds >= 10).
FAST_WINDOW_S = 10


def base_url(server: Server) -> str:
    return str(server.client.make_url("/")).rstrip("/")


@pytest.fixture
async def client(server: Server) -> AsyncIterator[LicenseClient]:
    async with LicenseClient(base_url(server), timeout=5) as c:
        yield c


@pytest.fixture
async def live_server(aiohttp_client: Any, instance: Instance, vendor: VendorKeys) -> Server:
    """A server on the wall clock with a 10 s window: real time and server time agree."""
    clock = SystemClock()
    app = build_app(
        Config(data_dir=instance.data_dir, admin_port=0),  # one listener: see tests/conftest
        instance=instance,
        clock=clock,
        run_jobs=False,
    )
    server = Server(
        client=await aiohttp_client(app),
        instance=instance,
        clock=clock,  # type: ignore[arg-type]
        vendor=vendor,
        seq=0,
    )
    status, body = await server.import_pool(
        [grant("LIC-FAST", sessionWindowSeconds=FAST_WINDOW_S)], iat=time.time()
    )
    assert status == 200, body
    return server


class FlakyLink:
    """A TCP forwarder in front of a server that can be cut: the network, failing for real.

    While down, every open connection is aborted and new ones are closed at once,
    so the client sees resets, as when a cable or a switch goes.
    """

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.down = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def cut(self) -> None:
        self.down = True
        for writer in list(self._writers):
            writer.transport.abort()

    def restore(self) -> None:
        self.down = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.down:
                writer.transport.abort()
                return
            up_reader, up_writer = await asyncio.open_connection(*self._target)
            self._writers.update((writer, up_writer))
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
            self._writers.difference_update((writer, up_writer))
        finally:
            self._tasks.discard(task)

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            dst.transport.abort()


@pytest.fixture
async def flaky_link() -> AsyncIterator[Callable[[Server], Any]]:
    links: list[FlakyLink] = []

    async def make(server: Server) -> tuple[FlakyLink, str]:
        host, port = server.client.host, server.client.port
        assert port is not None
        link = FlakyLink(host, port)
        links.append(link)
        return link, await link.start()

    yield make
    for link in links:
        with contextlib.suppress(Exception):
            await link.close()


async def until(check: Callable[[], bool], timeout: float = 5.0, every: float = 0.02) -> None:
    """Wait for `check()` to hold (the server changes state in its own time)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)
