"""The SDK side of borrowing: `session.borrow(days=3)` stores the lease with OfflineDevice,
and `OfflineDevice.check()` then answers with no network at all (issue 16, part 3)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lls.client import (
    LicenseClient,
    LicenseRefused,
    OfflineDevice,
    OfflineError,
    SyncLicenseClient,
)
from tests.client.conftest import base_url
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

DAY_S = 86_400


@pytest.fixture
async def bserver(make_server: ServerFactory) -> Server:
    return await make_server(
        [
            grant("LIC-ROAD", seats=1, borrowMaxSeconds=2 * DAY_S),
            grant("LIC-DESK", seats=1),
        ]
    )


async def _seat_free(server: Server, token: str) -> bool:
    _, answer = await server.call(
        "activate", licenseToken=token, productCodes=[PRODUCT], authContext="someone-else"
    )
    return bool(answer["authStatus"] == "Success")


async def test_session_borrow_stores_the_lease_and_check_needs_no_network(
    bserver: Server, tmp_path: Path
) -> None:
    key_file = tmp_path / "laptop.jwks"
    device = OfflineDevice(key_file)
    async with LicenseClient(base_url(bserver), timeout=5, auth_context="laptop-1") as client:
        async with client.session("LIC-ROAD", [PRODUCT], device=device) as session:
            lease = await session.borrow(days=3)  # over the license's 2 days: capped
            assert session.borrowed == lease
        # Leaving the body did not deactivate: the seat is borrowed, not free.
        assert not await _seat_free(bserver, "LIC-ROAD")
    expected = datetime.fromtimestamp(int(bserver.clock.now() + 2 * DAY_S), UTC)
    assert (lease.kind, lease.lease_expires_at) == ("borrow", expected)

    # Off the LAN: a fresh process reads the key file and the state file, nothing else.
    offline = OfflineDevice(key_file)
    assert offline.check().activation_id == lease.activation_id
    assert offline.check().license_token == "LIC-ROAD"
    with pytest.raises(OfflineError) as ended:
        offline.check(now=expected + timedelta(seconds=1))
    assert ended.value.code == "LEASE_EXPIRED"


async def test_return_borrow_frees_the_seat_and_drops_the_lease(
    bserver: Server, tmp_path: Path
) -> None:
    device = OfflineDevice(tmp_path / "laptop.jwks")
    async with LicenseClient(base_url(bserver), timeout=5, auth_context="laptop-1") as client:
        async with client.session("LIC-ROAD", [PRODUCT]) as session:
            await session.borrow(device, seconds=3600)
        assert not await _seat_free(bserver, "LIC-ROAD")
        await client.return_borrow(device)
    assert await _seat_free(bserver, "LIC-ROAD")
    with pytest.raises(OfflineError) as none:
        device.check()
    assert none.value.code == "NO_LEASE"


async def test_a_refused_borrow_keeps_the_session_held(bserver: Server, tmp_path: Path) -> None:
    device = OfflineDevice(tmp_path / "laptop.jwks")
    async with LicenseClient(base_url(bserver), timeout=5, auth_context="desk-1") as client:
        async with client.session("LIC-DESK", [PRODUCT], extend_every=0.05) as session:
            with pytest.raises(LicenseRefused) as refused:
                await session.borrow(device, days=1)
            assert refused.value.reason == "BORROW_NOT_ALLOWED"
            await asyncio.sleep(0.3)  # the keep-alive runs again: several extends go through
            assert not session.lost and session.borrowed is None
            assert session._task is not None and not session._task.done()
            assert not await _seat_free(bserver, "LIC-DESK")
        assert await _seat_free(bserver, "LIC-DESK")  # and deactivated on exit as usual
    with pytest.raises(OfflineError):
        device.check()


async def test_the_blocking_client_borrows_and_returns_too(bserver: Server, tmp_path: Path) -> None:
    url = base_url(bserver)
    device = OfflineDevice(tmp_path / "laptop.jwks")

    def app() -> str:
        with SyncLicenseClient(url, auth_context="laptop-s") as client:
            with client.session("LIC-ROAD", [PRODUCT], device=device) as session:
                lease = session.borrow(days=1)
            assert OfflineDevice(tmp_path / "laptop.jwks").check() == lease
            return lease.activation_id

    activation_id = await asyncio.to_thread(app)
    assert not await _seat_free(bserver, "LIC-ROAD")
    assert device.check().activation_id == activation_id

    def give_back() -> None:
        with SyncLicenseClient(url) as client:
            client.return_borrow(device)

    await asyncio.to_thread(give_back)
    assert await _seat_free(bserver, "LIC-ROAD")
