"""Failover time of a pair of `lls serve` nodes on one PostgreSQL database, over N kills.

    .venv/bin/python bench/failover.py [--store postgresql://postgres@127.0.0.1/postgres]
        [--kills 10]

What it does, in a temporary directory and a temporary database on that server:
two nodes of one instance (`lls init` with store.url, then `lls node join`), a pool
of 100 licenses; then, --kills times: one acknowledged activate on the leader, kill -9
of the leader, and activates on the other node every 20 ms until one answers Success —
the time from the kill to that Success is one failover; the killed node is started
again and must come back as a standby before the next round. Prints each time and
min/median/max. A measurement, not a test: it exits 0 whatever the figures. Every
loop is bounded (30 s a failover) and every process is stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
from run_load import (
    HOST,
    PRODUCT,
    BenchError,
    clean_env,
    free_port,
    lls_command,
    prepare_instance,
    run_checked,
)

FAILOVER_LIMIT_S = 30.0


def call(
    port: int, method: str, path: str, body: dict[str, object] | None = None
) -> tuple[int, dict[str, object]]:
    """(status, JSON body); (0, {}) when nothing answers."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else {}
    except (OSError, ValueError):
        return 0, {}
    finally:
        conn.close()


class Node:
    def __init__(self, data_dir: Path, url: str, work: Path, env: dict[str, str]) -> None:
        self.data_dir, self.port, self.admin_port = data_dir, free_port(), free_port()
        self.env = {
            **env,
            "LLS_STORE_URL": url,
            "LLS_ADMIN_PORT": str(self.admin_port),
            "LLS_HA_ADVERTISE_URL": f"http://{HOST}:{self.port}",
        }
        self.log = work / f"node-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = lls_command("serve", "--data-dir", str(self.data_dir), "--port", str(self.port))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def role(self) -> str | None:
        status, doc = call(self.port, "GET", "/readyz")
        return str(doc.get("role")) if status else None

    def wait_role(self, role: str, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while self.role() != role:
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"node {self.port} exited:\n{self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise BenchError(f"node {self.port} did not become {role} in {seconds:.0f} s")
            time.sleep(0.05)

    def activate(self, license_no: int, ctx: str) -> bool:
        token = f"BENCH-{license_no:05d}"  # one seat each: a round takes two licenses
        body: dict[str, object] = {
            "licenseToken": token,
            "productCodes": [PRODUCT],
            "authContext": ctx,
        }
        status, doc = call(self.port, "POST", "/licensing/activate", body)
        return status == 200 and doc.get("authStatus") == "Success"

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def run(store: str, kills: int, work: Path) -> list[float]:
    env = clean_env()
    name = f"lls_bench_failover_{os.getpid()}"
    asyncio.run(_sql(store, f'CREATE DATABASE "{name}"'))
    url = store.rsplit("/", 1)[0] + "/" + name
    nodes: list[Node] = []
    try:
        # `lls init` with store.url on "machine a", `lls node join` on "machine b" (two
        # machine ids on this one machine).
        env_a, env_b = {**env, "LLS_MACHINE_ID": "bench-a"}, {**env, "LLS_MACHINE_ID": "bench-b"}
        data = prepare_instance(work, 100, {**env_a, "LLS_STORE_URL": url})
        second = work / "data-b"
        join = lls_command("node", "join", "--store", url, "--data-dir", str(second))
        run_checked([*join, "--admin-token-file", str(data / "admin.token")], env_b, "join")
        nodes = [Node(data, url, work, env_a), Node(second, url, work, env_b)]
        nodes[0].start()
        nodes[0].wait_role("leader")
        nodes[1].start()
        nodes[1].wait_role("standby")
        times: list[float] = []
        for round_ in range(kills):
            leader = next(n for n in nodes if n.role() == "leader")
            standby = next(n for n in nodes if n is not leader)
            if not leader.activate(2 * round_, "before"):
                raise BenchError("the leader did not grant the round's first seat")
            leader.kill9()
            killed = time.monotonic()
            while not standby.activate(2 * round_ + 1, "after"):
                if time.monotonic() - killed > FAILOVER_LIMIT_S:
                    raise BenchError(f"no Success within {FAILOVER_LIMIT_S:.0f} s of the kill")
                time.sleep(0.02)
            times.append(time.monotonic() - killed)
            print(f"failover {round_ + 1}: {times[-1]:.2f} s", flush=True)
            leader.start()  # the old leader comes back as a standby
            leader.wait_role("standby")
        return times
    finally:
        for node in nodes:
            node.stop()
        asyncio.run(_sql(store, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--store", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--kills", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lls-failover-"))
    try:
        times = run(args.store, args.kills, work)
    except BenchError as error:
        print(f"failover: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"failover (kill -9 of the leader → first Success on the other node), {len(times)}"
        f" kills: min {min(times):.2f} s, median {statistics.median(times):.2f} s,"
        f" max {max(times):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
