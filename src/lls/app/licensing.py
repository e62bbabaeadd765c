"""The `Licensing` facade on its store, and the commands that run it while no server runs.

`build_app` builds the daemon's service here, and the CLI's offline commands (pool import,
admin actions, the database check of a restore) build the same one: the same rules and
the same code, on the data directory instead of behind HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from lls.clock import Clock, SystemClock
from lls.config.settings import Config
from lls.domain.service import Licensing
from lls.errors import LLSError
from lls.http.admin_docs import pool_summary_doc
from lls.instance import Instance, load_instance
from lls.progress import ProgressHook, quiet
from lls.sealed.offline_codec import SealedOfflineCodec
from lls.sealed.pool_reader import SealedPoolReader
from lls.sealed.usage_codec import SealedUsageSealer
from lls.store import SqliteStore
from lls.store.postgres import PostgresStore
from lls.store.postgres.leader import LEASE_S, TRY_INTERVAL_S

T = TypeVar("T")
AnyStore = SqliteStore | PostgresStore
TAKE_OVER_WAIT_S = 10.0  # how long a command on a PostgreSQL store waits to lead


def build_licensing(
    instance: Instance,
    clock: Clock,
    *,
    store_url: str = "",
    advertise: str = "",
    lock_timing: tuple[float, float] = (TRY_INTERVAL_S, LEASE_S),
) -> tuple[Licensing, AnyStore]:
    """The service and its store for `instance` (not yet opened or loaded): SQLite in the
    data directory, or the PostgreSQL database `store_url` shared by the nodes of a pair
    (`lock_timing`: how often the leader lock is tried, and the lease; tests shorten them)."""
    interval, lease = lock_timing
    store: AnyStore = (
        PostgresStore(
            store_url,
            instance.instance_id,
            advertise=advertise,
            lock_interval=interval,
            lease=lease,
        )
        if store_url
        else SqliteStore(instance.db_path)
    )
    licensing = Licensing(
        store=store,
        reader=SealedPoolReader(instance.keys, [instance.vendor_keys]),
        codec=SealedOfflineCodec(instance.keys, instance.instance_id),
        sealer=SealedUsageSealer(
            instance.keys, instance.instance_id, instance.vendor_id, instance.vendor_keys
        ),
        clock=clock,
        instance_id=instance.instance_id,
        trust_pools_from=instance.rebound_at,
        vendor_id=instance.vendor_id,
    )
    return licensing, store


async def _lead_for_a_command(store: AnyStore) -> None:
    """A command on a PostgreSQL store acts only as the leader: no node may serve meanwhile."""
    if isinstance(store, PostgresStore) and not await store.wait_writable(TAKE_OVER_WAIT_S):
        raise LLSError(
            "another LLS node leads this instance: run the command against it (or stop it first)",
            code="NOT_LEADER",
        )


async def with_local_licensing(config: Config, action: Callable[[Licensing], Awaitable[T]]) -> T:
    """Run one action on the data directory while no server runs (same rules, same code)."""
    licensing, store = build_licensing(
        load_instance(config.data_dir), SystemClock(), store_url=config.store_url
    )
    await store.open()
    try:
        await _lead_for_a_command(store)
        await licensing.upkeep.load()
        result = await action(licensing)
        await licensing.upkeep.flush_history(force=True)
        return result
    finally:
        await store.close()


async def import_pool_offline(
    config: Config, raw: str, *, progress: ProgressHook = quiet
) -> dict[str, Any]:
    """Import a pool into the data directory while no server runs (same answer as the API)."""
    summary = await with_local_licensing(
        config, lambda lic: lic.import_pool(raw, progress=progress)
    )
    return pool_summary_doc(summary)


async def verify_database(instance: Instance, data_dir: Path) -> tuple[int, int]:
    """Open the database in `data_dir` as `lls serve` would at start (migrations, the stored
    pool verified again with this instance's keys); returns (pool seq, live sessions)."""
    licensing, store = build_licensing(replace(instance, data_dir=data_dir), SystemClock())
    await store.open()
    try:
        await licensing.upkeep.load()
        pool = licensing.reads.status().pool
        return (pool.seq if pool else 0), len(licensing.reads.live_sessions())
    finally:
        await store.close()
