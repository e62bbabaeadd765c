"""Unauthenticated operations endpoints: health, readiness, Prometheus metrics, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lls.domain.service import Licensing
from lls.http.keys import LICENSING

METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
OPENAPI_BODY = web.AppKey("openapi_body", bytes)


class LicensingCollector(Collector):
    """Figures read from the in-memory state at scrape time: nothing on the request path."""

    def __init__(self, licensing: Licensing) -> None:
        self._licensing = licensing

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lic = self._licensing
        now = lic.clock.now()
        live = sum(1 for s in lic.by_id.values() if s.expires_at > now)
        seats = sum(s.license.seats for s in lic.licenses.values())
        yield GaugeMetricFamily(
            "lls_licenses", "Licenses in the imported pool", value=len(lic.licenses)
        )
        yield GaugeMetricFamily("lls_live_sessions", "Live license sessions", value=live)
        yield GaugeMetricFamily("lls_seats_total", "Seats granted by the pool", value=seats)
        yield GaugeMetricFamily("lls_seats_used", "Seats held by live sessions", value=live)
        pool = lic.pool
        yield GaugeMetricFamily(
            "lls_pool_seq", "Seq of the imported pool", value=pool.seq if pool else 0
        )
        yield GaugeMetricFamily(
            "lls_pool_expiry_timestamp_seconds",
            "When the imported pool expires",
            value=pool.exp if pool else 0,
        )
        yield GaugeMetricFamily(
            "lls_clock_tampered",
            "1 while the clock is below the trusted floor",
            value=int(lic.tampered),
        )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    licensing = request.app[LICENSING]
    problems: list[str] = []
    if licensing.pool is None:
        problems.append("no pool imported")
    elif licensing.pool_exp is not None and licensing.clock.now() >= licensing.pool_exp:
        problems.append("the pool has expired")
    if licensing.tampered:
        problems.append("the clock is below the trusted floor")
    status = 503 if problems else 200
    return web.json_response({"ready": not problems, "problems": problems}, status=status)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def openapi(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[OPENAPI_BODY], headers={"Content-Type": "application/json"}
    )


def openapi_document() -> bytes:
    return (resources.files("lls.http") / "openapi.json").read_bytes()


def add_routes(app: web.Application, licensing: Licensing) -> None:
    registry = CollectorRegistry()
    registry.register(LicensingCollector(licensing))
    app[METRICS_REGISTRY] = registry
    app[OPENAPI_BODY] = openapi_document()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
