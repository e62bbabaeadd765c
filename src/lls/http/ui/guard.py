"""What stands in front of every dashboard request: the admin listener, the security headers,
the session, the role and the CSRF token.

The dashboard is a sub-application whose every route is wrapped by `guarded` when it is
added (a catch-all route answers the paths no page has), not an aiohttp middleware: a
sub-application with a middleware makes aiohttp run its middleware machinery for every
request of the whole server, the client API's included — measured with
bench/instructions.py, 27,000 instructions on each licensing call (6 %).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from lls.errors import LLSError
from lls.http.admin_access import host_refusal
from lls.http.ha import NODE
from lls.http.middleware import ADMIN_PORT
from lls.http.ui.auth import UISession, same_token
from lls.http.ui.forms import FORM_LIMIT, Form, read_form
from lls.http.ui.keys import SESSIONS
from lls.http.ui.render import error_page

log = logging.getLogger(__name__)

UI_PREFIX = "/ui/"
STATIC_PREFIX = "/ui/static/"
SESSION_COOKIE = "lls_ui"
SIGN_IN_COOKIE = "lls_ui_sign_in"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}

PageHandler = Callable[[web.Request, UISession], Awaitable[web.StreamResponse]]
ActionHandler = Callable[[web.Request, UISession, Form], Awaitable[web.StreamResponse]]


def local_port(request: web.Request) -> int | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return int(sockname[1])
    return None


def _secure(headers: web.StreamResponse | web.HTTPException, path: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        headers.headers.setdefault(name, value)
    if path.startswith(STATIC_PREFIX):
        # Static files carry a content hash in their URL (?v=…): safe to keep a day.
        headers.headers.setdefault("Cache-Control", "private, max-age=86400")
    else:
        headers.headers["Cache-Control"] = "no-store"


def guarded(handler: Handler) -> Handler:
    """`handler` on the admin listener only (404 elsewhere, as for /admin/*), with the
    security headers on every answer and no error ever shown as a traceback."""

    async def guard(request: web.Request) -> web.StreamResponse:
        port = request.config_dict.get(ADMIN_PORT, 0)
        if port and local_port(request) != port:
            raise web.HTTPNotFound()
        refused = host_refusal(request)  # DNS rebinding: the Host check of the admin API
        if refused is not None:
            refusal = error_page(request, refused.status, refused.message, code=refused.code)
            _secure(refusal, request.path)
            return refusal
        try:
            node = request.config_dict.get(NODE)
            if node is not None:  # a standby's memory is not the database's: no dashboard there
                node.refuse_unless_leading()
            response = await handler(request)
        except web.HTTPException as exc:
            _secure(exc, request.path)
            raise
        except LLSError as error:
            response = error_page(request, error.status, error.message, code=error.code)
            if error.retry_after_s is not None:
                response.headers["Retry-After"] = str(error.retry_after_s)
        except Exception:
            log.exception("unexpected error in the dashboard (%s %s)", request.method, request.path)
            response = error_page(request, 500, "Internal error; see the server log.")
        _secure(response, request.path)
        return response

    return guard


def current_session(request: web.Request, *, touch: bool = True) -> UISession | None:
    """The signed-in session of this browser, if any."""
    return request.app[SESSIONS].find(request.cookies.get(SESSION_COOKIE), touch=touch)


def sign_in_url(request: web.Request) -> str:
    wanted = request.path_qs if request.method == "GET" else UI_PREFIX
    return f"{UI_PREFIX}sign-in?next={quote(wanted, safe='')}"


def page(handler: PageHandler, *, touch: bool = True) -> Handler:
    """A page that needs a session: without one, a redirect to sign-in and no data."""

    async def run(request: web.Request) -> web.StreamResponse:
        session = current_session(request, touch=touch)
        if session is None:
            raise web.HTTPSeeOther(sign_in_url(request))
        return await handler(request, session)

    return run


def action(handler: ActionHandler, *, admin: bool = True, limit: int = FORM_LIMIT) -> Handler:
    """A state-changing form: a session (403 without), the admin role unless `admin` is
    False (403 for a viewer, before the body is read), and its session's CSRF token (403)."""

    async def run(request: web.Request) -> web.StreamResponse:
        session = current_session(request)
        if session is None:
            return error_page(
                request, 403, "You are not signed in, or your session ended: sign in again."
            )
        if admin and not session.can_change:
            return error_page(
                request, 403, "Signed in with the viewer token: you can look, not change."
            )
        form = await read_form(request, limit)
        if not same_token(form.text("csrf"), session.csrf):
            return error_page(
                request,
                403,
                "This form did not come from this dashboard session (its CSRF token is"
                " missing or wrong). Reload the page and try again.",
            )
        return await handler(request, session, form)

    return run
