"""What the daemon measures about its own requests, cheaply, and how it logs them.

The wrapper around each route's handler adds two `perf_counter` calls, a bisect into a fixed bucket
array and a few integer increments per request; the Prometheus collector turns
those plain numbers into histograms only when /metrics is scraped. A refusal
(`authStatus` other than Success on a client call) is rarer: the handler, which
holds the outcome, answers it as a `RefusalResponse` naming the reason (the body
may not carry it, e.g. in strict vendor mode; telling it by the response's type
costs nothing on a success); it is counted by reason and logged as one line,
the license named by `redact_token` only.
"""

from __future__ import annotations

import contextlib
import logging
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from lls.ops.logs import fields, redact_token

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
CLIENT_PREFIX = "/licensing/"


class RefusalResponse(web.Response):
    """A client call's 200 answer that refuses; `refusal_reason` is counted and logged."""

    refusal_reason: str = ""


class _Caller(msgspec.Struct):
    licenseToken: str | None = None
    authContext: str | None = None


@dataclass(slots=True)
class RouteStats:
    """Plain counters for one route; only the collector turns them into metrics."""

    endpoint: str
    client_call: bool
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_S) + 1))
    sum_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    denials: dict[str, int] = field(default_factory=dict)


class RequestStats:
    """Per-route latency buckets, status counts and refusals by reason."""

    def __init__(self) -> None:
        self.routes: dict[str, RouteStats] = {}

    def route(self, endpoint: str) -> RouteStats:
        stats = self.routes.get(endpoint)
        if stats is None:
            stats = RouteStats(endpoint, endpoint.startswith(CLIENT_PREFIX))
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
        elapsed = time.perf_counter() - start
        status = response.status
        _record(route, status, elapsed)
        if type(response) is RefusalResponse and route.client_call:
            await _note_refusal(request, route, response.refusal_reason)
        return response

    return observe


def _record(route: RouteStats, status: int, elapsed: float) -> None:
    route.buckets[bisect_left(LATENCY_BOUNDS_S, elapsed)] += 1
    route.sum_s += elapsed
    route.statuses[status] = route.statuses.get(status, 0) + 1


async def _note_refusal(request: web.Request, route: RouteStats, reason: str) -> None:
    """Count and log one refusal; the request body was read (and cached) by the handler."""
    route.denials[reason] = route.denials.get(reason, 0) + 1
    caller = _Caller()
    with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
        caller = msgspec.json.decode(await request.read(), type=_Caller)
    refusals_log.info(
        "refused",
        extra=fields(
            endpoint=route.endpoint,
            reason=reason,
            license=redact_token(caller.licenseToken) if caller.licenseToken else None,
            authContext=caller.authContext,
            remote=request.remote,
        ),
    )


class RequestCollector(Collector):
    """Exports `RequestStats` at scrape time."""

    def __init__(self, stats: RequestStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        latency = HistogramMetricFamily(
            "lls_http_request_duration_seconds",
            "Time to answer a request, by route",
            labels=["endpoint"],
        )
        requests = CounterMetricFamily(
            "lls_http_requests",
            "Requests answered, by route and status",
            labels=["endpoint", "status"],
        )
        denials = CounterMetricFamily(
            "lls_denials",
            "Client calls refused, by route and reason",
            labels=["endpoint", "reason"],
        )
        for route in list(self._stats.routes.values()):
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*LATENCY_BOUNDS_S, float("inf")), route.buckets, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            latency.add_metric([route.endpoint], buckets, route.sum_s)
            for status, count in list(route.statuses.items()):
                requests.add_metric([route.endpoint, str(status)], count)
            for reason, count in list(route.denials.items()):
                denials.add_metric([route.endpoint, reason], count)
        yield latency
        yield requests
        yield denials


def redacted_path(request: web.Request) -> str:
    """The request path with any `{token}` path segment replaced by its redacted form."""
    token = request.match_info.get("token")
    if not token:
        return request.path
    return request.path.replace(token, redact_token(token))


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
