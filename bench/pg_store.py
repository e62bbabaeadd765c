"""Commit throughput of the PostgreSQL store beside the SQLite store, on the same record mix.

C concurrent clients each loop: activate (start a session, its event, the peak), then
deactivate (end it, its event) — the records the rules emit — each awaited like a request
waits for its answer. Printed per store: commits/s, commit latency p50/p99 and the event
loop's CPU µs per commit. A measurement, not a test; it creates (and drops) a database of
its own on the PostgreSQL at --dsn and a temporary SQLite file.

    .venv/bin/python bench/pg_store.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--clients 64] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from lls.domain.records import AppendEvent, EndSession, SetPeak, StartSession
from lls.store import SqliteStore
from lls.store.postgres import PostgresStore


async def drive(store: Any, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def client(c: int) -> None:
        n = 0
        while time.perf_counter() < end:
            n += 1
            sid, lic, now = f"c{c}-{n}", f"LIC-{c:04d}", time.time()
            for records in (
                [
                    StartSession(sid, lic, f"host-{c}", now, now + 600),
                    AppendEvent(now, "session.started", lic, f"host-{c}", {"session": sid}),
                    SetPeak(lic, 1),
                ],
                [EndSession(sid), AppendEvent(now, "session.ended", lic, f"host-{c}", {})],
            ):
                t = time.perf_counter()
                await store.commit(records)
                latencies.append(time.perf_counter() - t)

    wall, cpu = time.perf_counter(), time.thread_time()
    await asyncio.gather(*(client(c) for c in range(clients)))
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    latencies.sort()
    return {
        "commits_s": len(latencies) / wall,
        "p50_ms": 1e3 * statistics.median(latencies),
        "p99_ms": 1e3 * latencies[int(0.99 * (len(latencies) - 1))],
        "loop_cpu_us_per_commit": 1e6 * cpu / len(latencies),
    }


async def main(dsn: str, clients: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="lls-bench-store-") as tmp:
        sqlite = SqliteStore(Path(tmp) / "lls.db")
        await sqlite.open()
        show("sqlite", await drive(sqlite, clients, seconds))
        await sqlite.close()
    name = f"lls_bench_store_{os.getpid()}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        pg = PostgresStore(dsn.rsplit("/", 1)[0] + "/" + name, "bench-instance")
        await pg.open()
        assert await pg.wait_writable(10.0), "never became leader"
        figures = await drive(pg, clients, seconds)
        batches = pg.committed_batches
        await pg.close()
        show("postgresql", figures, batches)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def show(name: str, f: dict[str, float], batches: int | None = None) -> None:
    extra = f", {batches} batches" if batches is not None else ""
    print(
        f"{name:10}: {f['commits_s']:8.0f} commits/s  p50 {f['p50_ms']:6.2f} ms"
        f"  p99 {f['p99_ms']:6.2f} ms  {f['loop_cpu_us_per_commit']:6.1f} µs loop CPU/commit"
        f"{extra}",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    uvloop.run(main(args.dsn, args.clients, args.seconds))
