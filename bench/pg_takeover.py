"""How long a standby takes to lead after the leader's lock connection dies (store level).

Two PostgresStores of one instance on one database, with the shipped timings (lock tried
every 0.5 s, 2 s lease); the leader's backend is ended with `pg_terminate_backend` and
the time until the other store accepts writes is taken; repeated --kills times, printed
as min/median/max. The daemon-level failover (kill -9 of a node, first Success on the
other) adds its state load; that is bench/failover.py's job in the wiring phase.

    .venv/bin/python bench/pg_takeover.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--kills 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import asyncpg
import uvloop

from lls.domain.records import AppendEvent
from lls.store.postgres import PostgresStore


async def main(dsn: str, kills: int) -> None:
    name = f"lls_bench_takeover_{os.getpid()}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = dsn.rsplit("/", 1)[0] + "/" + name
    stores = [PostgresStore(url, "bench-instance") for _ in range(2)]
    times: list[float] = []
    try:
        for store in stores:
            await store.open()
        for _ in range(kills):
            waits = [asyncio.ensure_future(s.wait_writable(15.0)) for s in stores]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
            [leader] = [s for s in stores if s.role == "leader"]
            [standby] = [s for s in stores if s is not leader]
            await leader.commit([AppendEvent(time.time(), "bench")])
            await admin.fetchval("SELECT pg_terminate_backend($1)", leader.lock.backend_pid)
            killed = time.monotonic()
            assert await standby.wait_writable(15.0), "no take-over within 15 s"
            times.append(time.monotonic() - killed)
            await standby.commit([AppendEvent(time.time(), "bench")])
            print(f"take-over {len(times)}: {times[-1]:.2f} s", flush=True)
    finally:
        for store in stores:
            await store.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(
        f"take-over after the lock connection died, {kills} times: min {min(times):.2f} s,"
        f" median {statistics.median(times):.2f} s, max {max(times):.2f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    uvloop.run(main(args.dsn, args.kills))
