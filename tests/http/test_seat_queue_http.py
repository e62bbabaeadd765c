"""`waitSeconds` on a real server: waiters get the seat in arrival order, a timeout gives
the place, a client that disconnects gives its turn to the next (issue 16 §2)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Server, ServerFactory
from tests.pools import PRODUCT, grant

LICENSES = [grant("KEY-ONE", seats=1), grant("KEY-TWO", seats=2)]


@pytest.fixture
async def server(make_server: ServerFactory) -> Server:
    return await make_server(LICENSES)


async def activate(server: Server, ctx: str, wait: Any = None, token: str = "KEY-ONE") -> Any:
    body: dict[str, Any] = {"licenseToken": token, "productCodes": [PRODUCT], "authContext": ctx}
    if wait is not None:
        body["waitSeconds"] = wait
    resp = await server.client.post("/licensing/activate", json=body)
    return resp.status, await resp.json()


async def deactivate(server: Server, ctx: str, token: str = "KEY-ONE") -> None:
    status, _ = await server.call("deactivate", licenseToken=token, authContext=ctx)
    assert status == 204


async def until(condition: Any, timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not condition():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.01)


def waiting(server: Server, token: str = "KEY-ONE") -> list[str]:
    return [device for device, _ in server.licensing.waits.queues.waiting(token)]


async def test_three_waiters_get_the_seat_in_arrival_order(server: Server) -> None:
    assert (await activate(server, "holder"))[1]["authStatus"] == "Success"
    tasks = []
    for ctx in ("w1", "w2", "w3"):
        tasks.append(asyncio.create_task(activate(server, ctx, wait=30)))
        await until(lambda ctx=ctx: ctx in waiting(server))
    assert waiting(server) == ["w1", "w2", "w3"]
    # No seat is held and nothing is written while they wait.
    assert list(server.licensing.state.licenses["KEY-ONE"].sessions) == ["holder"]
    order = []
    for previous in ("holder", "w1", "w2"):
        await deactivate(server, previous)
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        (task,) = done
        status, body = task.result()
        assert (status, body["authStatus"]) == (200, "Success")
        tasks.remove(task)
        order.append(next(iter(server.licensing.state.licenses["KEY-ONE"].sessions)))
    assert order == ["w1", "w2", "w3"] and not waiting(server)


async def test_a_newcomer_does_not_jump_the_queue(server: Server) -> None:
    await activate(server, "holder")
    waiter = asyncio.create_task(activate(server, "w1", wait=30))
    await until(lambda: waiting(server) == ["w1"])
    await deactivate(server, "holder")
    assert (await waiter)[1]["authStatus"] == "Success"
    _status, late = await activate(server, "late")
    assert late["reason"] == "SESSION_LIMIT_REACHED" and "queuePosition" not in late


async def test_a_waiter_that_times_out_gets_its_position(server: Server) -> None:
    await activate(server, "holder")
    first = asyncio.create_task(activate(server, "w1", wait=30))
    await until(lambda: waiting(server) == ["w1"])
    status, body = await activate(server, "w2", wait=1)
    assert status == 200
    assert (body["authStatus"], body["reason"], body["queuePosition"]) == (
        "Failed",
        "SESSION_LIMIT_REACHED",
        2,
    )
    assert waiting(server) == ["w1"]
    first.cancel()


async def test_a_disconnected_waiter_gives_its_turn_to_the_next(server: Server) -> None:
    await activate(server, "holder")
    # aiohttp's test server cancels a handler whose client left; `lls serve` does not (its
    # AppRunner keeps aiohttp's default): serve as the daemon does, so the server notices.
    runner = server.client.server.runner
    assert runner is not None and runner.server is not None
    runner.server.handler_cancellation = False
    host, port = server.client.server.host, server.client.server.port
    _reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps(
        {
            "licenseToken": "KEY-ONE",
            "productCodes": [PRODUCT],
            "authContext": "gone",
            "waitSeconds": 60,
        }
    ).encode()
    writer.write(
        b"POST /licensing/activate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    await until(lambda: waiting(server) == ["gone"])
    second = asyncio.create_task(activate(server, "next", wait=30))
    await until(lambda: waiting(server) == ["gone", "next"])
    writer.close()  # the real socket closes before any answer
    await writer.wait_closed()
    await until(lambda: waiting(server) == ["next"])
    await deactivate(server, "holder")
    status, answer = await second
    assert (status, answer["authStatus"]) == (200, "Success")
    assert list(server.licensing.state.licenses["KEY-ONE"].sessions) == ["next"]
    stats = server.licensing.waits.queues.stats["KEY-ONE"]
    assert (stats.cancelled, stats.served) == (1, 1)


async def test_a_seat_freed_by_expiry_goes_to_the_waiter_not_a_newcomer(server: Server) -> None:
    await activate(server, "holder")
    waiter = asyncio.create_task(activate(server, "w1", wait=30))
    await until(lambda: waiting(server) == ["w1"])
    # The holder's window passes (the queue's timer runs on the loop's clock, not this fake
    # one); a newcomer arriving first finds the waiter served before itself.
    server.clock.advance(601)
    _, late = await activate(server, "late")
    assert late["reason"] == "SESSION_LIMIT_REACHED"
    _status, body = await waiter
    assert body["authStatus"] == "Success"
    assert list(server.licensing.state.licenses["KEY-ONE"].sessions) == ["w1"]


@pytest.mark.parametrize("wait", [-1, 301, 1.5, "10", True])
async def test_wait_seconds_out_of_range_is_400_with_a_reason(server: Server, wait: Any) -> None:
    status, body = await activate(server, "w1", wait=wait)
    assert status == 400 and body["code"] == "VALIDATION_ERROR"
    assert body["field"] == "waitSeconds"
    assert not server.licensing.state.licenses["KEY-ONE"].sessions


async def test_without_wait_seconds_nothing_changes(server: Server) -> None:
    await activate(server, "holder")
    _status, body = await activate(server, "other", wait=0)
    assert body["reason"] == "SESSION_LIMIT_REACHED" and "queuePosition" not in body


POLICY = """\
groups:
  contractors: {authContexts: ["ext-*"]}
