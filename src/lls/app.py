"""Wires the daemon together: store, licensing service, HTTP routes, scheduler, lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import ipaddress
import logging
import os
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from apscheduler.schedulers.base import STATE_PAUSED

from lls import __version__
from lls.clock import Clock, SystemClock
from lls.config import Config
from lls.domain.service import Licensing
from lls.errors import LLSError, whoami
from lls.http import admin_api, client_api, history_api, offline_api, ops_api, policy_api
from lls.http.admin_access import ADMIN_ACCESS, AdminAccess, allowed_hosts
from lls.http.admin_api import POOL_BODY_LIMIT, pool_summary_doc
from lls.http.admin_throttle import AdminTokenThrottle
from lls.http.connections import MAX_REQUEST_LINE, ConnectionGuard, GuardedSite
from lls.http.ha import NODE, NodeState
from lls.http.keys import (
    ADMIN_TOKEN,
    GUARD,
    INSTANCE,
    LABELS,
    LICENSING,
    RELOAD,
    VENDOR_FIELDS_ONLY,
    InstanceInfo,
)
from lls.http.middleware import ADMIN_PORT
from lls.http.observe import AccessLogger, RequestStats
from lls.http.routes import REQUEST_STATS
from lls.http.ui import add_ui
from lls.instance import SERVER_FILE, Instance, load_instance, viewer_token
from lls.jobs.backup import MakeBackup
from lls.jobs.scheduler import DaemonJobs
from lls.ops.file_modes import private_umask, tighten_data_dir
from lls.ops.labels import LicenseLabels, label_secret
from lls.ops.lock import DataDirLock
from lls.ops.logs import configure_logging
from lls.ops.notify import Notifier
from lls.ops.server_file import ServerFile
from lls.policy_reload import install_policy
from lls.progress import ProgressHook, quiet
from lls.reload import LiveGuard, Reloader, limits_hook, logging_hook
from lls.sealed.offline_codec import SealedOfflineCodec
from lls.sealed.pool_reader import SealedPoolReader
from lls.sealed.usage_codec import SealedUsageSealer
from lls.store import SqliteStore
from lls.store.backup import newest_backup_time, scheduled_backup
from lls.store.postgres import PostgresStore
from lls.store.postgres.leader import LEASE_S, TRY_INTERVAL_S

log = logging.getLogger(__name__)
T = TypeVar("T")
RELOADER = web.AppKey("reloader", Reloader)


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


def build_app(
    config: Config,
    *,
    instance: Instance | None = None,
    clock: Clock | None = None,
    run_jobs: bool = True,
    reread: Callable[[], Config] | None = None,
    manage_logging: bool = False,
    lock_timing: tuple[float, float] = (TRY_INTERVAL_S, LEASE_S),
) -> web.Application:
    """The aiohttp application; opening the store and loading state happen at startup.

    `reread` gives the settings again for a reload (SIGHUP, `POST /admin/v1/reload`);
    `manage_logging`: a reload may change the root logger (the daemon owns it).
    """
    instance = instance or load_instance(config.data_dir)
    clock = clock or SystemClock()
    advertised = config.advertise_url or _local_url(
        "https" if config.tls else "http", config.host, config.port
    )
    licensing, store = build_licensing(
        instance, clock, store_url=config.store_url, advertise=advertised, lock_timing=lock_timing
    )
    licensing.upkeep.keep_history(config.history_retention_days)
    stats = RequestStats(per_license=config.metrics_per_license)
    guard = LiveGuard(clock, limit=config.guess_limit, window_s=config.guess_window_s)
    reloader = Reloader(config, reread)
    reloader.add_hook("limits", limits_hook(guard))
    reloader.add_hook("history", _retention_hook(licensing))
    if manage_logging:
        reloader.add_hook("logging", logging_hook(configure_logging))
    jobs = DaemonJobs(licensing, lambda c: _backup_job(c, instance, store)) if run_jobs else None
    if jobs is not None:
        reloader.add_hook("jobs", lambda old, new: lambda: _log_jobs(jobs.apply(new)))
    # No aiohttp middlewares: each route's handler is wrapped when added (http.routes).
    app = web.Application(client_max_size=POOL_BODY_LIMIT)
    app[REQUEST_STATS] = stats
    node: NodeState | None = None
    if isinstance(store, PostgresStore):  # one of a pair: standbys refuse (http.ha)
        node = NodeState(role_of=lambda: store.role, advertised=advertised)
        app[NODE] = node
    app[ADMIN_PORT] = config.admin_port
    app[LICENSING] = licensing
    app[VENDOR_FIELDS_ONLY] = config.vendor_fields_only
    app[GUARD] = guard
    app[RELOADER] = reloader
    app[RELOAD] = reloader.reload
    app[LABELS] = LicenseLabels(label_secret(instance.keys, instance.instance_id))
    app[ADMIN_TOKEN] = instance.admin_token.encode()
    admin_listen_host = config.admin_host if config.separate_admin else config.host
    app[ADMIN_ACCESS] = AdminAccess(
        hosts=allowed_hosts(admin_listen_host, config.admin_allowed_hosts),
        throttle=AdminTokenThrottle(
            clock, limit=config.admin_failure_limit, window_s=config.admin_failure_window_s
        ),
    )
    app[INSTANCE] = InstanceInfo(
        instance_id=instance.instance_id,
        public_jwks=instance.keys.public().to_jwks(),
        version=__version__,
    )
    client_api.add_routes(app)
    admin_api.add_routes(app)
    history_api.add_routes(app)
    offline_api.add_routes(app)
    ops_api.add_routes(app, licensing, stats, per_license=config.metrics_per_license)
    policy = install_policy(config, reloader, clock)  # policy.file
    licensing.waits.set_policy(policy.in_force.policy)  # memory loads later: restore counts
    policy.in_force.subscribe(licensing.waits.set_policy)  # a reload governs the next grant
    policy_api.add_routes(app, policy)
    add_ui(app, config, viewer_token=viewer_token(instance.data_dir))  # the dashboard, /ui/

    if isinstance(store, PostgresStore):
        assert node is not None
        app.cleanup_ctx.append(_pair_lifecycle(store, licensing, node, jobs, reloader))
        return app

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

    app.cleanup_ctx.append(lifecycle)
    return app


def _pair_lifecycle(
    store: PostgresStore,
    licensing: Licensing,
    node: NodeState,
    jobs: DaemonJobs | None,
    reloader: Reloader,
) -> Callable[[web.Application], AsyncIterator[None]]:
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


def _retention_hook(licensing: Licensing) -> Callable[[Config, Config], Callable[[], None] | None]:
    """history.retention_days, applied at the next hour's pruning."""

    def hook(old: Config, new: Config) -> Callable[[], None] | None:
        if old.history_retention_days == new.history_retention_days:
            return None

        return lambda: licensing.upkeep.keep_history(new.history_retention_days)

    return hook


