"""Memory and time of the seat queue with many waiters (issue 16 §2: 1,000 must be cheap).

Holds N waiters (default 1,000) on one 1-seat license, each a real asyncio task
blocked in SeatQueues.wait, and reports the process's RSS before and after (from
/proc/self/status), per waiter; then the time of one scan over N policy-blocked
waiters (the worst case of a seat freeing) and of serving all N in order as seats
free one by one. The figures are the queue's own cost: in the daemon each waiter
is also an open HTTP connection and a handler task (phase 2 measures that).

    .venv/bin/python bench/queue_waiters.py [--waiters 1000] [--json]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
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
