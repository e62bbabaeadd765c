"""Reading request bodies within their limits: 415 for non-JSON, 413 beyond the size bound."""

from __future__ import annotations

from aiohttp import web

from lls.errors import PayloadTooLarge, UnsupportedMediaType

CLIENT_BODY_LIMIT = 16 * 1024  # api.md §1


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The whole body, refusing (413) as soon as it passes `limit` bytes."""
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


async def read_json(request: web.Request, limit: int = CLIENT_BODY_LIMIT) -> bytes:
    """A JSON body: the content type must be application/json (415 otherwise)."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"the content type must be application/json, not {request.content_type or 'none'}."
        )
    return await read_limited(request, limit)
