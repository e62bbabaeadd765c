"""How long a large pool takes to import and to load again at start (sync-format §1: 100,000+
licenses, tens of MB). Prints its figures; a measurement, not a test.

    .venv/bin/python bench/pool_size.py [--licenses 100000] [--sessions-every 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.pools

from lls.app.licensing import build_licensing
from lls.clock import SystemClock
from lls.instance import init_instance
from lls.sealed import KeyPair
from tests.pools import PRODUCT, VendorKeys, grant, make_pool


async def measure(licenses: int, every: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="lls-pool-size-"))
    vendor = VendorKeys(keys=KeyPair.generate())
    instance = init_instance(work / "data", vendor.write_jwks(work / "vendor.jwks"))
    feature = [{"code": "F", "type": "floating", "count": 2}]
    grants = [grant(f"B{i:06d}", features=feature) for i in range(licenses)]
    start = time.perf_counter()
    raw = make_pool(vendor, instance, grants)
    print(
        f"pool of {licenses} licenses: {len(raw) / 1e6:.1f} MB, sealed in "
        f"{time.perf_counter() - start:.1f} s"
    )
    licensing, store = build_licensing(instance, SystemClock())
    await store.open()
    await licensing.upkeep.load()
    start = time.perf_counter()
    await licensing.import_pool(raw)
    print(f"import (decrypt, verify, parse, apply, commit): {time.perf_counter() - start:.1f} s")
    for i in range(0, licenses, every):
        await licensing.activate(f"B{i:06d}", [PRODUCT], f"host-{i}")
    await store.close()
    licensing, store = build_licensing(instance, SystemClock())
    await store.open()
    start = time.perf_counter()
    await licensing.upkeep.load()
    print(
        f"start-up load (pool verified again, {len(licensing.state.by_id)} sessions): "
        f"{time.perf_counter() - start:.1f} s"
    )
    start = time.perf_counter()
    await licensing.upkeep.rebuild()
    print(
        f"rebuild after a failed write (pool reused, {len(licensing.state.by_id)} sessions): "
        f"{1000 * (time.perf_counter() - start):.0f} ms"
    )
    start = time.perf_counter()
    await licensing.upkeep.expire_due()
    print(
        f"expiry sweep over {len(licensing.state.by_id)} sessions: "
        f"{1000 * (time.perf_counter() - start):.1f} ms"
    )
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--licenses", type=int, default=100_000)
    parser.add_argument("--sessions-every", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(measure(args.licenses, args.sessions_every))


if __name__ == "__main__":
    main()
