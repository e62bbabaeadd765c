"""`GET /metrics`: licensing state and request figures in Prometheus text, rendered off the loop.

On the event loop a scrape only takes a snapshot of plain numbers (the set of
licenses that changed, the request counters, the pool and clock facts: O(1) in
the number of licenses); the text is written on a thread of its own, where the
per-license rows come from `LicenseSeries`' chunk cache. So /healthz and the
licensing calls keep being answered while a large instance is scraped.

Licenses are named by their label (`lls.ops.labels`); per-license series exist
only for licenses of the imported pool, and `metrics.per_license: false` keeps
only the aggregates (the same metric names without the `license` label).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web

from lls.domain.models import Pool
from lls.domain.seat_queue import QueueStats
from lls.domain.service import Licensing
from lls.domain.state import LicenseState
from lls.http.license_series import LicenseSeries, Totals
from lls.http.observe import LATENCY_BOUNDS_S, RequestStats
from lls.ops import exposition as text
from lls.ops.labels import LicenseLabels

log = logging.getLogger(__name__)

# Scrapes arriving while this many renders are queued share the newest one instead of
# queueing more: a flood of requests to an endpoint without login stays bounded work.
MAX_PENDING = 2
_LE = (*(repr(bound) for bound in LATENCY_BOUNDS_S), "+Inf")


@dataclass(frozen=True, slots=True)
class _Route:
    endpoint: str
    buckets: list[int]
    sum_s: float
    statuses: dict[int, int]
    denials: dict[tuple[str, str | None], int]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What a render needs, taken on the event loop."""

    licenses: Mapping[str, LicenseState]
    pool: Pool | None
    changed: set[str]
    now: float
    tampered: bool
    floor: float
    last_export: float | None
    writable: bool
    routes: list[_Route]
    queues: dict[str, QueueStats]  # licenses that ever had waiters (`waitSeconds`)
    leading: bool  # this node serves licensing calls (a standby of a pair does not)