rules:
  - licenses: [KEY-TWO]
    max: {contractors: 1}
"""


async def test_the_queue_respects_the_policy(make_server: ServerFactory, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    server = await make_server(LICENSES, policy_file=str(path))
    await activate(server, "ext-1", token="KEY-TWO")
    await activate(server, "pc-1", token="KEY-TWO")
    capped = asyncio.create_task(activate(server, "ext-2", wait=30, token="KEY-TWO"))
    await until(lambda: waiting(server, "KEY-TWO") == ["ext-2"])
    plain = asyncio.create_task(activate(server, "pc-2", wait=30, token="KEY-TWO"))
    await until(lambda: waiting(server, "KEY-TWO") == ["ext-2", "pc-2"])
    # pc-1's seat frees: ext-2 is still capped, so pc-2 behind it gets the seat.
    await deactivate(server, "pc-1", token="KEY-TWO")
    assert (await plain)[1]["authStatus"] == "Success"
    await deactivate(server, "ext-1", token="KEY-TWO")
    assert (await capped)[1]["authStatus"] == "Success"
    assert sorted(server.licensing.state.licenses["KEY-TWO"].sessions) == ["ext-2", "pc-2"]


async def test_metrics_give_queue_length_and_wait_time_per_license_never_the_token(
    server: Server,
) -> None:
    await activate(server, "holder")
    served = asyncio.create_task(activate(server, "w1", wait=30))
    await until(lambda: waiting(server) == ["w1"])
    late = asyncio.create_task(activate(server, "w2", wait=1))
    await until(lambda: waiting(server) == ["w1", "w2"])
    text = await (await server.client.get("/metrics")).text()
    assert "KEY-ONE" not in text
    (line,) = [x for x in text.splitlines() if x.startswith("lls_queue_waiting{")]
    assert line.startswith('lls_queue_waiting{license="h:') and line.endswith(" 2")
    await late
    await deactivate(server, "holder")
    await served
    text = await (await server.client.get("/metrics")).text()
    assert any(
        x.startswith("lls_queue_wait_seconds_count{") and x.endswith(" 1")
        for x in text.splitlines()
    )
    assert any('why="timed_out"' in x and x.endswith(" 1") for x in text.splitlines())
    assert any(x.startswith("lls_queue_waiting{") and x.endswith(" 0") for x in text.splitlines())


async def test_a_full_queue_answers_at_once_with_a_null_position(server: Server) -> None:
    server.licensing.waits.queues._per_license = 1  # the bound (1,000 a license), made small here
    await activate(server, "holder")
    first = asyncio.create_task(activate(server, "w1", wait=30))
    await until(lambda: waiting(server) == ["w1"])
    _status, body = await activate(server, "w2", wait=30)
    assert body["reason"] == "SESSION_LIMIT_REACHED" and body["queuePosition"] is None
    first.cancel()


async def test_wait_seconds_takes_a_whole_float_as_json_schema_does(server: Server) -> None:
    status, body = await activate(server, "w1", wait=2.0)
    assert (status, body["authStatus"]) == (200, "Success")
