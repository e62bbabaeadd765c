"""A server answering outside the contract — here, JSON nested past any honest depth —
gets a ServerError from the SDK, never a RecursionError in the application."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lls.client import LicenseClient, LicenseClientError, RequestRejected, ServerError

DEEP = b'{"authStatus":"Success","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.fixture(params=[200, 500, 409])
async def hostile(request: pytest.FixtureRequest) -> AsyncIterator[TestServer]:
    """A real server on a real port whose every answer nests 100,000 levels deep: as a
    result (200), as an error body (500: ServerError, 409: a rejection's body)."""
    status: int = request.param

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=DEEP, status=status, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_a_too_deep_answer_is_refused_cleanly(hostile: TestServer) -> None:
    async with LicenseClient(str(hostile.make_url("/")), auth_context="h1") as client:
        with pytest.raises(LicenseClientError) as refused:
            await client.validate("LIC-ONE")
    assert isinstance(refused.value, ServerError | RequestRejected)
    assert "deeper than" in str(refused.value)