def _log_jobs(changed: list[str]) -> None:
    if changed:
        log.info("rescheduled jobs: %s", ", ".join(changed))


def _backup_job(
    config: Config, instance: Instance, store: AnyStore
) -> tuple[MakeBackup | None, float | None]:
    """The scheduled backup (when backup.dir is set) and when the newest one was written."""
    if not config.backup_dir:
        return None, None
    if isinstance(store, PostgresStore):
        log.warning(
            "backup.dir is ignored with a PostgreSQL store: back the database up with pg_dump"
            " (docs/ha.md), and the data directories with it"
        )
        return None, None
    folder = Path(config.backup_dir)
    keep = config.backup_keep

    async def backup() -> Path:
        return await asyncio.to_thread(scheduled_backup, instance.db_path, folder, keep)

    return backup, newest_backup_time(folder)


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The server-side TLS context of tls.cert/tls.key, or None when TLS is off."""
    if not config.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise LLSError(
            f"cannot load tls.cert {config.tls_cert} / tls.key {config.tls_key}: {exc}"
        ) from None
    return context


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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _warn_about_admin_exposure(config: Config, *, tls: bool) -> None:
    """Say so at start when the admin API is reachable beyond this machine, or in clear."""
    if not config.separate_admin:
        log.warning(
            "admin.port is 0: the admin API shares the client listener on %s:%d;"
            " not recommended (give it a listener of its own, the default 127.0.0.1:8081)",
            config.host,
            config.port,
        )
        exposed = not _is_loopback(config.host)
    else:
        exposed = not _is_loopback(config.admin_host)
    if exposed and not tls:
        log.warning(
            "the admin API is reachable from the network without TLS: the admin token"
            " crosses it in clear; set tls.cert and tls.key"
        )


def _local_url(scheme: str, host: str, port: int) -> str:
    host = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


async def _serve(
    config: Config, ready: asyncio.Event | None = None, reread: Callable[[], Config] | None = None
) -> None:
    old_umask = private_umask()  # the database, its WAL and SHM, server.json: all 0600
    lock = DataDirLock(config.data_dir, "starting another server on it")
    try:
        lock.acquire()  # before the database is opened: one daemon per data directory
        try:
            tighten_data_dir(config.data_dir)
            await _serve_locked(config, ready, reread)
        finally:
            lock.release()
    finally:
        os.umask(old_umask)  # as it was (the daemon's own process ends here anyway)


async def _listen(
    runner: web.AppRunner,
    host: str,
    port: int,
    setting: str,
    context: ssl.SSLContext | None,
    guard: ConnectionGuard,
    backlog: int = 1024,
) -> None:
    """Bind one listener, behind the connection guard (header deadline, per-address cap);
    a port in use or an address not here is one line that says why."""
    site = GuardedSite(runner, host, port, guard=guard, ssl_context=context, backlog=backlog)
    try:
        await site.start()
    except OSError as exc:
        raise LLSError(_bind_error(exc, host, port, setting), code="CANNOT_LISTEN") from None


def _bind_error(exc: OSError, host: str, port: int, setting: str) -> str:
    host_setting = setting.replace(".port", ".host")
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is in use by another process; set {setting} (or stop that process)"
    if exc.errno == errno.EACCES:
        return (
            f"not allowed to listen on port {port} as user {whoami()}: ports below 1024 need"
            f" CAP_NET_BIND_SERVICE; set {setting} to 1024 or above"
        )
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
        return f"cannot listen on {host}: it is not an address of this machine; set {host_setting}"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


async def _serve_locked(
    config: Config, ready: asyncio.Event | None, reread: Callable[[], Config] | None
) -> None:
    notifier = Notifier.from_environ()
    context = tls_context(config)
    scheme = "https" if context is not None else "http"
    app = build_app(config, reread=reread, manage_logging=reread is not None)
    runner = web.AppRunner(
        app,
        access_log=logging.getLogger("lls.access") if config.access_log else None,
        access_log_class=AccessLogger,
        handle_signals=False,
        keepalive_timeout=config.keepalive_s,
        max_line_size=MAX_REQUEST_LINE,
    )
    await runner.setup()
    guard = ConnectionGuard(
        per_address=config.max_connections_per_address, header_timeout_s=config.header_timeout_s
    )
    try:
        await _listen(runner, config.host, config.port, "listen.port", context, guard, backlog=1024)
        admin_url = _local_url(scheme, config.host, config.port)
        if config.separate_admin:
            await _listen(
                runner, config.admin_host, config.admin_port, "admin.port", context, guard
            )
            admin_url = _local_url(scheme, config.admin_host, config.admin_port)
    except BaseException:
        await runner.cleanup()
        raise
    server_file = ServerFile(config.data_dir / SERVER_FILE, admin_url, config.tls_cert or None)
    server_file.start()
    log.info("LLS %s serving on %s://%s:%d", __version__, scheme, config.host, config.port)
    if config.separate_admin:
        log.info("admin API on %s only", admin_url)
    _warn_about_admin_exposure(config, tls=context is not None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[None]] = set()

    async def reload_on_signal() -> None:
        notifier.notify("RELOADING=1", "STATUS=reloading the settings")
        await app[RELOADER].reload()
        notifier.notify("READY=1", f"STATUS=serving on {scheme}://{config.host}:{config.port}")

    def on_sighup() -> None:  # SIGHUP re-reads the config; it never stops the server
        task = asyncio.create_task(reload_on_signal())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    notifier.notify("READY=1", f"STATUS=serving on {scheme}://{config.host}:{config.port}")
    watchdog = asyncio.create_task(notifier.watchdog())
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
        log.info("stopping: finishing requests in flight")
        notifier.notify("STOPPING=1", "STATUS=finishing requests in flight")
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        await server_file.stop()
        # Stops accepting, lets in-flight handlers finish, then runs cleanup (store close).
        # The watchdog keeps pinging meanwhile: a long drain is not a hang.
        await runner.cleanup()
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog


def serve(config: Config, reread: Callable[[], Config] | None = None) -> None:
    """Run the daemon until SIGINT/SIGTERM (SIGHUP reloads), on uvloop when it is installed.

    `reread` gives the settings again on a reload (the config file, then variables and flags).
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(_serve(config, reread=reread))
    else:
        uvloop.run(_serve(config, reread=reread))
