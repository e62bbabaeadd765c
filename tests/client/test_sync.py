"""SyncLicenseClient: the blocking wrapper, run from a worker thread while the server serves."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lls.client import LicenseRefused, Reason, SyncLicenseClient
from tests.client.conftest import base_url
from tests.conftest import Server
from tests.pools import PRODUCT


def _client_threads() -> int:
    return sum(t.name == "lls-client" for t in threading.enumerate())


async def test_sync_session_keeps_alive_while_app_code_runs_then_deactivates(
    server: Server,
) -> None:
    url = base_url(server)

    def app() -> tuple[bool, bool]:
        with (
            SyncLicenseClient(url) as client,
            client.session("LIC-ONE", [PRODUCT], "host-sync", extend_every=0.05) as s,
        ):
            first = s.result
            time.sleep(0.5)  # the application's own blocking work
            return s.result is not first, s.lost

    extended, lost = await asyncio.to_thread(app)
    assert extended and not lost
    assert server.licensing.reads.live_sessions() == []
    assert _client_threads() == 0


async def test_sync_session_body_raising_deactivates_and_propagates(server: Server) -> None:
    url = base_url(server)

    def app() -> None:
        with SyncLicenseClient(url) as client, client.session("LIC-ONE", [PRODUCT], "host-sync"):
            raise RuntimeError("application failure")

    with pytest.raises(RuntimeError, match="application failure"):
        await asyncio.to_thread(app)
    assert server.licensing.reads.live_sessions() == []


async def test_sync_calls_return_results_and_raise_refusals(server: Server) -> None:
    await server.activate("LIC-ONE", "host-a")
    url = base_url(server)

    def app() -> tuple[str | None, str]:
        with SyncLicenseClient(url) as client:
            validated = client.validate("NOPE")
            try:
                client.activate("LIC-ONE", PRODUCT, "host-b")
            except LicenseRefused as exc:
                return validated.reason, exc.reason
        raise AssertionError("activate was not refused")

    assert await asyncio.to_thread(app) == (Reason.LICENSE_NOT_FOUND, Reason.SESSION_LIMIT_REACHED)


async def test_sync_wait_lost_reports_admin_end(server: Server) -> None:
    url = base_url(server)
    client = SyncLicenseClient(url)
    try:
        session = client.session("LIC-ONE", [PRODUCT], "host-sync", extend_every=0.05)
        await asyncio.to_thread(session.__enter__)
        assert await asyncio.to_thread(session.wait_lost, 0.1) is None
        (live,) = server.licensing.reads.live_sessions()
        await server.client.delete(f"/admin/v1/sessions/{live.id}", headers=server.admin_headers)
        assert await asyncio.to_thread(session.wait_lost, 5) == Reason.NO_ACTIVE_SESSION
        await asyncio.to_thread(session.__exit__, None, None, None)
    finally:
        await asyncio.to_thread(client.close)
    assert _client_threads() == 0
