"""Held sessions against a real server: keep-alive, loss, deactivation on exit."""

from __future__ import annotations

import asyncio
import random

import pytest

from lls.client import LicenseClient, LicenseRefused, Reason, SessionLost, keepalive_delay
from lls.client.models import ValidationResult
from tests.client.conftest import until
from tests.conftest import Server
from tests.pools import PRODUCT


def _live(server: Server, ctx: str) -> list[str]:
    return [s.id for s in server.licensing.reads.live_sessions() if s.auth_context == ctx]


def test_keepalive_delay_is_half_window_with_jitter_and_floor() -> None:
    rng = random.Random(7)
    delays = [keepalive_delay(600, rng) for _ in range(500)]
    assert min(delays) >= 270 and max(delays) <= 330
    assert max(delays) - min(delays) > 30  # jitter actually spreads clients out
    assert keepalive_delay(1.0, rng) == 1.0


async def test_session_outlives_several_windows_by_extending(
    server: Server, client: LicenseClient
) -> None:
    async with client.session("LIC-ONE", [PRODUCT], "host-a", extend_every=0.02) as s:
        started = _live(server, "host-a")
        for _ in range(4):  # 4 x 400 s of server time: more than two 600 s windows
            server.clock.advance(400)
            await until(
                lambda: (
                    s.result.session_expires_at is not None
                    and s.result.session_expires_at.timestamp() >= int(server.clock.now()) + 600
                )
            )
        assert _live(server, "host-a") == started
        assert not s.lost


async def test_session_exit_deactivates(server: Server, client: LicenseClient) -> None:
    async with client.session("LIC-ONE", [PRODUCT], "host-a"):
        assert len(_live(server, "host-a")) == 1
    assert server.licensing.reads.live_sessions() == []


async def test_session_body_raising_deactivates_and_propagates(
    server: Server, client: LicenseClient
) -> None:
    boom = ValueError("the application failed")
    with pytest.raises(ValueError) as caught:
        async with client.session("LIC-ONE", [PRODUCT], "host-a"):
            raise boom
    assert caught.value is boom
    assert server.licensing.reads.live_sessions() == []


async def test_session_refused_on_enter_raises_with_reason(
    server: Server, client: LicenseClient
) -> None:
    await server.activate("LIC-ONE", "host-a")
    entered = False
    with pytest.raises(LicenseRefused) as caught:
        async with client.session("LIC-ONE", [PRODUCT], "host-b"):
            entered = True
    assert caught.value.reason == Reason.SESSION_LIMIT_REACHED
    assert not entered


async def test_session_ended_by_admin_is_lost_and_on_lost_called(
    server: Server, client: LicenseClient
) -> None:
    calls: list[str] = []
    async with client.session(
        "LIC-ONE", [PRODUCT], "host-a", on_lost=calls.append, extend_every=0.05
    ) as s:
        (session_id,) = _live(server, "host-a")
        resp = await server.client.delete(
            f"/admin/v1/sessions/{session_id}", headers=server.admin_headers
        )
        assert resp.status == 204
        reason = await asyncio.wait_for(s.wait_lost(), 5)
        assert reason == Reason.NO_ACTIVE_SESSION
        assert calls == ["NO_ACTIVE_SESSION"]
        with pytest.raises(SessionLost) as caught:
            s.raise_if_lost()
        assert caught.value.reason == "NO_ACTIVE_SESSION"
    # exit after loss is quiet: deactivate of a gone session is a 204


async def test_session_lost_calls_async_on_lost_once(server: Server, client: LicenseClient) -> None:
    calls: list[str] = []

    async def on_lost(reason: str) -> None:
        await asyncio.sleep(0)
        calls.append(reason)

    async with client.session(
        "LIC-ONE", [PRODUCT], "host-a", on_lost=on_lost, extend_every=0.02
    ) as s:
        await server.client.delete(
            f"/admin/v1/sessions/{_live(server, 'host-a')[0]}", headers=server.admin_headers
        )
        await asyncio.wait_for(s.wait_lost(), 5)
        await asyncio.sleep(0.1)  # further beats must not report again
    assert calls == ["NO_ACTIVE_SESSION"]


async def test_session_taken_over_after_expiry_is_lost(
    server: Server, client: LicenseClient
) -> None:
    async with client.session("LIC-ONE", [PRODUCT], "host-a", extend_every=0.5) as s:
        server.clock.advance(601)  # the window passes before the next beat
        await server.activate("LIC-ONE", "host-b")
        assert await asyncio.wait_for(s.wait_lost(), 5) == Reason.NO_ACTIVE_SESSION
    assert _live(server, "host-b") != []  # our exit did not end the other machine's seat


async def test_on_lost_may_close_the_session_itself(server: Server, client: LicenseClient) -> None:
    closed: list[bool] = []

    async def on_lost(reason: str) -> None:
        await s.close()  # the keep-alive task is the caller here: no self-wait
        closed.append(True)

    s = client.session("LIC-ONE", [PRODUCT], "host-a", on_lost=on_lost, extend_every=0.02)
    async with s:
        await server.client.delete(
            f"/admin/v1/sessions/{_live(server, 'host-a')[0]}", headers=server.admin_headers
        )
        await asyncio.wait_for(s.wait_lost(), 5)
        await until(lambda: closed == [True])


async def test_session_with_wait_gets_the_seat_when_it_frees(
    server: Server, client: LicenseClient
) -> None:
    async with client.session("LIC-ONE", [PRODUCT], "host-a") as first:
        waiting = asyncio.create_task(
            client.session("LIC-ONE", [PRODUCT], "host-b", wait=60).__aenter__()
        )
        await until(
            lambda: [d for d, _ in server.licensing.waits.queues.waiting("LIC-ONE")] == ["host-b"]
        )
        assert not waiting.done() and first.result.ok
    second = await waiting  # the first left the block: its seat went to the waiter
    assert second.result.ok and [
        s.auth_context for s in server.licensing.reads.live_sessions()
    ] == ["host-b"]
    await second.close()


async def test_activate_with_wait_that_runs_out_says_the_place(
    server: Server, client: LicenseClient
) -> None:
    await client.activate("LIC-ONE", [PRODUCT], "host-a")
    with pytest.raises(LicenseRefused) as refused:
        await client.activate("LIC-ONE", [PRODUCT], "host-b", wait=1)
    assert refused.value.reason == Reason.SESSION_LIMIT_REACHED
    response = refused.value.response
    assert isinstance(response, ValidationResult) and response.queue_position == 1
