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
from aiohttp.typedefs import Handler

from lls.config.settings import Config
from lls.http.index_cache import LICENSE_INDEX, IndexCache
from lls.http.keys import ADMIN_TOKEN
from lls.http.middleware import ADMIN_PORT
from lls.http.ui import actions, history, pages, render, signin
from lls.http.ui.auth import SessionBook, SignInThrottle, Tokens
from lls.http.ui.guard import action, guarded, local_port, page
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
from lls.http.ui.static import no_such_page, static_files

__all__ = ["add_ui"]


def _routes(ui: web.Application) -> None:
    """Every route guarded (lls.http.ui.guard: why not a middleware), the paths no page
    has included."""
    upload = actions.UPLOAD_LIMIT

    def get(path: str, handler: Handler) -> None:
        ui.router.add_get(path, guarded(handler))

    def post(path: str, handler: Handler) -> None:
        ui.router.add_post(path, guarded(handler))

    get("/", page(pages.overview_page))
    get("/overview/live", pages.overview_live)
    get("/sign-in", signin.sign_in_page)
    post("/sign-in", signin.sign_in)
    post("/sign-out", action(signin.sign_out, admin=False))
    get("/licenses", page(pages.licenses_page))
    get("/licenses/{token}", page(pages.license_page))
    get("/licenses/{token}/history.csv", page(history.history_csv_page))
    post("/licenses/{token}/dissociate", action(actions.dissociate))
    post("/licenses/{token}/unlock", action(actions.unlock))
    get("/sessions", page(pages.sessions_page))
    post("/sessions/{id}/end", action(actions.end_session))
    post("/sessions/borrowed/{id}/end", action(actions.end_borrow))
    get("/pool", page(pages.pool_page))
    post("/pool", action(actions.import_pool, limit=upload))
    get("/usage", page(pages.usage_page))
    post("/usage", action(actions.export_usage))
    get("/offline", page(pages.offline_page))
    post("/offline/activate", action(actions.offline_activate, limit=upload))
    post("/offline/deactivate", action(actions.offline_deactivate, limit=upload))
    post("/offline/{id}/refresh", action(actions.offline_refresh))
    get("/audit", page(pages.audit_page))
    get("/static/{name}", static_files(Path(str(resources.files("lls.http.ui") / "static"))))
    ui.router.add_route("*", "/{tail:.*}", guarded(no_such_page))


def add_ui(app: web.Application, config: Config, *, viewer_token: str | None) -> None:
    """Mount the dashboard on `app` (which holds the admin token and the licensing service)."""
    if not config.ui_enabled:
        return
    ui = web.Application()
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
