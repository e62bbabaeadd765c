"""asyncpg vs psycopg 3 on LLS's write shape, to choose the PostgreSQL driver by measurement.

The shape is the group-commit writer's: ONE connection, `synchronous_commit=on`, a batch
of N "requests" in one transaction, each request 3 small statements (insert a session,
insert a hash-chained event, upsert the license's peak — an UPDATE after the first
time). Modes:

    asyncpg/sequential   prepared statements, one round trip per statement
    asyncpg/executemany  the batch's statements grouped per statement, 3 executemany calls
                         (asyncpg pipelines the rows of one executemany; grouping reorders
                         the batch, which the real writer cannot always do)
    psycopg/sequential   one round trip per statement (auto-prepared after 5 uses)
    psycopg/executemany  grouped like asyncpg/executemany (psycopg pipelines executemany)
    psycopg/pipeline     psycopg's pipeline mode: every statement of the batch sent in order,
                         one sync at the end (one round trip for the batch, order kept)

Each is run on uvloop (the daemon's loop). Printed per mode and batch size: batches/s,
requests/s and the event loop thread's CPU µs per request (`time.thread_time`), each the
median of --repeat runs; then the cost of loading a snapshot of 10,000 session rows.
It creates and drops a database of its own; it needs a PostgreSQL it may do that on, and
psycopg, which LLS does not depend on: `.venv/bin/pip install 'psycopg[binary]'`.

    .venv/bin/python bench/pg_driver.py [--dsn postgresql://postgres@127.0.0.1/postgres]
        [--seconds 1.0] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import psycopg
import uvloop

from lls.domain.models import Session
from lls.sealed.chain import GENESIS_HASH, chain_hash

BATCHES = (1, 8, 32, 64)
SCHEMA = """
CREATE TABLE sessions (id text PRIMARY KEY, license text NOT NULL, auth_context text NOT NULL,
    started_at double precision NOT NULL, expires_at double precision NOT NULL,
    extends integer NOT NULL DEFAULT 0);
CREATE TABLE events (id bigint PRIMARY KEY, at double precision NOT NULL, type text NOT NULL,
    license text, auth_context text, data text NOT NULL, prev_hash text NOT NULL,
    hash text NOT NULL);
CREATE TABLE license_stats (license text PRIMARY KEY, peak_sessions integer NOT NULL);
"""
INSERT_SESSION = (
    "INSERT INTO sessions (id, license, auth_context, started_at, expires_at)"
    " VALUES ($1, $2, $3, $4, $5)"
)
INSERT_EVENT = (
    "INSERT INTO events (id, at, type, license, auth_context, data, prev_hash, hash)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
UPSERT_PEAK = (
    "INSERT INTO license_stats (license, peak_sessions) VALUES ($1, $2)"
    " ON CONFLICT (license) DO UPDATE SET"
    " peak_sessions = greatest(license_stats.peak_sessions, excluded.peak_sessions)"
)


def _pg(sql: str) -> str:
    """The same statement with psycopg's %s placeholders."""
    for i in range(8, 0, -1):
        sql = sql.replace(f"${i}", "%s")
    return sql


class Requests:
    """Makes the rows of each request: a fresh session id and the next link of the chain."""

    def __init__(self) -> None:
        self.n = 0
        self.head = GENESIS_HASH

    def batch(self, size: int) -> list[tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]]:
        out = []
        for _ in range(size):
            self.n += 1
            n, lic, now = self.n, f"LIC-{self.n % 500:04d}", time.time()
            digest = chain_hash(
                prev_hash=self.head,
                event_id=n,
                at=now,
                type="session.started",
                license=lic,
                auth_context=f"h{n}",
                data={"session": f"s{n}"},
            )
            event = (n, now, "session.started", lic, f"h{n}", f'{{"session":"s{n}"}}')
            out.append(
                (
                    (f"s{n}", lic, f"h{n}", now, now + 600.0),
                    (*event, self.head, digest),
                    (lic, n % 7 + 1),
                )
            )
            self.head = digest
        return out


