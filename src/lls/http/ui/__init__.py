"""The admin's web dashboard at `/ui/`: server-rendered pages the daemon serves itself.

Everything ships inside the package (templates, CSS, a little JavaScript): no build
step, no CDN, nothing fetched from outside — the networks LLS runs on have no
internet. It is a sub-application mounted on the daemon's app, answered only on
the admin listener when there is a separate one (404 elsewhere, like /admin/*).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from lls.config.settings import Config
from lls.http.index_cache import LICENSE_INDEX, IndexCache
from lls.http.keys import ADMIN_TOKEN
from lls.http.middleware import ADMIN_PORT
from lls.http.ui import actions, history, pages, render, signin
from lls.http.ui.auth import SessionBook, SignInThrottle, Tokens
from lls.http.ui.guard import action, local_port, page, ui_guard
from lls.http.ui.keys import (
    INDEX,
    SESSIONS,
    SETTINGS,
    STATIC_VERSION,
    THROTTLE,
    TOKENS,
    UI_APP,
    UISettings,
)

__all__ = ["add_ui"]


def _routes(ui: web.Application) -> None:
    upload = actions.UPLOAD_LIMIT
    r = ui.router
    r.add_get("/", page(pages.overview_page))
    r.add_get("/overview/live", pages.overview_live)
    r.add_get("/sign-in", signin.sign_in_page)
    r.add_post("/sign-in", signin.sign_in)
    r.add_post("/sign-out", action(signin.sign_out, admin=False))
    r.add_get("/licenses", page(pages.licenses_page))
    r.add_get("/licenses/{token}", page(pages.license_page))
    r.add_get("/licenses/{token}/history.csv", page(history.history_csv_page))
    r.add_post("/licenses/{token}/dissociate", action(actions.dissociate))
    r.add_post("/licenses/{token}/unlock", action(actions.unlock))
    r.add_get("/sessions", page(pages.sessions_page))
    r.add_post("/sessions/{id}/end", action(actions.end_session))
    r.add_post("/sessions/borrowed/{id}/end", action(actions.end_borrow))
    r.add_get("/pool", page(pages.pool_page))
    r.add_post("/pool", action(actions.import_pool, limit=upload))
    r.add_get("/usage", page(pages.usage_page))
    r.add_post("/usage", action(actions.export_usage))
    r.add_get("/offline", page(pages.offline_page))
    r.add_post("/offline/activate", action(actions.offline_activate, limit=upload))
    r.add_post("/offline/deactivate", action(actions.offline_deactivate, limit=upload))
    r.add_post("/offline/{id}/refresh", action(actions.offline_refresh))
    r.add_get("/audit", page(pages.audit_page))
    r.add_static("/static/", Path(str(resources.files("lls.http.ui") / "static")))


def add_ui(app: web.Application, config: Config, *, viewer_token: str | None) -> None:
    """Mount the dashboard on `app` (which holds the admin token and the licensing service)."""
    if not config.ui_enabled:
        return
    ui = web.Application(middlewares=[ui_guard])
    ui[TOKENS] = Tokens(app[ADMIN_TOKEN].decode(), viewer_token)
    ui[SESSIONS] = SessionBook(config.ui_session_idle_s)
    ui[THROTTLE] = SignInThrottle(config.ui_sign_in_failures)
    ui[SETTINGS] = UISettings(
        idle_s=config.ui_session_idle_s,
        refresh_s=config.ui_refresh_s,
    )
    ui[INDEX] = app[LICENSE_INDEX] if LICENSE_INDEX in app else IndexCache()
    ui[STATIC_VERSION] = render.static_version()
    render.setup(ui)
    _routes(ui)
    app.add_subapp("/ui/", ui)
    app[UI_APP] = ui

    async def bare(request: web.Request) -> web.StreamResponse:
        port = request.app.get(ADMIN_PORT, 0)
        if port and local_port(request) != port:
            raise web.HTTPNotFound()
        raise web.HTTPPermanentRedirect("/ui/")

    app.router.add_get("/ui", bare)
