"""Keep-alive on the wall clock: a 10 s window, the SDK's own interval, a network that fails.

These run in real time (about 30 s together) because what they test is timing:
that the interval derived from the server's window keeps a session alive, that
a short outage is ridden out, and that a long one is reported as a loss only
once the window has really passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from lls.client import LicenseClient, Reason, ValidationResult
from tests.client.conftest import FAST_WINDOW_S
from tests.conftest import Server
from tests.pools import PRODUCT

pytestmark = pytest.mark.realtime  # ~30 s of real session windows


def _live_ids(server: Server) -> list[str]:
    return [s.id for s in server.licensing.reads.live_sessions() if s.auth_context == "host-rt"]


async def test_session_survives_two_windows_and_a_short_outage(
    live_server: Server, flaky_link: Any, caplog: pytest.LogCaptureFixture
) -> None:
    link, url = await flaky_link(live_server)
    caplog.set_level(logging.WARNING, logger="lls.client")
    async with (
        LicenseClient(url, timeout=2) as client,
        client.session("LIC-FAST", [PRODUCT], "host-rt") as s,
    ):
        assert s.window_s == FAST_WINDOW_S
        start = time.monotonic()
        first_id = _live_ids(live_server)
        answers: set[int] = {id(s.result)}
        seen: list[ValidationResult] = [s.result]
        while (elapsed := time.monotonic() - start) < 2 * FAST_WINDOW_S + 1:
            if 3.5 <= elapsed < 7.0 and not link.down:
                link.cut()  # the first beat (at 4.5–5.5 s) falls into the outage
            elif elapsed >= 7.0 and link.down:
                link.restore()
            assert _live_ids(live_server) == first_id, f"seat lost at {elapsed:.1f} s"
            if id(s.result) not in answers:
                answers.add(id(s.result))
                seen.append(s.result)
            await asyncio.sleep(0.25)
        assert not s.lost
    assert len(seen) >= 4  # the activation and at least three extends
    assert any("retrying" in r.getMessage() for r in caplog.records)  # the outage was met


async def test_outage_longer_than_window_is_lost_once_window_passed(
    live_server: Server, flaky_link: Any, caplog: pytest.LogCaptureFixture
) -> None:
    link, url = await flaky_link(live_server)
    calls: list[str] = []
    asked = time.monotonic()  # the window runs from the activate's answer, at or after this
    with caplog.at_level(logging.WARNING, logger="lls.client"):
        async with (
            LicenseClient(url, timeout=2) as client,
            client.session("LIC-FAST", [PRODUCT], "host-rt", on_lost=calls.append) as s,
        ):
            start = time.monotonic()
            link.cut()
            reason = await asyncio.wait_for(s.wait_lost(), FAST_WINDOW_S + 5)
            lost_at = time.monotonic()
    assert reason == Reason.SERVER_UNREACHABLE
    assert calls == ["SERVER_UNREACHABLE"]
    # Not before the window has passed (counted from before the activate, so a slow answer
    # under load cannot make an on-time loss look early), and not long after it.
    assert lost_at - asked >= FAST_WINDOW_S - 1, lost_at - asked
    assert lost_at - start <= FAST_WINDOW_S + 3, lost_at - start
    assert any("deactivate failed" in r.getMessage() for r in caplog.records)
