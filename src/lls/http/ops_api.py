"""Unauthenticated operations endpoints: health, readiness, Prometheus metrics, OpenAPI."""

from __future__ import annotations

from aiohttp import web

from lls.domain.service import Licensing
from lls.http.ha import LEADER, NODE
from lls.http.keys import LABELS, LICENSING
from lls.http.metrics import MetricsExporter
from lls.http.observe import RequestStats
from lls.http.routes import add_route
from lls.ops.exposition import CONTENT_TYPE

METRICS = web.AppKey("metrics", MetricsExporter)
OPENAPI_BODY = web.AppKey("openapi_body", bytes)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    problems = request.app[LICENSING].reads.ready()
    node = request.app.get(NODE)
    if node is None:
        status = 503 if problems else 200
        return web.json_response({"ready": not problems, "problems": problems}, status=status)
    # A node of a high-availability pair: only the leader is ready (the load balancer sends
    # clients to it); a standby names the leader. The store's refusal is the role itself.
    role = node.role
    if role != LEADER:
        problems = ["this node is a standby"]
    doc = {"ready": not problems, "role": role, "leader": node.leader_url, "problems": problems}
    return web.json_response(doc, status=503 if problems else 200)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, rendered on the metrics thread (the event loop only takes a snapshot);
    gzipped there when the scraper accepts it, as Prometheus does."""
    exporter = request.app[METRICS]
    body = await exporter.scrape()
    headers = {"Content-Type": CONTENT_TYPE, "Vary": "Accept-Encoding"}
    if accepts_gzip(request.headers.get("Accept-Encoding", "")):
        body = await exporter.gzipped(body)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


def accepts_gzip(accept_encoding: str) -> bool:
    """`gzip` is among the codings, and not refused with `q=0` (RFC 9110 §12.5.3)."""
    for item in accept_encoding.split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if coding.lower() != "gzip":
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


async def openapi(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[OPENAPI_BODY], headers={"Content-Type": "application/json"}
    )


def openapi_document() -> bytes:
    """Hand-kept paths with the schemas generated from the structs (http.openapi)."""
    from lls.http.openapi import build_document

    return build_document()


def add_routes(
    app: web.Application, licensing: Licensing, stats: RequestStats, *, per_license: bool = True
) -> None:
    node = app.get(NODE)
    leading = (lambda: node.leading) if node is not None else (lambda: True)
    exporter = MetricsExporter(
        licensing, stats, app[LABELS], per_license=per_license, leading=leading
    )
    app[METRICS] = exporter
    app.on_cleanup.append(exporter.close)
    app[OPENAPI_BODY] = openapi_document()
    add_shared_routes(app)


def add_shared_routes(app: web.Application) -> None:
    """The ops routes alone, for a second listener's app that shares the first one's items."""
    add_route(app, "GET", "/healthz", healthz)
    add_route(app, "GET", "/readyz", readyz)
    add_route(app, "GET", "/metrics", metrics)
    add_route(app, "GET", "/openapi.json", openapi)
