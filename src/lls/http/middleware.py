"""The one place errors become responses, and the admin API's checks (http.admin_access).

These wrap each route's handler when it is registered (`http.routes.add_route`)
rather than running as aiohttp middlewares: measured on the load benchmark,
each aiohttp middleware layer cost about 16 µs a request (a third of a bare
handler), a plain wrapper about 1 µs.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from lls.errors import BadRequest, LLSError, Unauthorized
from lls.http.admin_access import admit_admin
from lls.http.observe import redacted_path
from lls.http.schemas import ErrorBody, ProblemBody, encode
from lls.ops.logs import fields

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/admin/"
# Routes under these prefixes are admin routes: the admin listener only, the Host check,
# the token and its throttle. (The dashboard, /ui/, is a sub-application with its own
# sign-in; its guard applies the same listener and Host rules: http.ui.guard.)
ADMIN_PREFIXES = (ADMIN_PREFIX,)
PROBLEM_TYPE = "application/problem+json"
# The port of the admin API's own listener (admin.port), 0 when it shares the client's.
# When set, /admin/* asked on any other port is 404, as if it did not exist, before any
# token check; listeners are told apart by local port (config refuses equal ports).
ADMIN_PORT = web.AppKey("admin_port", int)


def _local_port(request: web.Request) -> int | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        return int(sockname[1])
    return None


def _client_error(error: LLSError) -> web.Response:
    field = error.field if isinstance(error, BadRequest) else None
    body = encode(ErrorBody(error=error.message, code=error.code, field=field))
    response = web.Response(
        body=body, status=error.status, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    if error.retry_after_s is not None:  # 429 throttle, 503 storage: when to try again
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


def _problem(error: LLSError) -> web.Response:
    """RFC 9457 problem details for the admin API."""
    doc = ProblemBody(
        type="about:blank",
        title=error.code.replace("_", " ").capitalize(),
        status=error.status,
        detail=error.message,
        code=error.code,
        field=error.field if isinstance(error, BadRequest) and error.field else None,
    )
    response = web.Response(body=encode(doc), status=error.status, content_type=PROBLEM_TYPE)
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="lls-admin"'
    if error.retry_after_s is not None:  # 429 throttles, 503 storage: when to try again
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


# Input refused before any rule ran (bad, oversized, unparseable) and files a rule refused:
# one line each, no traceback. 401/404/429 are not logged here: the admin throttle audits
# wrong tokens once per episode, and a 429 is the answer to a flood already.
_LOGGED_REFUSALS = frozenset({400, 413, 415, 422})


def _log_refusal(request: web.Request, error: LLSError) -> None:
    log.info(
        "refused %s %s: %s",
        request.method,
        redacted_path(request),
        error.code,
        extra=fields(status=error.status, code=error.code, remote=request.remote),
    )


def guarded(handler: Handler, *, admin: bool) -> Handler:
    """`handler` with errors rendered in its API's shape, and the admin checks in front."""

    async def guard(request: web.Request) -> web.StreamResponse:
        if admin and (port := request.app.get(ADMIN_PORT, 0)) and _local_port(request) != port:
            raise web.HTTPNotFound()
        try:
            if admin:
                await admit_admin(request)
            return await handler(request)
        except LLSError as error:
            if error.status in _LOGGED_REFUSALS:
                _log_refusal(request, error)
            return _problem(error) if admin else _client_error(error)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("unexpected error in %s %s", request.method, redacted_path(request))
            internal = LLSError("internal error; see the server log")
            return _problem(internal) if admin else _client_error(internal)

    return guard
