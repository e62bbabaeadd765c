"""Unauthenticated operations endpoints: health, readiness, Prometheus metrics, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lls.domain.service import Licensing
from lls.http.keys import LICENSING
from lls.http.observe import RequestCollector, RequestStats
from lls.http.routes import add_route
from lls.ops.logs import redact_token

DAY_S = 86_400

METRICS_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
OPENAPI_BODY = web.AppKey("openapi_body", bytes)


class LicensingCollector(Collector):
    """Figures read from the in-memory state at scrape time: nothing on the request path.

    Licenses are labelled `license="sha256:<12 hex>"` (`redact_token`): tokens are
    secrets, and a metrics endpoint needs no token to read.
    """

    def __init__(self, licensing: Licensing) -> None:
        self._licensing = licensing
        self._labels: dict[str, str] = {}

    def _label(self, token: str) -> str:
        label = self._labels.get(token)
        if label is None:
            label = self._labels[token] = redact_token(token)
        return label

    def collect(self) -> Iterator[Metric]:
        lic = self._licensing
        now = lic.clock.now()
        seats = GaugeMetricFamily("lls_license_seats", "Seats a license grants", labels=["license"])
        used = GaugeMetricFamily(
            "lls_license_seats_used",
            "Seats held by live sessions and live offline activations",
            labels=["license"],
        )
        free = GaugeMetricFamily("lls_license_seats_free", "Seats free", labels=["license"])
        units = GaugeMetricFamily(
            "lls_feature_units",
            "Units a floating or consumption feature grants",
            labels=["license", "feature", "type"],
        )
        units_used = GaugeMetricFamily(
            "lls_feature_units_used",
            "Floating units checked out now, or consumption units consumed",
            labels=["license", "feature", "type"],
        )
        live = total_seats = total_used = 0
        for token, state in list(lic.licenses.items()):
            label = self._label(token)
            sessions = sum(1 for s in state.sessions.values() if s.expires_at > now)
            taken = sessions + sum(1 for a in list(state.offline.values()) if a.live(now))
            live += sessions
            total_seats += state.license.seats
            total_used += taken
            seats.add_metric([label], state.license.seats)
            used.add_metric([label], taken)
            free.add_metric([label], max(0, state.license.seats - taken))
            for view in state.features_view:
                if view.total is None or view.available is None:
                    continue
                units.add_metric([label, view.code, view.type], view.total)
                units_used.add_metric([label, view.code, view.type], view.total - view.available)
        yield GaugeMetricFamily(
            "lls_licenses", "Licenses in the imported pool", value=len(lic.licenses)
        )
        yield GaugeMetricFamily("lls_live_sessions", "Live license sessions", value=live)
        yield GaugeMetricFamily("lls_seats_total", "Seats granted by the pool", value=total_seats)
        yield GaugeMetricFamily("lls_seats_used", "Seats held (all licenses)", value=total_used)
        yield GaugeMetricFamily(
            "lls_seats_free", "Seats free (all licenses)", value=max(0, total_seats - total_used)
        )
        yield from (seats, used, free, units, units_used)
        pool = lic.pool
        yield GaugeMetricFamily(
            "lls_pool_seq", "Seq of the imported pool", value=pool.seq if pool else 0
        )
        yield GaugeMetricFamily(
            "lls_pool_issued_timestamp_seconds",
            "When the vendor issued the imported pool",
            value=pool.iat if pool else 0,
        )
        yield GaugeMetricFamily(
            "lls_pool_age_seconds",
            "Seconds since the vendor issued the imported pool",
            value=now - pool.iat if pool else 0,
        )
        yield GaugeMetricFamily(
            "lls_pool_expiry_timestamp_seconds",
            "When the imported pool expires",
            value=pool.exp if pool else 0,
        )
        yield GaugeMetricFamily(
            "lls_pool_days_to_expiry",
            "Days until the imported pool expires (negative once expired)",
            value=(pool.exp - now) / DAY_S if pool else 0,
        )
        yield GaugeMetricFamily(
            "lls_clock_tampered",
            "1 while the clock is below the trusted floor",
            value=int(lic.tampered),
        )
        yield GaugeMetricFamily(
            "lls_clock_floor_timestamp_seconds",
            "The trusted-time floor (newest time seen)",
            value=lic.floor,
        )
        yield GaugeMetricFamily(
            "lls_storage_writable",
            "0 from a failed database write until writes are taken again, else 1",
            value=int(lic.store.writable),
        )
        exported = getattr(lic, "last_usage_export", None)
        yield GaugeMetricFamily(
            "lls_usage_export_timestamp_seconds",
            "When the last usage file was exported (0: none since the start)",
            value=float(exported) if exported else 0.0,
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
    if not licensing.store.writable:
        problems.append("the database refuses writes (disk full or I/O error); reads still answer")
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


def add_routes(
    app: web.Application, licensing: Licensing, stats: RequestStats | None = None
) -> None:
    registry = CollectorRegistry()
    registry.register(LicensingCollector(licensing))
    if stats is not None:
        registry.register(RequestCollector(stats))
    app[METRICS_REGISTRY] = registry
    app[OPENAPI_BODY] = openapi_document()
    add_shared_routes(app)


def add_shared_routes(app: web.Application) -> None:
    """The ops routes alone, for a second listener's app that shares the first one's items."""
    add_route(app, "GET", "/healthz", healthz)
    add_route(app, "GET", "/readyz", readyz)
    add_route(app, "GET", "/metrics", metrics)
    add_route(app, "GET", "/openapi.json", openapi)
