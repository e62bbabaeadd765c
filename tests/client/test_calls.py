"""LicenseClient's one-call-per-endpoint API against a real server: results, refusals, errors."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from lls.client import (
    AuthStatus,
    LicenseClient,
    LicenseRefused,
    Reason,
    RequestRejected,
    ServerUnreachable,
)
from lls.sealed import PublicKeys
from tests.client.conftest import base_url
from tests.conftest import DEFAULT_LICENSES, Server, ServerFactory
from tests.pools import PRODUCT


async def test_activate_free_seat_returns_typed_result(
    server: Server, client: LicenseClient
) -> None:
    result = await client.activate("LIC-ONE", PRODUCT, "host-a")
    assert result.auth_status is AuthStatus.SUCCESS
    assert result.product_code == PRODUCT
    assert result.contact is not None and result.contact.email == "john@example.com"
    assert result.session_expires_at == datetime.fromtimestamp(
        int(server.clock.now()) + 600, tz=UTC
    )
    assert result.license_expires_at == datetime(2099, 1, 1, tzinfo=UTC)


async def test_activate_taken_seat_raises_refusal_with_reason(
    server: Server, client: LicenseClient
) -> None:
    await server.activate("LIC-ONE", "host-a")
    with pytest.raises(LicenseRefused) as caught:
        await client.activate("LIC-ONE", [PRODUCT], "host-b")
    assert caught.value.reason == Reason.SESSION_LIMIT_REACHED
    assert caught.value.message == "All seats of this license are in use"
    assert caught.value.response is not None
    assert caught.value.response.auth_status is AuthStatus.FAILED


async def test_activate_unknown_token_raises_license_not_found(client: LicenseClient) -> None:
    with pytest.raises(LicenseRefused) as caught:
        await client.activate("NOPE", [PRODUCT], "host-a")
    assert caught.value.reason == "LICENSE_NOT_FOUND"


async def test_validate_unknown_token_returns_refusal_without_raising(
    client: LicenseClient,
) -> None:
    result = await client.validate("NOPE")
    assert result.auth_status is AuthStatus.FAILED
    assert result.reason == Reason.LICENSE_NOT_FOUND
    assert not result.ok


async def test_extend_without_session_raises_no_active_session(client: LicenseClient) -> None:
    with pytest.raises(LicenseRefused) as caught:
        await client.extend("LIC-ONE", [PRODUCT], "host-a")
    assert caught.value.reason == Reason.NO_ACTIVE_SESSION


async def test_deactivate_frees_the_seat_and_is_idempotent(
    server: Server, client: LicenseClient
) -> None:
    await client.activate("LIC-ONE", [PRODUCT], "host-a")
    await client.deactivate("LIC-ONE", "host-a")
    await client.deactivate("LIC-ONE", "host-a")
    assert server.licensing.reads.live_sessions() == []


async def test_deactivate_unknown_token_raises_refusal(client: LicenseClient) -> None:
    with pytest.raises(LicenseRefused) as caught:
        await client.deactivate("NOPE", "host-a")
    assert caught.value.reason == Reason.LICENSE_NOT_FOUND


async def test_activate_empty_product_codes_raises_rejected_with_field(
    client: LicenseClient,
) -> None:
    with pytest.raises(RequestRejected) as caught:
        await client.activate("LIC-ONE", [], "host-a")
    assert (caught.value.status, caught.value.field) == (400, "productCodes")
    assert caught.value.code == "VALIDATION_ERROR"
    assert caught.value.error


async def test_too_many_unknown_tokens_raises_rejected_with_retry_after(
    make_server: ServerFactory,
) -> None:
    server = await make_server(DEFAULT_LICENSES, guess_limit=2)
    async with LicenseClient(base_url(server)) as client:
        for _ in range(2):
            await client.validate("NOPE")
        with pytest.raises(RequestRejected) as caught:
            await client.validate("NOPE")
    assert caught.value.status == 429
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1


async def test_call_to_closed_port_raises_server_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with LicenseClient(f"http://127.0.0.1:{port}", timeout=2) as client:
        with pytest.raises(ServerUnreachable):
            await client.validate("LIC-ONE")


async def test_instance_returns_id_and_usable_keys(server: Server, client: LicenseClient) -> None:
    info = await client.instance()
    assert info.instance_id == server.instance.instance_id
    assert PublicKeys.from_jwks(info.keys).kids == server.instance.keys.public().kids


async def test_passed_in_session_is_used_and_left_open(server: Server) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with LicenseClient(base_url(server), session=http) as client:
            result = await client.validate("LIC-ONE", PRODUCT)
        assert result.ok
        assert not http.closed
