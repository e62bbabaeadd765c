"""Signing in and out of the dashboard.

The sign-in form has no session yet, so it is protected against cross-site posts
(login CSRF) by a double-submit token: a random value in a SameSite=Strict cookie
that the form must repeat. Wrong tokens are throttled per address.
"""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from lls.http.ui.auth import UISession, same_token
from lls.http.ui.forms import Form, read_form
from lls.http.ui.guard import SESSION_COOKIE, SIGN_IN_COOKIE, UI_PREFIX, current_session
from lls.http.ui.keys import SESSIONS, STATIC_VERSION, THROTTLE, TOKENS
from lls.http.ui.render import error_page

SIGN_IN_COOKIE_S = 3600


def _next(raw: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if raw and raw.startswith(UI_PREFIX) and "\\" not in raw and not raw.startswith("//"):
        return raw
    return UI_PREFIX


def _cookie(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name,
        value,
        path=UI_PREFIX,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        max_age=max_age,
    )


def _form(
    request: web.Request,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> web.Response:
    nonce = secrets.token_urlsafe(24)
    context: dict[str, Any] = {
        "nonce": nonce,
        "next": _next(request.query.get("next")),
        "error": error,
        "notice": notice,
        "viewer_enabled": request.app[TOKENS].has_viewer,
        "static_v": request.app[STATIC_VERSION],
    }
    response = aiohttp_jinja2.render_template("sign_in.html", request, context, status=status)
    _cookie(response, request, SIGN_IN_COOKIE, nonce, SIGN_IN_COOKIE_S)
    return response


async def sign_in_page(request: web.Request) -> web.StreamResponse:
    if current_session(request) is not None:
        raise web.HTTPSeeOther(_next(request.query.get("next")))
    notice = "Signed out." if request.query.get("bye") else None
    if request.query.get("expired"):
        notice = "Your session ended; sign in again."
    return _form(request, notice=notice)


async def sign_in(request: web.Request) -> web.StreamResponse:
    """Check the token typed in; on success a new session, its cookie, and the page asked for."""
    address = request.remote or "unknown"
    throttle = request.app[THROTTLE]
    wait = throttle.wait_s(address)
    if wait:
        response = _form(
            request,
            error=f"Too many wrong tokens from your address. Try again in {wait} seconds.",
            status=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    form = await read_form(request)
    if not same_token(form.text("sign_in_token"), request.cookies.get(SIGN_IN_COOKIE, "")):
        return error_page(
            request,
            403,
            "This sign-in form did not come from this dashboard (its CSRF token is missing"
            " or wrong). Open the sign-in page again.",
        )
    role = request.app[TOKENS].role_for(form.text("token") or "")
    if role is None:
        throttle.failed(address)
        return _form(request, error="That token is not valid here.", status=401)
    throttle.succeeded(address)
    cookie, _ = request.app[SESSIONS].open(role)
    target = _next(form.text("next"))
    response = web.HTTPSeeOther(target)
    _cookie(response, request, SESSION_COOKIE, cookie)
    response.del_cookie(SIGN_IN_COOKIE, path=UI_PREFIX)
    raise response


async def sign_out(request: web.Request, session: UISession, form: Form) -> web.StreamResponse:
    request.app[SESSIONS].close(request.cookies.get(SESSION_COOKIE))
    response = web.HTTPSeeOther(f"{UI_PREFIX}sign-in?bye=1")
    response.del_cookie(SESSION_COOKIE, path=UI_PREFIX)
    raise response
