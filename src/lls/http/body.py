"""Reading request bodies within their limits: 415 for non-JSON, 413 beyond the size bound,
408 when the body does not arrive in time (a client trickling it to hold the connection)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from lls.errors import PayloadTooLarge, RequestTimeout, UnsupportedMediaType

CLIENT_BODY_LIMIT = 16 * 1024  # api.md §1
BODY_TIMEOUT_S = 10.0  # a 16 KiB body: ample on any LAN
LARGE_BODY_TIMEOUT_S = 600.0  # a pool file of up to 64 MiB, even at 1 Mbit/s


async def read_limited(request: web.Request, limit: int, timeout_s: float | None = None) -> bytes:
    """The whole body, refusing (413) as soon as it passes `limit` bytes, and (408) when it
    has not all arrived within `timeout_s` (default BODY_TIMEOUT_S). The body is nearly
    always in already when the handler runs: then no timer is set at all."""
    if request.content.is_eof():
        return await _read(request, limit)
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S if timeout_s is None else timeout_s):
            return await _read(request, limit)
    except TimeoutError:
        raise RequestTimeout("the request body did not arrive in time.") from None


async def _read(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None:
        if length > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes.")
        return await request.read()
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_any():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(
    request: web.Request, limit: int = CLIENT_BODY_LIMIT, timeout_s: float | None = None
) -> bytes:
    """A JSON body: the content type must be application/json (415 otherwise)."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"the content type must be application/json, not {request.content_type or 'none'}."
        )
    return await read_limited(request, limit, timeout_s)
