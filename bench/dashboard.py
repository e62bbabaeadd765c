"""How fast the dashboard's pages are with a large site: 100,000 licenses, 10,000 live sessions.

Builds the state with the real service behind a real server on a loopback port (a sealed
pool imported through the admin API, sessions activated through the service), signs in
to /ui/ as a browser would, then times each page's request (median and worst of
`--runs`) and prints its size. Target: under 200 ms each. A measurement, not a test.

    .venv/bin/python bench/dashboard.py [--licenses 100000] [--sessions 10000] [--runs 15]
        [--history-licenses 500]

It also gives `--history-licenses` floating licenses 90 days of hour buckets (the busy
one among them) and times the license page's 90-day charts, their CSV, and the admin
API's history and first licenses page.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.pools

from lls.app.wiring import build_app
from lls.config.settings import Config
from lls.domain.history import HOUR_S
from lls.domain.records import HourRow, SaveHistory
from lls.domain.state import DAY_S
from lls.http.keys import LICENSING
from lls.instance import init_instance
from lls.sealed import KeyPair
from tests.pools import PRODUCT, VendorKeys, grant, make_pool

TARGET_MS = 200.0
COMPANIES = [f"Company {n:03d} GmbH" for n in range(500)]
TYPES = ["floating"] * 16 + ["node-locked"] * 3 + ["temporary"]


def _grants(count: int) -> list[dict[str, Any]]:
    feature = [
        {"code": "EXPORT", "type": "floating", "count": 5},
        {"code": "CALLS", "type": "consumption", "count": 1000},
    ]
    out = []
    for i in range(count):
        kind = TYPES[i % len(TYPES)]
        extra: dict[str, Any] = {"temporaryDays": 30} if kind == "temporary" else {}
        doc = grant(
            f"LIC-{i:06d}",
            type=kind,
            seats=1 if kind != "floating" else 1 + i % 20,
            companyName=COMPANIES[i % len(COMPANIES)],
            productCodes=[PRODUCT, f"ADDON_{i % 40}"],
            **extra,
        )
        del doc["contact"]  # keeps 100,000 licenses inside the 64 MiB file limit
        if i % 10 == 0:
            doc["features"] = feature
        out.append(doc)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _sign_in(http: aiohttp.ClientSession, base: str, token: str) -> None:
    async with http.get(f"{base}/ui/sign-in") as form:
        nonce = re.search(r'name="sign_in_token" value="([^"]+)"', await form.text())
    assert nonce is not None
    data = {"sign_in_token": nonce.group(1), "token": token}
    async with http.post(f"{base}/ui/sign-in", data=data, allow_redirects=False) as answer:
        assert answer.status == 303, await answer.text()


async def _time(
    http: aiohttp.ClientSession, url: str, runs: int, headers: dict[str, str] | None = None
) -> tuple[float, float, int]:
    """(median ms, worst ms, bytes) of `runs` requests for `url`."""
    times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        async with http.get(url, headers=headers) as answer:
            body = await answer.read()
            assert answer.status == 200, (url, answer.status, body[:300])
        times.append((time.perf_counter() - start) * 1000)
        size = len(body)
    return statistics.median(times), max(times), size


def _ago(days: int) -> str:
    return time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(time.time() - days * DAY_S))


async def _seed_history(licensing: Any, tokens: list[str], busy: str) -> int:
    """90 days of hour buckets for `tokens` (a busy pattern by hour of day), written as the
    daemon writes them (SaveHistory records through the writer), 5,000 a transaction."""
    now_hour = int(time.time()) // HOUR_S * HOUR_S
    rows: list[HourRow] = []
    written = 0
    for n, token in enumerate(tokens):
        for h in range(90 * 24):
            hour = now_hour - (h + 1) * HOUR_S
            load = (h * 7 + n) % 24
            rows.append(
                HourRow(
                    token,
                    hour,
                    peak_sessions=load % 6,
                    started=load // 3,
                    denials={"SESSION_LIMIT_REACHED": 1} if load > 20 else {},
                    peak_units={"EXPORT": load % 5} if token == busy else {},
                )
            )
            if len(rows) >= 5000:
                await licensing.store.commit([SaveHistory(tuple(rows))])
                written, rows = written + len(rows), []
    if rows:
        await licensing.store.commit([SaveHistory(tuple(rows))])
        written += len(rows)
    return written


async def measure(licenses: int, sessions: int, runs: int, history_licenses: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="lls-bench-dashboard-"))
    vendor = VendorKeys(keys=KeyPair.generate())
    instance = init_instance(work / "data", vendor.write_jwks(work / "vendor.jwks"))
    started = time.perf_counter()
    raw = make_pool(vendor, instance, _grants(licenses))
    print(
        f"pool: {licenses:,} licenses, {len(raw) / 1e6:.1f} MB, sealed in "
        f"{time.perf_counter() - started:.1f} s"
    )
    # One listener for both APIs and the dashboard (admin.port 0), as the unit fixtures do.
    config = Config(data_dir=instance.data_dir, admin_port=0)
    app = build_app(config, instance=instance, run_jobs=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {instance.admin_token}"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(
        timeout=timeout, cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as http:
        started = time.perf_counter()
        async with http.post(f"{base}/admin/v1/pool", data=raw, headers=admin) as answer:
            assert answer.status == 200, await answer.text()
        print(f"import through the admin API: {time.perf_counter() - started:.1f} s")
        licensing = app[LICENSING]
        started = time.perf_counter()
        floating = [t for t, s in licensing.state.licenses.items() if s.license.type == "floating"]
        for first in range(0, sessions, 500):
            await asyncio.gather(
                *(
                    licensing.activate(floating[n % len(floating)], [PRODUCT], f"host-{n}")
                    for n in range(first, min(sessions, first + 500))
                )
            )
        live = len(licensing.reads.live_sessions())
        print(f"{live:,} live sessions started in {time.perf_counter() - started:.1f} s")
        # As the daemon does after loading its state at start (lls.app.lifecycle): the
        # long-lived licenses stay out of the cyclic collector's full passes.
        busy = floating[0]
        started = time.perf_counter()
        rows = await _seed_history(licensing, floating[:history_licenses], busy)
        print(
            f"history: {rows:,} hour buckets (90 days of {history_licenses:,} licenses)"
            f" written in {time.perf_counter() - started:.1f} s"
        )
        gc.freeze()
        await _sign_in(http, base, instance.admin_token)
        pages = [
            ("licenses, page 1 (first view: builds the index)", "/ui/licenses", 1),
            ("licenses, page 1", "/ui/licenses", runs),
            (
                "licenses, filtered search",
                "/ui/licenses?q=company+042&type=floating&status=active",
                runs,
            ),
            ("licenses, token prefix search", "/ui/licenses?q=LIC-0999", runs),
            ("licenses, by utilisation", "/ui/licenses?sort=utilisation&dir=desc", runs),
            ("licenses, by company (first: sorts once)", "/ui/licenses?sort=company", 1),
            ("licenses, by company", "/ui/licenses?sort=company&dir=desc", runs),
            ("license detail (24 h history)", f"/ui/licenses/{busy}", runs),
            ("license detail, 90-day history charts", f"/ui/licenses/{busy}?range=90d", runs),
            ("90-day history CSV", f"/ui/licenses/{busy}/history.csv?range=90d", runs),
            ("sessions, page 1", "/ui/sessions", runs),
            ("overview", "/ui/", runs),
            ("overview figures (the poll)", "/ui/overview/live", runs),
            ("audit, newest page", "/ui/audit", runs),
        ]
        print(f"\n{'page':<48} {'median':>9} {'worst':>9} {'size':>10}  target {TARGET_MS:.0f} ms")
        for label, path, n in pages:
            median, worst, size = await _time(http, base + path, n)
            verdict = "ok" if median < TARGET_MS else "SLOW"
            print(f"{label:<48} {median:7.1f}ms {worst:7.1f}ms {size / 1024:8.1f}KB  {verdict}")
        api = [
            ("API history, 90 days of hours (JSON)", f"step=hour&from={_ago(90)}"),
            ("API history, 400 days by day (JSON)", f"step=day&from={_ago(400)}"),
            ("API licenses, page 1 (limit 100)", None),
        ]
        for label, params in api:
            path = (
                f"/admin/v1/licenses/{busy}/history?{params}"
                if params
                else "/admin/v1/licenses?limit=100"
            )
            median, worst, size = await _time(http, base + path, runs, admin)
            verdict = "ok" if median < TARGET_MS else "SLOW"
            print(f"{label:<48} {median:7.1f}ms {worst:7.1f}ms {size / 1024:8.1f}KB  {verdict}")
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--licenses", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--history-licenses", type=int, default=500, help="licenses given 90 days of history"
    )
    args = parser.parse_args()
    asyncio.run(measure(args.licenses, args.sessions, args.runs, args.history_licenses))


if __name__ == "__main__":
    main()
