"""Registering a route: its handler wrapped with error rendering, admin checks and metrics."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from lls.http.middleware import ADMIN_PREFIXES, guarded
from lls.http.observe import RequestStats, observed

REQUEST_STATS = web.AppKey("request_stats", RequestStats)


def add_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Add `handler` for `method path`, wrapped (the app needs its REQUEST_STATS first)."""
    wrapped = guarded(handler, admin=path.startswith(ADMIN_PREFIXES))
    app.router.add_route(method, path, observed(wrapped, app[REQUEST_STATS], path))
