"""Soak: mixed load for a long time, with kill -9 every 20 s and a full disk every 2 min.

    sudo .venv/bin/python bench/soak.py [--duration 600] [--devices 16] [--licenses 200]

What it does, in a temporary directory and on 127.0.0.1 only:

1. mounts a small tmpfs (root only) as the data directory, `lls init`s an
   instance there and imports a pool of single- and three-seat licenses with a
   floating feature;
2. starts `lls serve`; device threads drive activate / checkout / return /
   extend (an activate of a held session) / deactivate over the licenses, and
   write down every answer in a ledger (tests/faults/ledger.py);
3. every `--kill-every` seconds: kill -9, restart, settle the requests whose
   answer the kill swallowed, and compare the ledger with the server's
   sessions and units in use (admin API);
4. every `--full-every` seconds: fills the tmpfs to the last byte for
   `--full-for` seconds, then frees it, and notes how long the server takes to
   accept writes again;
5. prints acknowledged operations, lost answers, phantom sessions,
   oversubscribed licenses, the 503s, and the server's RSS and open file
   descriptors at the start and the end (sampled just before each kill).

Exit 0 when nothing was lost, phantom or oversubscribed, 1 otherwise (it is a
correctness soak; the figures are printed either way). Without root it runs
without the disk-full episodes and says so. Every process it started and the
mount are cleaned up on the way out, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*

from lls.instance import init_instance
from lls.sealed import KeyPair, write_sealed_file
from tests.e2e.conftest import Daemon, free_port, lls
from tests.faults.ledger import (
    FEATURE,
    Client,
    Gate,
    Ledger,
    run_devices,
    server_view,
    settle,
)
from tests.faults.tmpfs import Tmpfs
from tests.pools import PRODUCT, VendorKeys, grant, make_pool


def licenses(count: int, units: int) -> list[dict[str, Any]]:
    features = [{"code": FEATURE, "type": "floating", "count": units}]
    return [
        grant(f"SOAK-{i:04d}", seats=1 if i % 4 else 3, features=features) for i in range(count)
    ] + [grant(PROBE, seats=1)]


def process_figures(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open file descriptors) of a running process."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return rss, sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())


def view(daemon: Daemon) -> tuple[set[tuple[str, str]], dict[str, int]]:
    _, sessions = daemon.admin("/admin/v1/sessions?limit=1000")
    _, docs = daemon.admin("/admin/v1/licenses?limit=1000")
    live, in_use = server_view(sessions, docs)
    return {(lic, ctx) for lic, ctx in live if lic != PROBE}, in_use


PROBE = "SOAK-PROBE"  # a license no device uses: the soak's own write probe


def wait_writable(port: int, timeout_s: float) -> float | None:
    """Seconds until the server takes a write again (an activate, then its deactivate)."""
    client = Client(port)
    start = time.monotonic()
    body = {"licenseToken": PROBE, "productCodes": [PRODUCT], "authContext": "soak-probe"}
    try:
        while time.monotonic() - start < timeout_s:
            status, answer = client.call("/licensing/activate", body)
            if status == 200 and answer.get("authStatus") == "Success":
                elapsed = time.monotonic() - start
                for _ in range(100):  # bounded; a 503 now and then while space is short
                    status, _ = client.call("/licensing/deactivate", body)
                    if status == 204:
                        break
                    time.sleep(0.05)
                return elapsed
            time.sleep(0.05)
    finally:
        client.close()
    return None


def soak(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    root = os.geteuid() == 0
    if not root:
        print("not root: no tmpfs, so no disk-full episodes (run with sudo for the full soak)")
    disk = Tmpfs(work / "disk", args.tmpfs_mib) if root else None
    try:
        data = disk.path if disk is not None else work / "data"
        vendor = VendorKeys(keys=KeyPair.generate())
        instance = init_instance(data, vendor.write_jwks(work / "vendor.jwks"))
        grants = licenses(args.licenses, args.units)
        pool = work / "pool.lls"
        write_sealed_file(pool, make_pool(vendor, instance, grants), {"kind": "pool"})
        lls("pool", "import", str(pool), "--data-dir", str(data))
        seats = {g["token"]: g["seats"] for g in grants if g["token"] != PROBE}
        ledger = Ledger(seats=seats, units={t: args.units for t in seats})
        return run(args, Daemon(data_dir=data, port=free_port()), ledger, disk)
    finally:
        if disk is not None:
            disk.unmount()


def run(args: argparse.Namespace, daemon: Daemon, ledger: Ledger, disk: Tmpfs | None) -> Any:
    problems: list[str] = []
    samples: list[tuple[int, int]] = []
    recoveries: list[float | None] = []
    kills = episodes = 0
    stop, gate = threading.Event(), Gate()
    daemon.start()
    threads = run_devices(
        daemon.port, ledger, list(ledger.seats), args.devices, stop=stop, max_ops=10**9, gate=gate
    )
    start = time.monotonic()
    next_kill, next_full = start + args.kill_every, start + args.full_every
    try:
        while time.monotonic() - start < args.duration:
            now = time.monotonic()
            if disk is not None and now >= next_full:
                episodes += 1
                disk.fill()
                time.sleep(args.full_for)
                disk.free()
                recoveries.append(wait_writable(daemon.port, 30))
                next_full = time.monotonic() + args.full_every
            elif args.kill_every > 0 and now >= next_kill:
                assert daemon.proc is not None
                samples.append(process_figures(daemon.proc.pid))
                daemon.kill9()  # mid-load
                kills += 1
                gate.close()  # devices pause between calls while the ledger is checked
                daemon.start()
                settle(daemon.port, ledger)
                found = ledger.compare(*view(daemon))
                problems += [f"after kill {kills}: {p}" for p in found]
                gate.open()
                next_kill = time.monotonic() + args.kill_every
            else:
                time.sleep(0.1)
        assert daemon.proc is not None
        samples.append(process_figures(daemon.proc.pid))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        daemon.stop()
    # The last check: a clean restart, every unknown settled.
    daemon.start()
    try:
        settle(daemon.port, ledger)
        problems += [f"at the end: {p}" for p in ledger.compare(*view(daemon))]
    finally:
        daemon.stop()
    return {
        "duration_s": args.duration,
        "kills": kills,
        "disk_full_episodes": episodes,
        "acknowledged": ledger.acknowledged,
        "lost": sum(1 for p in problems if "lost:" in p or "told held" in p),
        "phantom": sum(1 for p in problems if "phantom:" in p),
        "oversubscribed": sum(1 for p in problems if " seats" in p or "units in use of" in p),
        "other_problems": [
            p
            for p in problems
            if not any(
                k in p for k in ("lost:", "phantom:", "told held", " seats", "units in use of")
            )
        ],
        "storage_503": sum(v for k, v in ledger.answers.items() if k.endswith(" 503")),
        "answers": dict(ledger.answers),
        "recovery_s": recoveries,
        "rss_kib_start": samples[0][0] if samples else None,
        "rss_kib_end": samples[-1][0] if samples else None,
        "rss_kib_max": max(s[0] for s in samples) if samples else None,
        "fds_start": samples[0][1] if samples else None,
        "fds_end": samples[-1][1] if samples else None,
        "fds_max": max(s[1] for s in samples) if samples else None,
        "problems": problems[:50],
    }


def report(figures: dict[str, Any]) -> None:
    f = figures
    print(
        f"soak {f['duration_s']:.0f} s: {f['kills']} kill -9, "
        f"{f['disk_full_episodes']} disk-full episodes"
    )
    print(f"  acknowledged operations  {f['acknowledged']}")
    print(f"  lost                     {f['lost']}")
    print(f"  phantom                  {f['phantom']}")
    print(f"  oversubscribed           {f['oversubscribed']}")
    print(f"  503 STORAGE_ERROR        {f['storage_503']}")
    recovered = ", ".join("never" if r is None else f"{r:.1f}" for r in f["recovery_s"])
    print(f"  writes taken again (s)   {recovered or '-'}")
    print(
        f"  server RSS KiB           start {f['rss_kib_start']}  end {f['rss_kib_end']}"
        f"  max {f['rss_kib_max']}"
    )
    print(
        f"  server open fds          start {f['fds_start']}  end {f['fds_end']}  max {f['fds_max']}"
    )
    for problem in f["problems"][:10]:
        print(f"  ! {problem}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument(
        "--kill-every", type=float, default=20.0, help="seconds between kill -9 (0: none)"
    )
    parser.add_argument(
        "--full-every", type=float, default=120.0, help="seconds between disk-full episodes"
    )
    parser.add_argument("--full-for", type=float, default=8.0, help="seconds the disk stays full")
    parser.add_argument("--devices", type=int, default=16, help="device threads")
    parser.add_argument("--licenses", type=int, default=200)
    parser.add_argument("--units", type=int, default=3, help="floating units per license")
    parser.add_argument("--tmpfs-mib", type=int, default=32, help="size of the data tmpfs")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lls-soak-"))
    try:
        figures = soak(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)
    bad = figures["lost"] + figures["phantom"] + figures["oversubscribed"]
    return 1 if bad or figures["other_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
