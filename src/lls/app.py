"""Wires the daemon together: store, licensing service, HTTP routes, scheduler, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from aiohttp import web

from lls import __version__
from lls.clock import Clock, SystemClock
from lls.config import Config
from lls.domain.guard import TokenGuessGuard
from lls.domain.service import Licensing
from lls.http import admin_api, client_api, offline_api, ops_api
from lls.http.admin_api import POOL_BODY_LIMIT
from lls.http.keys import ADMIN_TOKEN, GUARD, INSTANCE, LICENSING, InstanceInfo
from lls.http.middleware import errors_and_auth
from lls.instance import SERVER_FILE, Instance, load_instance
from lls.jobs.scheduler import build_scheduler
from lls.sealed.offline_codec import SealedOfflineCodec
from lls.sealed.pool_reader import SealedPoolReader
from lls.sealed.usage_codec import SealedUsageSealer
from lls.store import SqliteStore

log = logging.getLogger(__name__)
T = TypeVar("T")


def build_licensing(instance: Instance, clock: Clock) -> tuple[Licensing, SqliteStore]:
    """The service and its store for `instance` (not yet opened or loaded)."""
    store = SqliteStore(instance.db_path)
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
    )
    return licensing, store


async def with_local_licensing(config: Config, action: Callable[[Licensing], Awaitable[T]]) -> T:
    """Run one action on the data directory while no server runs (same rules, same code)."""
    licensing, store = build_licensing(load_instance(config.data_dir), SystemClock())
    await store.open()
    try:
        await licensing.load()
        return await action(licensing)
    finally:
        await store.close()


async def import_pool_offline(config: Config, raw: str) -> dict[str, int]:
    """Import a pool into the data directory while no server runs."""
    summary = await with_local_licensing(config, lambda lic: lic.import_pool(raw))
    return {
        "seq": summary.seq,
        "licenses": summary.licenses,
        "added": summary.added,
        "changed": summary.changed,
        "removed": summary.removed,
        "sessionsEnded": summary.sessions_ended,
    }


def build_app(
    config: Config,
    *,
    instance: Instance | None = None,
    clock: Clock | None = None,
    run_jobs: bool = True,
) -> web.Application:
    """The aiohttp application; opening the store and loading state happen at startup."""
    instance = instance or load_instance(config.data_dir)
    clock = clock or SystemClock()
    licensing, store = build_licensing(instance, clock)
    app = web.Application(middlewares=[errors_and_auth], client_max_size=POOL_BODY_LIMIT)
    app[LICENSING] = licensing
    app[GUARD] = TokenGuessGuard(clock, limit=config.guess_limit, window_s=config.guess_window_s)
    app[ADMIN_TOKEN] = instance.admin_token.encode()
    app[INSTANCE] = InstanceInfo(
        instance_id=instance.instance_id,
        public_jwks=instance.keys.public().to_jwks(),
        version=__version__,
    )
    client_api.add_routes(app)
    admin_api.add_routes(app)
    offline_api.add_routes(app)
    ops_api.add_routes(app, licensing)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        try:
            await licensing.load()
            scheduler = build_scheduler(config, licensing) if run_jobs else None
            if scheduler is not None:
                scheduler.start()
            try:
                yield
            finally:
                if scheduler is not None:
                    scheduler.shutdown(wait=False)
                with contextlib.suppress(Exception):
                    await licensing.persist_floor()
        finally:
            await store.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def _write_server_file(data_dir: Path, url: str) -> Path:
    path = data_dir / SERVER_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "url": url}), encoding="utf-8")
    tmp.replace(path)
    return path


async def _serve(config: Config, ready: asyncio.Event | None = None) -> None:
    app = build_app(config)
    runner = web.AppRunner(app, access_log=log if config.access_log else None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, backlog=1024, reuse_address=True)
    await site.start()
    host = "127.0.0.1" if config.host in {"0.0.0.0", "::"} else config.host  # noqa: S104
    server_file = _write_server_file(config.data_dir, f"http://{host}:{config.port}")
    log.info("LLS %s serving on http://%s:%d", __version__, config.host, config.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
        log.info("stopping: finishing requests in flight")
    finally:
        server_file.unlink(missing_ok=True)
        # Stops accepting, lets in-flight handlers finish, then runs cleanup (store close).
        await runner.cleanup()


def serve(config: Config) -> None:
    """Run the daemon until SIGINT/SIGTERM, on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(_serve(config))
    else:
        uvloop.run(_serve(config))
