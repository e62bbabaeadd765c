"""A TCP relay to the test PostgreSQL that can swallow traffic, to act out a network partition."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit


class Blackhole:
    """Relays 127.0.0.1:port ↔ the server; `cut()` discards every byte both ways from then on,
    with both TCP connections left open (as a partition looks); `heal_server_side()` closes
    the server's side, as the server's keepalives eventually do."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._url = parts
        self._cut = False
        self._upstreams: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        """Start relaying; the URL that goes through the relay."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        netloc = self._url.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"
        return urlunsplit(self._url._replace(netloc=netloc))

    def cut(self) -> None:
        self._cut = True

    def heal_server_side(self) -> None:
        for writer in self._upstreams:
            writer.close()

    async def stop(self) -> None:
        self.heal_server_side()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._upstreams.append(up_writer)
        pipes = [
            asyncio.ensure_future(self._pipe(reader, up_writer)),
            asyncio.ensure_future(self._pipe(up_reader, writer)),
        ]
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pipes:  # one side closed: close the other too, as a plain link would
            pipe.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        writer.close()
        up_writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                if not self._cut:
                    dst.write(data)
                    await dst.drain()
