"""What runs around the serving: open the store and load memory at start, start the jobs,
and at the end keep the clock floor and the open hour; for a node of a pair, lead or
stand by as the leader lock comes and goes."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from apscheduler.schedulers.base import STATE_PAUSED

from lls.domain.service import Licensing
from lls.errors import LLSError
from lls.http import ops_api
from lls.http.ha import NodeState
from lls.jobs.scheduler import DaemonJobs
from lls.reload import Reloader
from lls.store import SqliteStore
from lls.store.postgres import PostgresStore

log = logging.getLogger("lls.app")  # the daemon's lines keep the logger name they always had

Lifecycle = Callable[[web.Application], AsyncIterator[None]]


def node_lifecycle(
    store: SqliteStore, licensing: Licensing, jobs: DaemonJobs | None, reloader: Reloader
) -> Lifecycle:
    """A single node: the store open and memory loaded for as long as the app runs."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await store.open()
        try:
            await licensing.upkeep.load()
            # The licenses loaded now live as long as the daemon: keep them out of the
            # cyclic collector's full passes (they paused the loop ~70 ms under load).
            gc.freeze()
            app[ops_api.METRICS].warm()  # renders every license once, on its own thread
            if jobs is not None:
                jobs.apply(reloader.config)
                jobs.start()
            try:
                yield
            finally:
                if jobs is not None:
                    jobs.shutdown()
                with contextlib.suppress(Exception):
                    await licensing.upkeep.persist_floor()
                with contextlib.suppress(Exception):  # the open hour survives the restart
                    await licensing.upkeep.flush_history(force=True)
        finally:
            await store.close()

    return lifecycle


def pair_lifecycle(
    store: PostgresStore,
    licensing: Licensing,
    node: NodeState,
    jobs: DaemonJobs | None,
    reloader: Reloader,
) -> Lifecycle:
    """A node of a pair: compete for the leader lock; lead (memory from the database, the
    jobs) while holding it, stand by (the jobs paused, the APIs refused) while not."""
    rebuild = store.reload  # the rules' rebuild (Licensing registered it)

    async def take_over() -> None:  # on gaining the lock, and after a failed batch
        if rebuild is not None:
            await rebuild()
        gc.freeze()  # as at a single node's start: the licenses live until the next take-over
        if jobs is not None and jobs.scheduler.state == STATE_PAUSED:
            jobs.scheduler.resume()
        log.info("leading: %d live sessions", len(licensing.reads.live_sessions()))

    def stand_by() -> None:
        node.leader_url = None
        if jobs is not None and jobs.scheduler.running:
            jobs.scheduler.pause()
        log.warning("standing by: this node stopped granting; the next leader serves")

    store.reload, store.on_standby = take_over, stand_by

    async def follow_leader() -> None:
        """Keep the leader's URL at hand for /readyz and the 503s (once a second is enough)."""
        while True:
            try:
                node.leader_url = node.advertised if node.leading else await store.leader_url()
            except LLSError:
                node.leader_url = None
            await asyncio.sleep(1.0)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await store.open()  # migrations and the binding check; the lock is tried from now on
        if jobs is not None:
            jobs.apply(reloader.config)
            jobs.scheduler.start(paused=True)  # resumed while this node leads
        follower = asyncio.create_task(follow_leader())
        try:
            yield
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            if jobs is not None:
                jobs.shutdown()
            if store.writable:
                with contextlib.suppress(Exception):
                    await licensing.upkeep.persist_floor()
            await store.close()

    return lifecycle