async def _asyncpg_conn(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await conn.execute("SET synchronous_commit = on")
    return conn


async def _psycopg_conn(dsn: str) -> psycopg.AsyncConnection[Any]:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    await conn.execute("SET synchronous_commit = on")
    return conn


BatchFn = Callable[[list[Any]], Awaitable[None]]


async def asyncpg_mode(dsn: str, grouped: bool) -> tuple[BatchFn, Callable[[], Awaitable[None]]]:
    conn = await _asyncpg_conn(dsn)
    stmts = [await conn.prepare(q) for q in (INSERT_SESSION, INSERT_EVENT, UPSERT_PEAK)]

    async def run(batch: list[Any]) -> None:
        async with conn.transaction():
            if grouped:
                for i, stmt in enumerate(stmts):
                    await stmt.executemany([req[i] for req in batch])
            else:
                for req in batch:
                    for stmt, args in zip(stmts, req, strict=True):
                        await stmt.fetch(*args)

    return run, conn.close


async def psycopg_mode(dsn: str, how: str) -> tuple[BatchFn, Callable[[], Awaitable[None]]]:
    conn = await _psycopg_conn(dsn)
    queries = [_pg(q) for q in (INSERT_SESSION, INSERT_EVENT, UPSERT_PEAK)]
    cur = conn.cursor()

    async def run(batch: list[Any]) -> None:
        if how == "executemany":
            async with conn.transaction():
                for i, query in enumerate(queries):
                    await cur.executemany(query, [req[i] for req in batch])
        elif how == "pipeline":
            async with conn.pipeline():
                await conn.execute("BEGIN")
                for req in batch:
                    for query, args in zip(queries, req, strict=True):
                        await cur.execute(query, args, prepare=True)
                await conn.execute("COMMIT")
        else:
            async with conn.transaction():
                for req in batch:
                    for query, args in zip(queries, req, strict=True):
                        await cur.execute(query, args, prepare=True)

    return run, conn.close


MODES: dict[str, Callable[[str], Awaitable[tuple[BatchFn, Callable[[], Awaitable[None]]]]]] = {
    "asyncpg/sequential": lambda dsn: asyncpg_mode(dsn, grouped=False),
    "asyncpg/executemany": lambda dsn: asyncpg_mode(dsn, grouped=True),
    "psycopg/sequential": lambda dsn: psycopg_mode(dsn, "sequential"),
    "psycopg/executemany": lambda dsn: psycopg_mode(dsn, "executemany"),
    "psycopg/pipeline": lambda dsn: psycopg_mode(dsn, "pipeline"),
}


async def reset(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute("TRUNCATE sessions, events, license_stats")
    await conn.close()


async def measure_writes(dsn: str, mode: str, size: int, seconds: float) -> tuple[float, float]:
    """(batches per second, loop CPU µs per request) for one mode and batch size."""
    await reset(dsn)
    run, close = await MODES[mode](dsn)
    reqs = Requests()
    for _ in range(3):  # warm up: prepared statements, caches
        await run(reqs.batch(size))
    batches = 0
    wall, cpu = time.perf_counter(), time.thread_time()
    build = 0.0
    while time.perf_counter() - wall < seconds:
        t = time.thread_time()
        batch = reqs.batch(size)
        build += (
            time.thread_time() - t
        )  # the rows and hashes are the caller's cost, not the driver's
        await run(batch)
        batches += 1
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu - build
    await close()
    return batches / wall, 1e6 * cpu / (batches * size)


async def measure_snapshot(dsn: str, driver: str) -> tuple[float, float]:
    """(wall ms, loop CPU ms) to load 10,000 session rows as domain `Session`s."""
    query = "SELECT id, license, auth_context, started_at, expires_at FROM sessions"
    wall, cpu = time.perf_counter(), time.thread_time()
    if driver == "asyncpg":
        conn = await _asyncpg_conn(dsn)
        wall, cpu = time.perf_counter(), time.thread_time()
        rows: list[Any] = await conn.fetch(query)
    else:
        pconn = await _psycopg_conn(dsn)
        wall, cpu = time.perf_counter(), time.thread_time()
        cur = await pconn.execute(query, binary=True)
        rows = await cur.fetchall()
    sessions = [Session(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    assert len(sessions) == 10_000
    await (conn.close() if driver == "asyncpg" else pconn.close())
    return 1e3 * wall, 1e3 * cpu


async def main(dsn: str, seconds: float, repeat: int) -> dict[str, Any]:
    name = f"lls_bench_driver_{os.getpid()}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    db_dsn = dsn.rsplit("/", 1)[0] + "/" + name
    results: dict[str, Any] = {"writes": {}, "snapshot": {}}
    try:
        conn = await asyncpg.connect(db_dsn)
        await conn.execute(SCHEMA)
        await conn.close()
        for mode in MODES:
            for size in BATCHES:
                runs = [await measure_writes(db_dsn, mode, size, seconds) for _ in range(repeat)]
                bps = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                results["writes"][f"{mode} x{size}"] = {
                    "batches_s": round(bps, 1),
                    "requests_s": round(bps * size, 1),
                    "loop_cpu_us_per_request": round(cpu, 1),
                }
                print(
                    f"{mode:20} batch {size:3}: {bps:8.1f} batches/s {bps * size:9.1f} req/s"
                    f" {cpu:7.1f} µs loop CPU/req",
                    flush=True,
                )
        await reset(db_dsn)
        conn = await asyncpg.connect(db_dsn)
        rows = [(f"s{i}", f"LIC-{i:05d}", f"host-{i}", 1.0e9, 1.0e9 + 600) for i in range(10_000)]
        await conn.copy_records_to_table(
            "sessions",
            records=rows,
            columns=["id", "license", "auth_context", "started_at", "expires_at"],
        )
        await conn.close()
        for driver in ("asyncpg", "psycopg"):
            runs = [await measure_snapshot(db_dsn, driver) for _ in range(repeat)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            results["snapshot"][driver] = {"wall_ms": round(wall, 1), "loop_cpu_ms": round(cpu, 1)}
            print(f"snapshot of 10,000 sessions, {driver:8}: {wall:6.1f} ms wall {cpu:6.1f} ms CPU")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument("--seconds", type=float, default=1.0, help="per mode, batch size and run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median printed)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    print(f"asyncpg {asyncpg.__version__}, psycopg {psycopg.__version__}, uvloop")
    figures = uvloop.run(main(args.dsn, args.seconds, args.repeat))
    if args.json:
        print(json.dumps(figures, indent=2))
