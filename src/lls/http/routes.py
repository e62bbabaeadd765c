"""Registering a route: its handler wrapped with error rendering, admin checks and metrics."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from lls.http.ha import NODE, UNGATED, gated
from lls.http.middleware import ADMIN_PREFIXES, guarded
from lls.http.observe import RequestStats, observed

REQUEST_STATS = web.AppKey("request_stats", RequestStats)


def add_route(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """Add `handler` for `method path`, wrapped (the app needs its REQUEST_STATS first; a
    node of a high-availability pair its NODE, so standbys refuse what only the leader may)."""
    node = app.get(NODE)
    if node is not None and path not in UNGATED:
        handler = gated(handler, node)
    wrapped = guarded(handler, admin=path.startswith(ADMIN_PREFIXES))
    app.router.add_route(method, path, observed(wrapped, app[REQUEST_STATS], path))
