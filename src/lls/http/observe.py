"""What the daemon measures about its own requests, cheaply, and how it logs them.

The wrapper around each route's handler adds two `perf_counter` calls, a bisect
into a fixed bucket array and a few integer increments per request; /metrics
turns those plain numbers into text only when it is scraped. A refusal
(`authStatus` Failed or Locked on a client call) is rarer: the client handler
that decided it answers with a `ClientAnswer` carrying the `Refusal` (reason,
token, authContext), and this wrapper counts it by reason and license and logs
one line naming the license by its label (`lls.ops.labels`). Nothing here reads
a response body back, so the order of its fields does not matter.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler

from lls.http.keys import LABELS, LICENSING
from lls.ops.logs import fields

refusals_log = logging.getLogger("lls.refusals")

# Upper bounds of the latency buckets, in seconds (+Inf is the last slot).
LATENCY_BOUNDS_S: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A business refusal as the handler decided it: no body is decoded to learn it."""

    reason: str
    token: str
    known: bool  # the token names a license of the pool (every reason but LICENSE_NOT_FOUND)
    auth_context: str | None


class ClientAnswer(web.Response):
    """A client API answer that carries the refusal it reports (None for a success)."""

    refusal: Refusal | None = None


@dataclass(slots=True)
class RouteStats:
    """Plain counters for one route; only the /metrics renderer turns them into text."""

    endpoint: str
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_S) + 1))
    sum_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    # (reason, license token or None): the token only for licenses of the pool, and only
    # with per-license metrics on, so the count of series stays bounded by the pool.
    denials: dict[tuple[str, str | None], int] = field(default_factory=dict)


class RequestStats:
    """Per-route latency buckets, status counts and refusals by reason (and license)."""

    def __init__(self, *, per_license: bool = True) -> None:
        self.routes: dict[str, RouteStats] = {}
        self.per_license = per_license

    def route(self, endpoint: str) -> RouteStats:
        stats = self.routes.get(endpoint)
        if stats is None:
            stats = RouteStats(endpoint)
            self.routes[endpoint] = stats
        return stats


def observed(handler: Handler, stats: RequestStats, endpoint: str) -> Handler:
    """The outermost wrapper of a route's handler: it sees the final status of each request."""
    route = stats.route(endpoint)

    async def observe(request: web.Request) -> web.StreamResponse:
        start = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # e.g. /admin/* on the client listener: 404
            _record(route, exc.status, time.perf_counter() - start)
            raise
        _record(route, response.status, time.perf_counter() - start)
        if isinstance(response, ClientAnswer) and response.refusal is not None:
            _count_refusal(request, route, response.refusal, stats.per_license)
        return response

    return observe


def _record(route: RouteStats, status: int, elapsed: float) -> None:
    route.buckets[bisect_left(LATENCY_BOUNDS_S, elapsed)] += 1
    route.sum_s += elapsed
    route.statuses[status] = route.statuses.get(status, 0) + 1


def _count_refusal(
    request: web.Request, route: RouteStats, refusal: Refusal, per_license: bool
) -> None:
    key = (refusal.reason, refusal.token if refusal.known and per_license else None)
    route.denials[key] = route.denials.get(key, 0) + 1
    if not refusals_log.isEnabledFor(logging.INFO):
        return  # its fields (a keyed hash of the token among them) only for a line written
    refusals_log.info(
        "refused",
        extra=fields(
            endpoint=route.endpoint,
            reason=refusal.reason,
            license=license_label(request.app, refusal.token),
            authContext=refusal.auth_context,
            remote=request.remote,
        ),
    )


def license_label(app: web.Application, token: str) -> str:
    """How metrics and logs name `token`: its pool id, else its keyed hash (`lls.ops.labels`)."""
    lic = app[LICENSING].reads.license(token)
    if lic is None:  # a guess, or a license gone from the pool: hashed, not remembered
        return app[LABELS].of_token(token, remember=False)
    return app[LABELS].of_token(token, lic.id)


def redacted_path(request: web.Request) -> str:
    """The request path with any `{token}` path segment replaced by the license's label."""
    token = request.match_info.get("token")
    if not token:
        return request.path
    return request.path.replace(token, license_label(request.app, token))


class AccessLogger(AbstractAccessLogger):
    """One structured line per request (off by default), never with a token in clear."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        path = redacted_path(request) if isinstance(request, web.Request) else request.path
        self.logger.info(
            "%s %s %d",
            request.method,
            path,
            response.status,
            extra=fields(
                method=request.method,
                path=path,
                status=response.status,
                duration_ms=round(time * 1000, 3),
                remote=request.remote,
                bytes=response.body_length,
            ),
        )
