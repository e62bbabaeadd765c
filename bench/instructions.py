"""Instructions a request costs LLS, next to the bare server, counted by callgrind.

    .venv/bin/python bench/instructions.py [--requests 3000] [--mix session|validate]

Wall-clock figures (bench/run_load.py) need a quiet machine; this one does not. Each
server runs under `valgrind --tool=callgrind` with counting off; after a warm-up the
count is switched on (`callgrind_control -i on`), a fixed number of requests of
bench/load.lua's sequence is sent (the same licenses, operations and bodies, over
--connections keep-alive connections from this process), and the count is dumped.
Instructions are those of the whole server process (event loop, commit thread,
SQLite), so the figure is the CPU work a request needs, repeatable to about 1 %
whatever else the machine runs. The ratio bare/LLS of instructions per request is
the ceiling of run_load's LLS/bare throughput ratio on a CPU-bound machine.

A measurement, not a test: it exits 0 whatever the figures. Needs valgrind
(`apt-get install valgrind`); everything runs in a temporary directory on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_load import (
    BARE_SERVER,
    HOST,
    BenchError,
    clean_env,
    free_port,
    lls_command,
    prepare_instance,
    running,
)

PATHS = (
    "/licensing/activate",
    "/licensing/features/checkout",
    "/licensing/features/return",
    "/licensing/extend",
    "/licensing/deactivate",
)


def body(n: int, licenses: int, mix: str) -> tuple[str, bytes]:
    """The n-th request of bench/load.lua's sequence: (path, JSON body)."""
    lic, rnd = n % licenses, n // licenses
    token = f"BENCH-{lic:05d}"
    if mix == "validate":
        doc = (
            f'{{"licenseToken":"{token}","productCodes":["BENCH_PRO"],'
            f'"authContext":"bench-host-{lic}-{rnd % 3}"}}'
        )
        return "/licensing/validate", doc.encode()
    op = (rnd + lic) % len(PATHS)
    if op == 4:
        doc = f'{{"licenseToken":"{token}","authContext":"bench-host-{lic}"}}'
    elif op in (1, 2):
        doc = (
            f'{{"licenseToken":"{token}","authContext":"bench-host-{lic}",'
            f'"featureCode":"BENCH_FEATURE","quantity":1}}'
        )
    else:
        doc = (
            f'{{"licenseToken":"{token}","productCodes":["BENCH_PRO"],'
            f'"authContext":"bench-host-{lic}"}}'
        )
    return PATHS[op], doc.encode()


async def send(port: int, start: int, count: int, licenses: int, mix: str, conns: int) -> int:
    """Requests start … start+count-1 over `conns` connections; returns the next n."""
    counter = iter(range(start, start + count))
    bad = 0
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(
        f"http://{HOST}:{port}", connector=connector, timeout=aiohttp.ClientTimeout(total=600)
    ) as http:

        async def worker() -> None:
            nonlocal bad
            for n in counter:
                path, data = body(n, licenses, mix)
                async with http.post(path, data=data, headers=headers) as resp:
                    await resp.read()
                    bad += resp.status not in (200, 204)

        await asyncio.gather(*(worker() for _ in range(conns)))
    if bad:
        raise BenchError(f"{bad} of {count} requests were not answered 200/204")
    return start + count


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def total_instructions(out_dir: Path) -> int:
    """The summed `totals:` of the dumps callgrind wrote (one per thread)."""
    total = 0
    for dump in out_dir.glob("callgrind.out*"):
        text = dump.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"^totals: (\d+)", text, re.M)
        if found:
            total += int(found.group(1))
    return total


def measure(
    name: str,
    argv: Sequence[str],
    env: dict[str, str],
    port: int,
    work: Path,
    args: argparse.Namespace,
) -> float:
    """Instructions per request of one server under callgrind."""
    out_dir = work / f"cg-{name}"
    out_dir.mkdir()
    grind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--separate-threads=yes",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
        *argv,
    ]
    # Python under valgrind starts slowly: up to 10 minutes to be ready.
    with running(name, grind, port, env, work / f"{name}.log", ready_within_s=600) as proc:
        nxt = asyncio.run(send(port, 0, args.warmup, args.licenses, args.mix, args.connections))
        for old in out_dir.glob("callgrind.out*"):
            old.unlink()
        callgrind(proc.pid, "--zero")
        callgrind(proc.pid, "-i", "on")
        asyncio.run(send(port, nxt, args.requests, args.licenses, args.mix, args.connections))
        callgrind(proc.pid, "-i", "off")
        callgrind(proc.pid, "--dump")
        time.sleep(1)
        per_request: float = total_instructions(out_dir) / args.requests
    return per_request


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=3000, help="counted requests (default 3000)")
    p.add_argument(
        "--warmup",
        type=int,
        help="requests before counting (default: five per license: load.lua starts license"
        " L at operation L mod 5, so only after five rounds has every license activated and"
        " every counted request is one that succeeds)",
    )
    p.add_argument("--licenses", type=int, default=2000)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--mix", choices=("session", "validate"), default="session")
    p.add_argument("--only", choices=("lls", "bare"), help="measure one server only")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="LLS_X=VALUE",
        help="a setting for the LLS server's environment (repeatable)",
    )
    args = p.parse_args(argv)
    if args.warmup is None:
        args.warmup = 5 * args.licenses
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("valgrind") is None:
        print("needs valgrind: apt-get install valgrind", file=sys.stderr)
        return 2
    env = clean_env()
    keep = os.environ.get("BENCH_KEEP")  # a folder to keep the callgrind dumps in
    with tempfile.TemporaryDirectory(prefix="lls-instr-") as tmp:
        work = Path(keep) if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        figures: dict[str, float] = {}
        if args.only != "bare":
            data_dir = prepare_instance(work, args.licenses, env, args.mix)
            port = free_port()
            serve = lls_command(
                "serve", "--data-dir", str(data_dir), "--host", HOST, "--port", str(port)
            )
            settings = dict(item.split("=", 1) for item in args.set)
            figures["lls"] = measure("lls", serve, {**env, **settings}, port, work, args)
        if args.only != "lls":
            port = free_port()
            bare = [sys.executable, str(BARE_SERVER), "--host", HOST, "--port", str(port)]
            figures["bare"] = measure("bare", bare, env, port, work, args)
    shape = f"{args.mix} mix, {args.requests} requests, {args.connections} connections"
    print(f"instructions a request ({shape}):")
    for name, value in figures.items():
        print(f"  {name:5} {value:12,.0f}")
    if len(figures) == 2:
        print(f"  bare/LLS {figures['bare'] / figures['lls']:.3f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
