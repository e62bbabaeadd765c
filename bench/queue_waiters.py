"""Memory and time of the seat queue with many waiters (issue 16 §2: 1,000 must be cheap).

Holds N waiters (default 1,000) on one 1-seat license, each a real asyncio task
blocked in SeatQueues.wait, and reports the process's RSS before and after (from
/proc/self/status), per waiter; then the time of one scan over N policy-blocked
waiters (the worst case of a seat freeing) and of serving all N in order as seats
free one by one. The figures are the queue's own cost: in the daemon each waiter
is also an open HTTP connection and a handler task — `--daemon` measures that:
a real `lls serve` with a 1-seat license, the seat taken, N real HTTP activates
with `waitSeconds` held open, and the server's RSS (from /proc/PID/status)
before and with them all queued; then the seat is freed N times (deactivate of
whoever holds it) and the time until every waiter was answered, in order.

    .venv/bin/python bench/queue_waiters.py [--waiters 1000] [--json]
    .venv/bin/python bench/queue_waiters.py --daemon [--waiters 1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

from lls.clock import SystemClock
from lls.domain.seat_queue import Blocked, QueueResult, SeatQueues

FULL = Blocked("SESSION_LIMIT_REACHED", "All seats of this license are in use", everyone=True)
CAPPED = Blocked("GROUP_LIMIT_REACHED", "contractors already hold 1 of 1 seats", everyone=False)


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Seats:
    """What an attempt finds: how many seats are free, and the refusal when none is."""

    free: int
    blocked: Blocked


async def answer(device: str) -> str:
    return f"{device}: Success"


async def run(waiters: int) -> dict[str, float]:
    queues = SeatQueues[str](SystemClock(), per_license=waiters, total=waiters)
    state = Seats(free=0, blocked=FULL)  # none free: every device waits

    def attempt(device: str) -> Awaitable[str] | Blocked:
        if state.free <= 0:
            return state.blocked
        state.free -= 1
        return answer(device)

    gc.collect()
    before = rss_kib()
    tasks: list[asyncio.Task[QueueResult[str]]] = []
    for n in range(waiters):
        device = f"ci-runner-{n:05d}"
        tasks.append(
            asyncio.create_task(queues.wait("L", device, 300, functools.partial(attempt, device)))
        )
    await asyncio.sleep(0.05)
    gc.collect()
    after = rss_kib()

    state.blocked = CAPPED  # every waiter refused by the policy: the scan visits them all
    started = time.perf_counter()
    queues.seat_freed("L")
    blocked_scan_s = time.perf_counter() - started

    state.blocked = FULL
    started = time.perf_counter()
    for _ in range(waiters):
        state.free = 1
        queues.seat_freed("L")
    serve_all_s = time.perf_counter() - started
    results = await asyncio.gather(*tasks)
    assert [r.answer for r in results] == [f"ci-runner-{n:05d}: Success" for n in range(waiters)]
    return {
        "waiters": waiters,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "rss_per_waiter_bytes": round((after - before) * 1024 / waiters),
        "scan_of_blocked_waiters_ms": round(blocked_scan_s * 1000, 3),
        "serve_each_in_order_us": round(serve_all_s / waiters * 1e6, 2),
    }


def pid_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def daemon(waiters: int) -> dict[str, float]:
    """N queued HTTP activates held by a real `lls serve` (see the module docstring)."""
    import shutil
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run_load import HOST, clean_env, free_port, lls_command, prepare_instance, running

    work = Path(tempfile.mkdtemp(prefix="lls-queue-"))
    try:
        env = clean_env()
        data_dir = prepare_instance(work, 1, env)  # BENCH-00000: one seat
        port = free_port()
        env["LLS_ADMIN_PORT"] = str(free_port())
        env["LLS_MAX_CONNECTIONS_PER_ADDRESS"] = str(waiters + 16)  # all from 127.0.0.1
        argv = lls_command(
            "serve", "--data-dir", str(data_dir), "--host", HOST, "--port", str(port)
        )
        with running("lls", argv, port, env, work / "lls.log") as proc:
            return asyncio.run(_drive(f"http://{HOST}:{port}/licensing", proc.pid, waiters))
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def _drive(url: str, pid: int, waiters: int) -> dict[str, float]:
    import aiohttp

    token = "BENCH-00000"

    def body(ctx: str, wait: int = 0) -> dict[str, object]:
        doc: dict[str, object] = {
            "licenseToken": token,
            "productCodes": ["BENCH_PRO"],
            "authContext": ctx,
        }
        if wait:
            doc["waitSeconds"] = wait
        return doc

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async with http.post(f"{url}/activate", json=body("holder")) as r:
            assert (await r.json())["authStatus"] == "Success"
        await asyncio.sleep(0.5)
        before = pid_rss_kib(pid)

        async def wait_for_seat(n: int) -> str:
            ctx = f"ci-runner-{n:05d}"
            async with http.post(f"{url}/activate", json=body(ctx, 300)) as r:
                doc = await r.json()
            assert doc["authStatus"] == "Success", doc
            return ctx

        tasks = []
        for n in range(waiters):
            tasks.append(asyncio.create_task(wait_for_seat(n)))
            if n % 50 == 49:
                await asyncio.sleep(0.02)
        await asyncio.sleep(2.0)
        queued = pid_rss_kib(pid)
        started = time.perf_counter()
        holder = "holder"
        for _ in range(waiters):  # free the seat; whoever the queue gave it to frees it next
            async with http.post(
                f"{url}/deactivate", json={"licenseToken": token, "authContext": holder}
            ) as r:
                assert r.status == 204
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            assert len(done) == 1, "one seat freed, one waiter answered"
            (task,) = done
            tasks.remove(task)
            holder = task.result()
        served_s = time.perf_counter() - started
    return {
        "waiters": waiters,
        "server_rss_before_kib": before,
        "server_rss_queued_kib": queued,
        "server_rss_per_waiter_bytes": round((queued - before) * 1024 / waiters),
        "handover_ms_each": round(served_s / waiters * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--daemon", action="store_true", help="N HTTP waiters on `lls serve`")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.daemon:
        numbers = daemon(args.waiters)
        if args.json:
            print(json.dumps(numbers))
            return
        print(f"{args.waiters} queued HTTP activates held by lls serve (one 1-seat license)")
        print(
            f"  server RSS {numbers['server_rss_before_kib']} KiB -> "
            f"{numbers['server_rss_queued_kib']} KiB"
            f" ({numbers['server_rss_per_waiter_bytes']} bytes per waiter: connection, task,"
            " queue entry)"
        )
        print(
            f"  each freed seat went to exactly one waiter, in"
            f" {numbers['handover_ms_each']} ms (deactivate to the waiter's answer, over HTTP)"
        )
        return
    figures = asyncio.run(run(args.waiters))
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['waiters']} waiters on one license")
    print(
        f"  RSS {figures['rss_before_kib']} KiB -> {figures['rss_after_kib']} KiB"
        f" ({figures['rss_per_waiter_bytes']} bytes per waiting task)"
    )
    print(
        f"  one scan over {args.waiters} policy-blocked waiters: "
        f"{figures['scan_of_blocked_waiters_ms']} ms"
    )
    print(f"  serving them one by one as seats free: {figures['serve_each_in_order_us']} µs each")


if __name__ == "__main__":
    main()
