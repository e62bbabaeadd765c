"""`lls serve`: one daemon per data directory, its listeners, signals and systemd
notification, and a drain of the requests in flight before it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable

from aiohttp import web

from lls import __version__
from lls.app.listen import listen, local_url, tls_context, warn_about_admin_exposure
from lls.app.wiring import RELOADER, build_app
from lls.config.settings import Config
from lls.http.connections import MAX_REQUEST_LINE, ConnectionGuard
from lls.http.observe import AccessLogger
from lls.instance import SERVER_FILE
from lls.ops.file_modes import private_umask, tighten_data_dir
from lls.ops.lock import DataDirLock
from lls.ops.notify import Notifier
from lls.ops.server_file import ServerFile

log = logging.getLogger("lls.app")  # the daemon's lines keep the logger name they always had


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
        await listen(runner, config.host, config.port, "listen.port", context, guard, backlog=1024)
        admin_url = local_url(scheme, config.host, config.port)
        if config.separate_admin:
            await listen(runner, config.admin_host, config.admin_port, "admin.port", context, guard)
            admin_url = local_url(scheme, config.admin_host, config.admin_port)
    except BaseException:
        await runner.cleanup()
        raise
    server_file = ServerFile(config.data_dir / SERVER_FILE, admin_url, config.tls_cert or None)
    server_file.start()
    log.info("LLS %s serving on %s://%s:%d", __version__, scheme, config.host, config.port)
    if config.separate_admin:
        log.info("admin API on %s only", admin_url)
    warn_about_admin_exposure(config, tls=context is not None)
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
