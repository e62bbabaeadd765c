"""Connections a LAN peer cannot hoard: a header deadline and a cap per client address.

aiohttp closes idle keep-alive connections (`keepalive_timeout`) but has no
deadline for a request's headers and no per-address limit, so one host could
open a thousand half-finished requests and take every file descriptor. Both
live here, at the protocol level, in front of aiohttp's own protocol:

- `ConnectionGuard` counts open connections per client address (over every
  listener); one more than `per_address` is answered `503` and closed at once.
- a connection whose first request's headers are not complete within
  `header_timeout_s` of opening is answered `408` and closed (later requests on
  a keep-alive connection are bounded by the idle timeout, which aiohttp
  applies to a connection waiting for its next request, complete or not);
- TLS handshakes get the same deadline (`ssl_handshake_timeout`).

The cost per request is nothing; per connection a dict update and a timer; per
chunk received one forwarding call, plus, until the first headers end, a look
for the blank line that ends them.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

log = logging.getLogger(__name__)

_HEADERS_END = b"\r\n\r\n"
# The request line aiohttp accepts (its default is 8,190 bytes): a query within the
# documented bounds (1,024 characters of filter, each up to 12 bytes percent-encoded)
# must reach the handler, which answers in the API's error shape, not aiohttp's text.
MAX_REQUEST_LINE = 32 * 1024


def _plain_answer(status: str, text: str, *headers: str) -> bytes:
    """A whole HTTP/1.1 answer, written before closing a connection aiohttp never saw."""
    body = text.encode()
    head = [f"HTTP/1.1 {status}", "Connection: close", *headers, "Content-Type: text/plain"]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


_BUSY = _plain_answer(
    "503 Service Unavailable", "too many open connections from this address\n", "Retry-After: 10"
)
_TOO_SLOW = _plain_answer("408 Request Timeout", "the request headers did not arrive in time\n")


class ConnectionGuard:
    """Per-address connection counts shared by every listener of one daemon."""

    def __init__(self, *, per_address: int, header_timeout_s: float) -> None:
        self.per_address = per_address
        self.header_timeout_s = header_timeout_s
        self.open: dict[str, int] = {}
        self.refused = 0  # connections answered 503 (over the cap)
        self.timed_out = 0  # connections closed for slow headers

    def admit(self, address: str) -> bool:
        count = self.open.get(address, 0)
        if count >= self.per_address:
            self.refused += 1
            return False
        self.open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self.open.get(address, 0) - 1
        if count > 0:
            self.open[address] = count
        else:
            self.open.pop(address, None)

    def wrap(self, make_protocol: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for `loop.create_server` that puts this guard in front."""
        return lambda: _Guarded(make_protocol(), self)


def _peer_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer or "")


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol behind the per-address cap and the header deadline."""

    __slots__ = ("_address", "_guard", "_inner", "_seen", "_timer", "_transport")

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner: asyncio.Protocol | None = inner
        self._guard = guard
        self._address = ""
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None
        self._seen = b""  # the tail of what came so far, until the first headers end

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        self._address = _peer_address(transport)
        if not self._guard.admit(self._address):
            self._inner = None
            transport.write(_BUSY)
            transport.close()
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.header_timeout_s, self._headers_late)
        assert self._inner is not None
        self._inner.connection_made(transport)

    def _headers_late(self) -> None:
        self._timer = None
        if self._transport is None or self._transport.is_closing():
            return
        self._guard.timed_out += 1
        self._transport.write(_TOO_SLOW)
        self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._seen + data
            if _HEADERS_END in seen:
                self._timer.cancel()
                self._timer = None
                self._seen = b""
            else:
                self._seen = seen[-3:]
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None
        inner, self._inner = self._inner, None
        if inner is None:
            return  # refused at connection_made: never counted
        self._guard.release(self._address)
        inner.connection_lost(exc)


class GuardedSite(web.BaseSite):
    """`web.TCPSite`, with a `ConnectionGuard` in front of aiohttp's protocol."""

    __slots__ = ("_guard", "_host", "_port", "_reuse_address")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 1024,
        reuse_address: bool = True,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._guard = guard
        self._host = host
        self._port = port
        self._reuse_address = reuse_address

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        extra: dict[str, Any] = {}
        if self._ssl_context is not None:
            extra["ssl_handshake_timeout"] = self._guard.header_timeout_s
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.wrap(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            **extra,
        )
