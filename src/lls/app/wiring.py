"""`build_app`: the daemon wired together. The store and the licensing service, the HTTP
routes and their shared state, the reload hooks, the scheduled jobs and the lifecycle
that opens the store at start; serving it is `lls.app.daemon`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from lls import __version__
from lls.app.licensing import AnyStore, build_licensing
from lls.app.lifecycle import node_lifecycle, pair_lifecycle
from lls.app.listen import local_url
from lls.clock import Clock, SystemClock
from lls.config.settings import Config
from lls.domain.service import Licensing
from lls.http import admin_api, client_api, history_api, offline_api, ops_api, policy_api
from lls.http.admin_access import ADMIN_ACCESS, AdminAccess, allowed_hosts
from lls.http.admin_api import POOL_BODY_LIMIT
from lls.http.admin_throttle import AdminTokenThrottle
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
from lls.http.observe import RequestStats
from lls.http.routes import REQUEST_STATS
from lls.http.ui import add_ui
from lls.instance import Instance, load_instance, viewer_token
from lls.jobs.backup import MakeBackup
from lls.jobs.scheduler import DaemonJobs
from lls.ops.labels import LicenseLabels, label_secret
from lls.ops.logs import configure_logging
from lls.policy_reload import install_policy
from lls.reload import LiveGuard, Reloader, limits_hook, logging_hook
from lls.store.backup import newest_backup_time, scheduled_backup
from lls.store.postgres import PostgresStore
from lls.store.postgres.leader import LEASE_S, TRY_INTERVAL_S

log = logging.getLogger("lls.app")  # the daemon's lines keep the logger name they always had
RELOADER = web.AppKey("reloader", Reloader)


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
    advertised = config.advertise_url or local_url(
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
        app.cleanup_ctx.append(pair_lifecycle(store, licensing, node, jobs, reloader))
    else:
        app.cleanup_ctx.append(node_lifecycle(store, licensing, jobs, reloader))
    return app


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
