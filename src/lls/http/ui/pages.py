"""The dashboard's pages (GET): each reads the read model and renders one template.

Nothing here changes state; every figure comes from `lls.domain.views` and
`lls.domain.overview`, the rows of the admin API's own documents where one exists
(so a field the admin API gains, such as a session's `clientAddress`, shows here too).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lls.domain.borrowing import borrowed_seats
from lls.domain.license_index import (
    LICENSE_SORTS,
    LicenseIndex,
    LicenseQuery,
    list_licenses,
)
from lls.domain.overview import EventFilter, overview
from lls.domain.pages import parse_order
from lls.domain.policy_view import LicenseUse, license_use
from lls.domain.service import Licensing
from lls.domain.state import LicenseState
from lls.domain.views import (
    CONDITIONS,
    LICENSE_TYPES,
    OFFLINE_SORTS,
    SESSION_SORTS,
    SessionQuery,
    condition,
    license_detail,
    list_offline,
    list_sessions,
    seats_in_use,
)
from lls.errors import NotFound
from lls.http.admin_docs import session_doc
from lls.http.keys import LICENSING
from lls.http.offline_api import activation_doc
from lls.http.ui.audit_scan import EVENT_TYPES, scan_events
from lls.http.ui.auth import UISession
from lls.http.ui.guard import current_session
from lls.http.ui.history import history_view
from lls.http.ui.keys import INDEX
from lls.http.ui.render import render_page

PAGE_SIZE = 50
HISTORY_ROWS = 50  # pool imports and usage files listed, newest first
TIMELINE_SIZE = 20
# The license page reads this many of the newest audit events for its timeline (the store
# cannot select by license yet; phase 2 adds that query): enough for a day of a busy site.
TIMELINE_BUDGET = 2000


def _licensing(request: web.Request) -> Licensing:
    return request.config_dict[LICENSING]


async def _index(request: web.Request) -> LicenseIndex:
    """The license index of the current pool (shared with the admin API's list)."""
    return await request.app[INDEX].current(_licensing(request))


def _client_columns(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """Show the client columns once session documents carry them (i12b adds them)."""
    return {
        "with_address": any("clientAddress" in r["doc"] for r in rows),
        "with_info": any("clientInfo" in r["doc"] for r in rows),
    }


async def _overview_context(request: web.Request) -> dict[str, Any]:
    licensing = _licensing(request)
    now = licensing.now()
    denied = licensing.reads.denials_today()
    ov = overview(licensing.reads.view(), await _index(request), now, denials_today=denied)
    return {"ov": ov, "now": now}


async def overview_page(request: web.Request, session: UISession) -> web.StreamResponse:
    return render_page(
        request, "overview.html", session, "overview", await _overview_context(request)
    )


async def overview_live(request: web.Request) -> web.StreamResponse:
    """The overview's figures alone, for the page's polling script; polling is not activity,
    and without a session the answer is 401 with no data."""
    session = current_session(request, touch=False)
    if session is None:
        return web.Response(status=401, text="sign in again", content_type="text/plain")
    context = await _overview_context(request)
    return render_page(request, "_overview_live.html", session, "overview", context)


async def licenses_page(request: web.Request, session: UISession) -> web.StreamResponse:
    query = LicenseQuery.from_params(request.query, default_limit=PAGE_SIZE)
    licensing = _licensing(request)
    now = licensing.now()
    page = list_licenses(await _index(request), query, now)
    rows = [
        {"state": s, "condition": condition(s, now), "used": seats_in_use(s, now)}
        for s in page.items
    ]
    context = {
        "query": query,
        "page": page,
        "rows": rows,
        "now": now,
        "types": LICENSE_TYPES,
        "conditions": CONDITIONS,
        "sorts": LICENSE_SORTS,
    }
    return render_page(request, "licenses.html", session, "licenses", context)


async def license_page(request: web.Request, session: UISession) -> web.StreamResponse:
    token = request.match_info["token"]
    licensing = _licensing(request)
    now = licensing.now()
    detail = license_detail(licensing.reads.view(), token, now)
    if detail is None:
        raise NotFound("There is no license with this token in the current pool.")
    timeline = await scan_events(
        licensing,
        EventFilter(license=token),
        before=None,
        page=TIMELINE_SIZE,
        budget=TIMELINE_BUDGET,
    )
    rows: list[dict[str, Any]] = [{"s": s, "doc": session_doc(s)} for s in detail.sessions]
    history = await history_view(licensing, detail.state.license, request.query, now)
    context = {
        "history": history,
        "d": detail,
        "lic": detail.state.license,
        "rows": rows,
        **_client_columns(rows),
        "scan": timeline,
        "on_license": True,
        "now": now,
        "policy": _policy_use(licensing, detail.state, now),
    }
    return render_page(request, "license.html", session, "licenses", context)


def _policy_use(licensing: Licensing, state: LicenseState, now: float) -> LicenseUse | None:
    """What the seat policy keeps on this license and what each group holds (None: no rule)."""
    compiled = licensing.reads.view().policy.compiled
    return license_use(compiled, state, now) if compiled is not None else None


async def sessions_page(request: web.Request, session: UISession) -> web.StreamResponse:
    query = SessionQuery.from_params(
        request.query, default_limit=PAGE_SIZE, default_descending=True
    )
    licensing = _licensing(request)
    now = licensing.now()
    page = list_sessions(licensing.reads.view().by_id.values(), query, now)
    rows: list[dict[str, Any]] = [{"s": s, "doc": session_doc(s)} for s in page.items]
    borrowed = sorted(
        (
            a
            for a in borrowed_seats(licensing.reads.view().offline_by_id, now)
            if (not query.license or a.license == query.license)
            and (
                not query.search
                or query.search in a.auth_context
                or a.license.startswith(query.search)
            )
        ),
        key=lambda a: (a.lease_expires_at, a.id),
    )[: query.order.limit]
    context = {
        "query": query,
        "order": query.order,
        "page": page,
        "rows": rows,
        "borrowed": borrowed,
        "now": now,
        "sorts": SESSION_SORTS,
        **_client_columns(rows),
    }
    return render_page(request, "sessions.html", session, "sessions", context)


async def pool_page(request: web.Request, session: UISession) -> web.StreamResponse:
    return await render_pool(request, session)


async def render_pool(
    request: web.Request,
    session: UISession,
    *,
    refusal: tuple[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The pool page, with a refused upload's reason (message, code) when there was one."""
    licensing = _licensing(request)
    shown = licensing.reads.status()
    context = {
        "pool": shown.pool,
        "imported_at": shown.pool_imported_at,
        "index": await _index(request),
        "now": licensing.now(),
        "refusal": refusal,
        "imports": await licensing.reads.pool_imports(HISTORY_ROWS),
    }
    return render_page(request, "pool.html", session, "pool", context, status=status)


async def usage_page(request: web.Request, session: UISession) -> web.StreamResponse:
    licensing = _licensing(request)
    head_id, _ = await licensing.reads.chain_head()
    status = licensing.reads.status()
    context = {
        "files": await licensing.reads.usage_files(HISTORY_ROWS),
        "usage_seq": status.usage_seq,
        "acked_seq": status.pool.ack_usage_seq if status.pool else 0,
        "last_export": status.last_usage_export,
        "pending_events": max(0, head_id - status.ack_event_id),
        "now": licensing.now(),
    }
    return render_page(request, "usage.html", session, "usage", context)


async def offline_page(request: web.Request, session: UISession) -> web.StreamResponse:
    return await render_offline(request, session)


async def render_offline(
    request: web.Request,
    session: UISession,
    *,
    refusal: tuple[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The offline page, with a refused token's reason (message, code) when there was one."""
    licensing = _licensing(request)
    now = licensing.now()
    order = parse_order(request.query, OFFLINE_SORTS, default_sort="lease", default_limit=PAGE_SIZE)
    live_only = request.query.get("show") != "all"
    page = list_offline(
        licensing.reads.view().offline_by_id.values(), order, now, live_only=live_only
    )
    context = {
        "page": page,
        "order": order,
        "rows": [{"a": a, "doc": activation_doc(a, now)} for a in page.items],
        "live_only": live_only,
        "now": now,
        "refusal": refusal,
        "sorts": OFFLINE_SORTS,
    }
    return render_page(request, "offline.html", session, "offline", context, status=status)


async def audit_page(request: web.Request, session: UISession) -> web.StreamResponse:
    wanted = EventFilter.from_params(request.query)
    before_raw = request.query.get("before", "")
    before = int(before_raw) if before_raw.isdigit() and len(before_raw) < 19 else None
    licensing = _licensing(request)
    scan = await scan_events(licensing, wanted, before=before, page=PAGE_SIZE)
    context = {
        "wanted": wanted,
        "scan": scan,
        "event_types": EVENT_TYPES,
        "now": licensing.now(),
    }
    return render_page(request, "audit.html", session, "audit", context)