class MetricsExporter:
    """Renders /metrics on one thread of its own, one scrape after another."""

    def __init__(
        self,
        licensing: Licensing,
        stats: RequestStats,
        labels: LicenseLabels,
        *,
        per_license: bool = True,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self._licensing = licensing
        self._leading = leading  # a single node always leads; a pair's node asks its store
        self._stats = stats
        self._labels = labels
        self._series = LicenseSeries(labels, per_license=per_license)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lls-metrics")
        self._pending: list[asyncio.Future[bytes]] = []
        self._last_render_s = 0.0
        self._warm: asyncio.Task[bytes] | None = None

    async def scrape(self) -> bytes:
        """The body of one scrape: the state as of (or after) this call."""
        if len(self._pending) >= MAX_PENDING:
            return await asyncio.shield(self._pending[-1])
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._render, self._snapshot())
        self._pending.append(future)
        future.add_done_callback(self._pending.remove)
        return await asyncio.shield(future)

    async def gzipped(self, body: bytes) -> bytes:
        """`body` gzipped (level 1: 21 MB of license series become 1.4 MB in 36 ms), on
        the metrics thread, so the event loop never compresses."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(gzip.compress, body, 1))

    def warm(self) -> None:
        """Render once in the background (after start: the first one renders every license)."""
        self._warm = asyncio.ensure_future(self.scrape())
        self._warm.add_done_callback(_log_failure)

    async def close(self, app: web.Application | None = None) -> None:
        """Stop the metrics thread (a render in progress finishes on its own)."""
        if self._warm is not None and not self._warm.done():
            self._warm.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warm
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _snapshot(self) -> _Snapshot:
        view = self._licensing.reads.metrics_view()
        licenses = view.licenses
        routes = []
        for route in list(self._stats.routes.values()):
            for key in [k for k in route.denials if k[1] is not None and k[1] not in licenses]:
                del route.denials[key]  # its license left the pool: so do its series
            routes.append(
                _Route(
                    route.endpoint,
                    list(route.buckets),
                    route.sum_s,
                    dict(route.statuses),
                    dict(route.denials),
                )
            )
        return _Snapshot(
            licenses=licenses,
            pool=view.pool,
            changed=view.changed,
            now=view.now,
            tampered=view.tampered,
            floor=view.floor,
            last_export=view.last_export,
            writable=view.writable,
            routes=routes,
            queues={t: q for t, q in view.queues.items() if t in licenses},
            leading=self._leading(),
        )

    def _render(self, snap: _Snapshot) -> bytes:
        """On the metrics thread: bring the license chunks up to date and write the text."""
        start = time.perf_counter()
        try:
            totals = self._series.update(snap.licenses, snap.pool, snap.changed, snap.now)
        except Exception:
            self._series.invalidate()  # the changes it was given are lost: render all next time
            raise
        parts: list[bytes] = [self._aggregates(snap, totals).encode()]
        if self._series.per_license:
            parts.extend(self._per_license())
        else:
            parts.append(_feature_totals(totals).encode())
        parts.append("".join(self._requests(snap)).encode())
        parts.append("".join(self._queues(snap)).encode())
        parts.append(_pool_and_clock(snap, self._last_render_s).encode())
        self._last_render_s = time.perf_counter() - start
        return b"".join(parts)

    def _aggregates(self, snap: _Snapshot, totals: Totals) -> str:
        return "".join(
            (
                text.gauge("lls_licenses", "Licenses in the imported pool", totals.licenses),
                text.gauge(
                    "lls_live_sessions",
                    "License sessions held (until the sweep ends those past their window)",
                    totals.sessions,
                ),
                text.gauge(
                    "lls_offline_activations",
                    "Offline activations whose lease has not ended (each holds a seat)",
                    totals.offline,
                ),
                text.gauge(
                    "lls_seats", "Seats the imported pool grants (all licenses)", totals.seats
                ),
                text.gauge("lls_seats_used", "Seats held (all licenses)", totals.used),
                text.gauge(
                    "lls_seats_free",
                    "Seats free (all licenses)",
                    max(0, totals.seats - totals.used),
                ),
            )
        )

    def _per_license(self) -> Iterator[bytes]:
        series = self._series
        yield text.header("lls_license_seats", "gauge", "Seats a license grants").encode()
        yield from series.rows("seats")
        yield text.header(
            "lls_license_seats_used",
            "gauge",
            "Seats of a license held by sessions and live offline activations",
        ).encode()
        yield from series.rows("used")
        yield text.header(
            "lls_feature_units", "gauge", "Units a floating or consumption feature grants"
        ).encode()
        yield from series.rows("units")
        yield text.header(
            "lls_feature_units_used",
            "gauge",
            "Floating units checked out now, or consumption units consumed",
        ).encode()
        yield from series.rows("units_used")

    def _requests(self, snap: _Snapshot) -> Iterator[str]:
        yield text.header(
            "lls_denials_total",
            "counter",
            "Client calls refused (authStatus Failed or Locked), by route, reason and license;"
            " unknown tokens are counted without a license label",
        )
        for route in snap.routes:
            for (reason, token), count in route.denials.items():
                pairs = [("endpoint", route.endpoint), ("reason", reason)]
                state = snap.licenses.get(token) if token is not None else None
                if state is not None and token is not None:
                    pairs.append(("license", self._labels.of_token(token, state.license.id)))
                elif token is not None:
                    continue  # left the pool since the snapshot was taken
                yield f"lls_denials_total{text.labels(pairs)} {count}\n"
        yield text.header(
            "lls_http_request_duration_seconds", "histogram", "Time to answer a request, by route"
        )
        for route in snap.routes:
            where = f'endpoint="{text.escape(route.endpoint)}"'
            cumulative = 0
            bucket = "lls_http_request_duration_seconds_bucket"
            for le, count in zip(_LE, route.buckets, strict=True):
                cumulative += count
                yield f'{bucket}{{{where},le="{le}"}} {cumulative}\n'
            yield f"lls_http_request_duration_seconds_sum{{{where}}} {text.number(route.sum_s)}\n"
            yield f"lls_http_request_duration_seconds_count{{{where}}} {cumulative}\n"
        yield text.header(
            "lls_http_requests_total", "counter", "Requests answered, by route and status"
        )
        for route in snap.routes:
            where = f'endpoint="{text.escape(route.endpoint)}"'
            for status, count in route.statuses.items():
                yield f'lls_http_requests_total{{{where},status="{status}"}} {count}\n'

    def _queues(self, snap: _Snapshot) -> Iterator[str]:
        """The queue for the last seat, per license (or summed with per_license off)."""
        rows: dict[str, QueueStats] = {}
        for token, stats in snap.queues.items():
            state = snap.licenses.get(token)
            if state is None:
                continue
            label = (
                self._labels.of_token(token, state.license.id) if self._series.per_license else ""
            )
            into = rows.setdefault(label, QueueStats())
            into.waiting += stats.waiting
            into.served += stats.served
            into.served_wait_s += stats.served_wait_s
            into.timed_out += stats.timed_out
            into.cancelled += stats.cancelled
            into.refused_full += stats.refused_full

        def where(label: str, *more: tuple[str, str]) -> str:
            pairs = [("license", label)] if label else []
            return text.labels([*pairs, *more])

        yield text.header("lls_queue_waiting", "gauge", "Activates waiting for a seat now")
        for label, q in rows.items():
            yield f"lls_queue_waiting{where(label)} {q.waiting}\n"
        yield text.header(
            "lls_queue_wait_seconds", "summary", "Time waited by activates the queue answered"
        )
        for label, q in rows.items():
            yield f"lls_queue_wait_seconds_sum{where(label)} {text.number(q.served_wait_s)}\n"
            yield f"lls_queue_wait_seconds_count{where(label)} {q.served}\n"
        yield text.header(
            "lls_queue_left_total",
            "counter",
            "Waiters that got no answer from the queue, by why: timed_out, disconnected, full",
        )
        for label, q in rows.items():
            for why, count in (
                ("timed_out", q.timed_out),
                ("disconnected", q.cancelled),
                ("full", q.refused_full),
            ):
                yield f"lls_queue_left_total{where(label, ('why', why))} {count}\n"


def _feature_totals(totals: Totals) -> str:
    """With per-license series off: feature units summed over licenses, by feature."""
    units = [text.header("lls_feature_units", "gauge", "Units features grant, all licenses")]
    used = [
        text.header(
            "lls_feature_units_used",
            "gauge",
            "Floating units checked out now, or consumption units consumed, all licenses",
        )
    ]
    for (code, kind), (total, in_use) in sorted(totals.features.items()):
        where = text.labels([("feature", code), ("type", kind)])
        units.append(f"lls_feature_units{where} {total}\n")
        used.append(f"lls_feature_units_used{where} {in_use}\n")
    return "".join(units + used)


def _pool_and_clock(snap: _Snapshot, last_render_s: float) -> str:
    pool, now = snap.pool, snap.now
    return "".join(
        (
            text.gauge(
                "lls_pool_seq", "Seq of the imported pool (0: none)", pool.seq if pool else 0
            ),
            text.gauge(
                "lls_pool_issued_timestamp_seconds",
                "When the vendor issued the imported pool",
                pool.iat if pool else 0,
            ),
            text.gauge(
                "lls_pool_age_seconds",
                "Seconds since the vendor issued the imported pool",
                now - pool.iat if pool else 0,
            ),
            text.gauge(
                "lls_pool_expiry_timestamp_seconds",
                "When the imported pool expires",
                pool.exp if pool else 0,
            ),
            text.gauge(
                "lls_pool_time_to_expiry_seconds",
                "Seconds until the imported pool expires (negative once expired)",
                pool.exp - now if pool else 0,
            ),
            text.gauge(
                "lls_clock_tampered",
                "1 while the clock is more than 5 minutes below the trusted floor",
                int(snap.tampered),
            ),
            text.gauge(
                "lls_clock_floor_timestamp_seconds",
                "The trusted-time floor (newest time seen)",
                snap.floor,
            ),
            text.gauge(
                "lls_storage_writable",
                "0 from a failed database write until writes are taken again, else 1",
                int(snap.writable),
            ),
            text.gauge(
                "lls_usage_export_timestamp_seconds",
                "When the last usage file was exported (0: never)",
                snap.last_export or 0,
            ),
            text.gauge(
                "lls_node_leading",
                "1 while this node serves licensing calls (a single node, or the leader of a"
                " pair), 0 while it stands by",
                int(snap.leading),
            ),
            text.gauge(
                "lls_metrics_render_seconds",
                "How long the previous /metrics render took, off the event loop",
                last_render_s,
            ),
        )
    )


def _log_failure(task: asyncio.Future[bytes]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("rendering /metrics failed", exc_info=task.exception())
