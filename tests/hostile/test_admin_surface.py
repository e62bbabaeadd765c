"""Point 6 of issue 10: the admin API on a listener of its own, wrong tokens throttled and
audited (sparingly), and requests for a Host it does not answer to refused (DNS rebinding)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from lls.clock import FakeClock
from lls.config.load import load_config
from lls.config.settings import Config
from lls.http.admin_throttle import AUDITS_PER_WINDOW, AdminTokenThrottle
from tests.conftest import Server, ServerFactory

WRONG = {"Authorization": "Bearer not-the-token"}


async def _throttle_events(server: Server) -> list[Any]:
    events = await server.licensing.store.audit(after=0, limit=1000)
    return [e for e in events if e.type == "admin.throttled"]


def test_default_admin_listener_is_127_0_0_1_port_8081() -> None:
    config = load_config(None, env={})

    assert (config.admin_host, config.admin_port, config.separate_admin) == (
        "127.0.0.1",
        8081,
        True,
    )


async def test_by_default_the_client_listener_answers_404_for_admin_paths(
    make_server: ServerFactory,
) -> None:
    server = await make_server(None, admin_port=Config().admin_port)

    resp = await server.client.get("/admin/v1/status", headers=server.admin_headers)

    assert resp.status == 404


async def test_twenty_wrong_tokens_a_minute_then_429_with_retry_after(server: Server) -> None:
    statuses = []
    for _ in range(20):
        statuses.append((await server.client.get("/admin/v1/status", headers=WRONG)).status)

    resp = await server.client.get("/admin/v1/status", headers=WRONG)

    assert statuses == [401] * 20
    assert resp.status == 429
    assert resp.content_type == "application/problem+json"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert (await resp.json())["code"] == "TOO_MANY_REQUESTS"


async def test_throttled_address_gets_429_even_with_the_right_token_until_the_window_ends(
    server: Server,
) -> None:
    for _ in range(20):
        await server.client.get("/admin/v1/status", headers=WRONG)

    during = await server.client.get("/admin/v1/status", headers=server.admin_headers)
    server.clock.advance(61)
    after = await server.client.get("/admin/v1/status", headers=server.admin_headers)

    assert (during.status, after.status) == (429, 200)


async def test_two_hundred_wrong_tokens_from_one_address_are_audited_once(
    server: Server,
) -> None:
    for _ in range(200):
        await server.client.get("/admin/v1/status", headers=WRONG)

    events = await _throttle_events(server)

    assert len(events) == 1
    assert events[0].data["failures"] == 20
    assert events[0].data["address"] == "127.0.0.1"


async def test_the_right_token_clears_the_count_of_its_address(server: Server) -> None:
    for _ in range(19):
        await server.client.get("/admin/v1/status", headers=WRONG)
    await server.client.get("/admin/v1/status", headers=server.admin_headers)

    statuses = [
        (await server.client.get("/admin/v1/status", headers=WRONG)).status for _ in range(20)
    ]

    assert statuses == [401] * 20


async def test_wrong_tokens_from_many_addresses_write_a_bounded_number_of_audit_events(
    server: Server,
) -> None:
    addresses = [f"127.0.0.{n}" for n in range(2, 2 + AUDITS_PER_WINDOW + 10)]
    url = server.client.make_url("/admin/v1/status")

    async def guess_from(address: str) -> list[int]:
        connector = aiohttp.TCPConnector(local_addr=(address, 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            found = []
            for _ in range(21):
                async with session.get(url, headers=WRONG) as resp:
                    found.append(resp.status)
            return found

    results = await asyncio.gather(*(guess_from(a) for a in addresses))

    assert all(r == [401] * 20 + [429] for r in results)
    events = await _throttle_events(server)
    assert len(events) == AUDITS_PER_WINDOW
    assert {e.data["address"] for e in events} <= set(addresses)


def test_episodes_beyond_the_audit_bound_are_counted_in_the_next_event() -> None:
    clock = FakeClock(start=1000.0)
    throttle = AdminTokenThrottle(clock, limit=2, window_s=60.0)
    episodes = []
    for n in range(AUDITS_PER_WINDOW + 5):
        for _ in range(2):
            episode = throttle.failed(f"10.0.0.{n}")
        episodes.append(episode)
    clock.advance(61)
    throttle.failed("10.9.9.9")

    later = throttle.failed("10.9.9.9")

    assert sum(e is not None for e in episodes) == AUDITS_PER_WINDOW
    assert later is not None and later.unaudited == 5


@pytest.mark.parametrize(
    "host",
    ["evil.example.com", "evil.example.com:8081", "192.168.1.66", "localhost.evil.example"],
)
async def test_admin_request_for_another_host_is_refused_even_with_the_token(
    server: Server, host: str
) -> None:
    resp = await server.client.get(
        "/admin/v1/status", headers={**server.admin_headers, "Host": host}
    )

    assert resp.status == 403
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert problem["code"] == "HOST_NOT_ALLOWED"
    assert "admin.allowed_hosts" in problem["detail"]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:8081", "127.0.0.1", "[::1]:8081"])
async def test_admin_request_for_a_loopback_name_is_served(server: Server, host: str) -> None:
    resp = await server.client.get(
        "/admin/v1/status", headers={**server.admin_headers, "Host": host}
    )

    assert resp.status == 200


async def test_admin_allowed_hosts_adds_names(make_server: ServerFactory) -> None:
    server = await make_server([], admin_allowed_hosts="lls.corp.example, 10.1.2.3")
    headers = server.admin_headers

    named = await server.client.get(
        "/admin/v1/status", headers={**headers, "Host": "lls.corp.example"}
    )
    other = await server.client.get("/admin/v1/status", headers={**headers, "Host": "lls.evil"})

    assert (named.status, other.status) == (200, 403)


async def test_admin_request_without_a_host_header_is_refused(server: Server) -> None:
    reader, writer = await asyncio.open_connection(server.client.host, server.client.port)
    token = server.instance.admin_token
    writer.write(f"GET /admin/v1/status HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    await writer.drain()

    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()

    assert answer.startswith(b"HTTP/1.1 403") or answer.startswith(b"HTTP/1.0 403")
    assert b"HOST_NOT_ALLOWED" in answer


async def test_client_api_does_not_care_about_the_host(server: Server) -> None:
    resp = await server.client.post(
        "/licensing/validate", json={"licenseToken": "LIC-ONE"}, headers={"Host": "anything"}
    )

    assert resp.status == 200


@pytest.mark.parametrize("path", ["/ui/", "/ui/sign-in"])
async def test_dashboard_page_for_another_host_is_refused(server: Server, path: str) -> None:
    resp = await server.client.get(
        path, headers={"Host": "evil.example.com"}, allow_redirects=False
    )

    assert resp.status == 403
    assert "HOST_NOT_ALLOWED" in await resp.text()


async def test_dashboard_sign_in_page_for_localhost_is_served(server: Server) -> None:
    resp = await server.client.get("/ui/sign-in", headers={"Host": "localhost:8081"})

    assert resp.status == 200
