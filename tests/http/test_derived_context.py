"""A client that sends no authContext: its session belongs to its address, `ip:<address>`.

Each test client is bound to its own loopback source address (127.0.0.1 and
127.0.0.2 are both on `lo`), so the server sees two real peers on a real port.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from unittest import mock

import aiohttp
import aiohttp.web
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from lls.errors import BadRequest
from lls.http.caller import caller_context
from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

Post = Callable[[str, dict[str, Any]], Awaitable[tuple[int, Any]]]


@pytest.fixture
async def from_address(server: Server) -> AsyncIterator[Callable[[str], Post]]:
    """`from_address("127.0.0.2")` → a `post(endpoint, body)` whose TCP source is that address."""
    sessions: list[aiohttp.ClientSession] = []

    def bind(address: str) -> Post:
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))
        sessions.append(http)

        async def post(endpoint: str, body: dict[str, Any]) -> tuple[int, Any]:
            url = server.client.make_url(f"/licensing/{endpoint}")
            async with http.post(url, json=body) as resp:
                return resp.status, await resp.json() if resp.status != 204 else None

        return post

    yield bind
    for http in sessions:
        await http.close()


def session(token: str = "LIC-ONE") -> dict[str, Any]:
    return {"licenseToken": token, "productCodes": [PRODUCT]}


async def test_activate_without_context_from_two_addresses_on_one_seat_refuses_the_second(
    server: Server, from_address: Callable[[str], Post]
) -> None:
    first, second = from_address("127.0.0.1"), from_address("127.0.0.2")
    assert (await first("activate", session()))[1]["authStatus"] == "Success"
    _, refused = await second("activate", session())
    assert (refused["authStatus"], refused["reason"]) == ("Failed", "SESSION_LIMIT_REACHED")
    assert [s.auth_context for s in server.licensing.reads.live_sessions()] == ["ip:127.0.0.1"]


async def test_deactivate_without_context_frees_the_callers_seat_for_another_address(
    server: Server, from_address: Callable[[str], Post]
) -> None:
    first, second = from_address("127.0.0.1"), from_address("127.0.0.2")
    await first("activate", session())
    assert (await second("deactivate", {"licenseToken": "LIC-ONE"}))[0] == 204
    assert (await second("activate", session()))[1]["reason"] == "SESSION_LIMIT_REACHED"
    assert (await first("deactivate", {"licenseToken": "LIC-ONE"}))[0] == 204
    _, body = await second("activate", session())
    assert body["authStatus"] == "Success"
    assert [s.auth_context for s in server.licensing.reads.live_sessions()] == ["ip:127.0.0.2"]


async def test_repeat_activate_and_extend_without_context_refresh_the_callers_own_session(
    server: Server, from_address: Callable[[str], Post]
) -> None:
    first, second = from_address("127.0.0.1"), from_address("127.0.0.2")
    await first("activate", session())
    server.clock.advance(300)
    _, again = await first("activate", session())
    server.clock.advance(300)
    _, extended = await first("extend", session())
    _, stranger = await second("extend", session())
    assert (again["authStatus"], extended["authStatus"]) == ("Success", "Success")
    assert (stranger["authStatus"], stranger["reason"]) == ("Failed", "NO_ACTIVE_SESSION")
    assert len(server.licensing.reads.live_sessions()) == 1


async def test_explicit_context_ip_form_is_the_same_session_as_no_context(
    server: Server, from_address: Callable[[str], Post]
) -> None:
    await from_address("127.0.0.2")("activate", session())
    _, body = await server.call("extend", **session(), authContext="ip:127.0.0.2")
    assert body["authStatus"] == "Success"


async def test_empty_context_stays_a_400(server: Server) -> None:
    for endpoint in ("activate", "extend", "deactivate", "features/checkout"):
        body = {**session(), "authContext": "", "featureCode": "X"}
        status, doc = await server.call(endpoint, **body)
        assert (status, doc["code"], doc["field"]) == (400, "VALIDATION_ERROR", "authContext")


async def test_feature_calls_without_context_use_the_callers_session(
    make_server: ServerFactory,
) -> None:
    server = await make_server(
        [grant("FEAT", seats=2, features=[{"code": "PDF", "type": "floating", "count": 1}])]
    )
    local = {"licenseToken": "FEAT", "featureCode": "PDF"}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    ) as other:
        await server.call("activate", licenseToken="FEAT", productCodes=[PRODUCT])
        _, taken = await server.call("features/checkout", **local)
        url = server.client.make_url("/licensing/features/checkout")
        async with other.post(url, json=local) as resp:
            stranger = await resp.json()
        _, back = await server.call("features/return", **local)
    assert (taken["authStatus"], taken["checkedOut"]) == ("Success", 1)
    assert (stranger["authStatus"], stranger["reason"]) == ("Failed", "NO_ACTIVE_SESSION")
    assert (back["authStatus"], back["quantity"], back["available"]) == ("Success", 1, 1)


async def test_node_locked_license_binds_the_derived_context(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("NODE", type="node-locked")])
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    ) as other:
        await server.call("activate", **session("NODE"))
        await server.call("deactivate", licenseToken="NODE")
        async with other.post(
            server.client.make_url("/licensing/activate"), json=session("NODE")
        ) as resp:
            refused = await resp.json()
    assert (refused["authStatus"], refused["reason"]) == ("Failed", "NODE_LOCKED")
    assert server.licensing.state.licenses["NODE"].bound_context == "ip:127.0.0.1"


async def test_environment_is_bound_to_the_derived_context(make_server: ServerFactory) -> None:
    server = await make_server([grant("ORG1", orgId="org-1"), grant("ORG2", orgId="org-2")])
    await server.call("activate", **session("ORG1"))
    _, refused = await server.call("activate", **session("ORG2"))
    assert refused["reason"] == "ENVIRONMENT_OF_OTHER_ORG"
    assert server.licensing.state.environments == {"ip:127.0.0.1": "org-1"}


async def test_validate_without_context_stays_stateless_and_reports_no_session(
    server: Server,
) -> None:
    await server.call("activate", **session())
    _, body = await server.call("validate", **session())
    assert (body["authStatus"], body["sessionExpiresAt"]) == ("Success", None)


async def test_ipv4_client_on_a_dual_stack_listener_gets_its_ipv4_context(
    server: Server,
) -> None:
    # A second listener of the same app on an IPv6 socket bound to ::ffff:127.0.0.1 (as a
    # dual-stack listener on [::] sees IPv4 peers): the peer arrives as ::ffff:127.0.0.1
    # and must be the same session as on the IPv4 listener.
    port = await _second_listener(server, "::ffff:127.0.0.1")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/licensing/activate", json=session()) as resp,
    ):
        body = await resp.json()
    _, again = await server.call("activate", **session())  # the IPv4 listener, same peer
    assert (body["authStatus"], again["authStatus"]) == ("Success", "Success")
    assert [s.auth_context for s in server.licensing.reads.live_sessions()] == ["ip:127.0.0.1"]


async def test_ipv6_client_gets_an_ipv6_context(server: Server) -> None:
    port = await _second_listener(server, "::1")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://[::1]:{port}/licensing/activate", json=session()) as resp,
    ):
        body = await resp.json()
    assert body["authStatus"] == "Success"
    assert [s.auth_context for s in server.licensing.reads.live_sessions()] == ["ip:::1"]


async def _second_listener(server: Server, address: str) -> int:
    """Serve the same app on an IPv6 loopback socket too; its port."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind((address, 0))
    except OSError as exc:  # containers often run with IPv6 off; the unit tests below stay
        sock.close()
        pytest.skip(f"this machine has no IPv6 loopback ({exc})")
    runner = server.client.server.runner
    assert runner is not None
    site = aiohttp.web.SockSite(runner, sock)
    await site.start()
    return int(sock.getsockname()[1])


def _peer(peername: object) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        peername if name == "peername" else default
    )
    return make_mocked_request("POST", "/licensing/activate", transport=transport)


@pytest.mark.parametrize(
    ("peername", "context"),
    [
        (("10.0.0.17", 50000), "ip:10.0.0.17"),
        (("::ffff:10.0.0.17", 50000, 0, 0), "ip:10.0.0.17"),
        (("fe80::1%eth0", 50000, 0, 2), "ip:fe80::1%eth0"),
    ],
)
def test_caller_context_is_the_peer_address_with_mapped_ipv4_unwrapped(
    peername: object, context: str
) -> None:
    assert caller_context(_peer(peername), None) == context


def test_caller_context_without_a_peer_address_is_a_400_naming_the_field() -> None:
    with pytest.raises(BadRequest) as refused:
        caller_context(_peer(""), None)
    assert refused.value.field == "authContext"


def test_caller_context_given_wins_over_the_address() -> None:
    assert caller_context(_peer(("10.0.0.17", 1)), "desk-7") == "desk-7"
