"""How long a /metrics scrape takes on a large instance, its size, and what it does to /healthz.

Seals and imports a pool of N licenses (one floating feature each, like pool_size.py),
starts a session on every 10th, serves it with `lls serve` on a free loopback port,
and then scrapes /metrics a few times while a separate process asks /healthz every
10 ms. Between scrapes a few licenses change (activate/deactivate), as on a live site.
Prints its figures; a measurement, not a test.

    .venv/bin/python bench/metrics_scrape.py [--licenses 100000] [--scrapes 5] [--changes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.pools

from lls.app.licensing import build_licensing
from lls.clock import SystemClock
from lls.instance import init_instance
from lls.sealed import KeyPair
from tests.pools import PRODUCT, VendorKeys, grant, make_pool

RENDER = re.compile(rb"\nlls_metrics_render_seconds (\S+)\n")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(work: Path, licenses: int, every: int) -> Path:
    """A data directory holding the imported pool and a session on every `every`th license."""
    vendor = VendorKeys(keys=KeyPair.generate())
    instance = init_instance(work / "data", vendor.write_jwks(work / "vendor.jwks"))
    feature = [{"code": "F", "type": "floating", "count": 2}]
    grants = [grant(f"B{i:06d}", features=feature) for i in range(licenses)]
    raw = make_pool(vendor, instance, grants)
    licensing, store = build_licensing(instance, SystemClock())
    await store.open()
    await licensing.upkeep.load()
    start = time.perf_counter()
    await licensing.import_pool(raw)
    print(f"pool of {licenses} licenses imported in {time.perf_counter() - start:.1f} s")
    tokens = [f"B{i:06d}" for i in range(0, licenses, every)]
    for i in range(0, len(tokens), 500):  # concurrently: the writer commits them in groups
        await asyncio.gather(
            *(licensing.activate(t, [PRODUCT], f"host-{t}") for t in tokens[i : i + 500])
        )
    await store.close()
    return instance.data_dir


def _get(port: int, path: str, timeout: float = 120.0) -> tuple[int, bytes, float]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, body, time.perf_counter() - start
    finally:
        conn.close()


def _post(port: int, path: str, doc: dict[str, Any]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, json.dumps(doc), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def _probe(port: int, seconds: float, out: Any) -> None:
    """In its own process: GET /healthz every 10 ms for `seconds`; send the latencies back."""
    latencies: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        status, _, elapsed = _get(port, "/healthz", timeout=30)
        if status == 200:
            latencies.append(elapsed)
        time.sleep(0.01)
    out.put(latencies)


def _probe_during(port: int, seconds: float, work: Any) -> tuple[Any, list[float]]:
    queue: Any = multiprocessing.Queue()
    prober = multiprocessing.Process(target=_probe, args=(port, seconds, queue))
    prober.start()
    time.sleep(0.2)
    try:
        result = work()
    finally:
        latencies = queue.get(timeout=seconds + 60)
        prober.join()
    return result, latencies


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"median {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,"
        f" max {ordered[-1] * 1000:.1f} ms ({len(ordered)} probes)"
    )


def measure(data_dir: Path, licenses: int, scrapes: int, changes: int) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLS_")}
    env.update(LLS_LOG_LEVEL="WARNING", LLS_PORT=str(port), LLS_DATA_DIR=str(data_dir))
    server = subprocess.Popen([sys.executable, "-m", "lls", "serve"], env=env)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if _get(port, "/readyz", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        _, idle = _probe_during(port, 2.0, lambda: time.sleep(1.5))
        print(f"/healthz with no scrape: {_ms(idle)}")
        (status, body, first), during_first = _probe_during(
            port, 5.0 + licenses / 10_000, lambda: _get(port, "/metrics")
        )
        assert status == 200, status
        print(f"first scrape: {first * 1000:.0f} ms, {len(body) / 1e6:.1f} MB")
        print(f"/healthz during the first scrape: {_ms(during_first)}")

        renders: list[float] = []

        def steady() -> list[tuple[float, int]]:
            figures = []
            for n in range(scrapes):
                for i in range(changes):  # a few licenses change between scrapes
                    token = f"B{(n * changes + i) * 7 % licenses:06d}"
                    doc = {"licenseToken": token, "productCodes": [PRODUCT], "authContext": "m"}
                    _post(port, "/licensing/activate", doc)
                status, body, elapsed = _get(port, "/metrics")
                assert status == 200, status
                figures.append((elapsed, len(body)))
                found = RENDER.search(body)  # the previous scrape's render, timed by the server
                if found and n > 0:
                    renders.append(float(found.group(1)))
            return figures

        figures, during = _probe_during(port, 3.0 + scrapes * (1 + licenses / 20_000), steady)
        times = [t for t, _ in figures]
        sizes = [s for _, s in figures]
        print(
            f"steady scrapes ({changes} licenses changed before each): "
            f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms,"
            f" {statistics.median(sizes) / 1e6:.1f} MB"
        )
        if renders:
            print(
                f"server-side render of a steady scrape (lls_metrics_render_seconds): median"
                f" {statistics.median(renders) * 1000:.0f} ms, max {max(renders) * 1000:.0f} ms"
            )
        print(f"/healthz during steady scrapes: {_ms(during)}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--licenses", type=int, default=100_000)
    parser.add_argument("--sessions-every", type=int, default=10)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--changes", type=int, default=50, help="licenses changed between scrapes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lls-metrics-") as tmp:
        data_dir = asyncio.run(prepare(Path(tmp), args.licenses, args.sessions_every))
        measure(data_dir, args.licenses, args.scrapes, args.changes)


if __name__ == "__main__":
    main()
