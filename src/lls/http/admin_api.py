"""Handlers of the admin API (api.md §6); the bearer check is in the middleware."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from aiohttp import web

from lls import __version__
from lls.clock import parse_rfc3339, rfc3339
from lls.domain.borrowing import borrowed_seats
from lls.domain.license_index import LicenseQuery, list_licenses
from lls.domain.models import OfflineActivation, PoolSummary, Session
from lls.domain.policy_compiled import CompiledPolicy
from lls.domain.policy_view import license_use
from lls.domain.state import LicenseState
from lls.domain.views import SessionQuery, list_sessions
from lls.errors import BadRequest, NotFound, Refused
from lls.http.body import CLIENT_BODY_LIMIT, LARGE_BODY_TIMEOUT_S, read_limited
from lls.http.ha import NODE
from lls.http.index_cache import LICENSE_INDEX, IndexCache
from lls.http.keys import INSTANCE, LABELS, LICENSING, RELOAD
from lls.http.routes import add_route
from lls.http.schemas import decode, encode
from lls.sealed.usage_codec import usage_file_text

POOL_BODY_LIMIT = 64 * 1024 * 1024 + 64 * 1024  # sync-format §1: files up to 64 MiB (+ comments)
AUDIT_MAX_LIMIT = 1000
AUDIT_MAX_TYPES = 16
# `type` of GET /admin/v1/audit: up to 16 comma-separated event types of up to 64
# characters, a trailing * matching a prefix. One definition: the server checks it and
# the OpenAPI document states it (http.openapi), so a generated query is judged alike.
_EVENT_TYPE = r"[A-Za-z0-9_.:-]{0,63}\*|[A-Za-z0-9_.:-]{1,64}"
AUDIT_TYPES_PATTERN = rf"(?:{_EVENT_TYPE})(?:,(?:{_EVENT_TYPE})){{0,{AUDIT_MAX_TYPES - 1}}}"
_AUDIT_TYPES = re.compile(AUDIT_TYPES_PATTERN)


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=encode(doc), status=status, headers={"Content-Type": "application/json; charset=utf-8"}
    )


def _ts(value: float | None) -> str | None:
    return rfc3339(value) if value is not None else None


def session_doc(session: Session) -> dict[str, Any]:
    """A live session for the admin, with who holds it: the address and what the client said."""
    info = session.client_info
    return {
        "id": session.id,
        "licenseToken": session.license,
        "authContext": session.auth_context,
        "startedAt": rfc3339(session.started_at),
        "expiresAt": rfc3339(session.expires_at),
        "clientAddress": session.client_address,
        "clientInfo": {
            "hostname": info.hostname if info else None,
            "user": info.user if info else None,
            "application": info.application if info else None,
            "version": info.version if info else None,
        },
        "kind": "session",
    }


def borrow_doc(activation: OfflineActivation) -> dict[str, Any]:
    """A borrowed seat, in the shape of a session: its id is the activation's, its end the
    lease's (the device holds it offline: no address or clientInfo is known)."""
    return {
        "id": activation.id,
        "licenseToken": activation.license,
        "authContext": activation.auth_context,
        "startedAt": rfc3339(activation.activated_at),
        "expiresAt": rfc3339(activation.lease_expires_at),
        "clientAddress": None,
        "clientInfo": {"hostname": None, "user": None, "application": None, "version": None},
        "kind": "borrow",
    }


def license_doc(
    state: LicenseState,
    now: float,
    label: str,
    *,
    detail: bool = False,
    policy: CompiledPolicy | None = None,
) -> dict[str, Any]:
    """A license for the admin: its grant, what is in use, and the label metrics and logs use;
    `policy`: what the seat policy in force keeps and what each group it names holds."""
    lic = state.license
    live = [s for s in state.sessions.values() if s.expires_at > now]
    offline = [a for a in state.offline.values() if a.live(now)]
    doc: dict[str, Any] = {
        "token": lic.token,
        "id": lic.id,
        "label": label,
        "productCodes": list(lic.product_codes),
        "type": lic.type,
        "status": lic.status,
        "seats": lic.seats,
        "liveSessions": len(live),
        "offlineSeats": len(offline),
        "borrowedSeats": sum(1 for a in offline if a.kind == "borrow"),
        "peakSessions": state.peak_sessions,
        "validFrom": _ts(lic.valid_from),
        "validUntil": _ts(lic.valid_until),
        "expiresAt": _ts(state.expires_at()),
        "boundContext": state.bound_context,
        "locked": state.locked_at is not None,
        "lockedAt": _ts(state.locked_at),
        "firstActivatedAt": _ts(state.first_activated_at),
        "isTrial": lic.is_trial,
        "orgId": lic.org_id,
        "companyName": lic.company_name,
        "features": [
            {"code": f.code, "type": f.type, "total": f.total, "available": f.available}
            for f in state.features_view
        ],
        "policy": _policy_use(policy, state, now),
    }
    if detail:
        doc["sessions"] = [session_doc(s) for s in live]
        doc["offline"] = [
            {
                "activationId": a.id,
                "authContext": a.auth_context,
                "activatedAt": rfc3339(a.activated_at),
                "leaseExpiresAt": rfc3339(a.lease_expires_at),
                "kind": a.kind,
            }
            for a in offline
        ]
    return doc


def _policy_use(
    policy: CompiledPolicy | None, state: LicenseState, now: float
) -> dict[str, Any] | None:
    """`policy` of a license (api.md §6): null when no rule of the policy governs it."""
    use = license_use(policy, state, now) if policy is not None else None
    if use is None:
        return None
    return {
        "rules": list(use.rules),
        "reserved": use.reserved,
        "groups": use.groups,
        "features": [
            {"code": f.code, "count": f.count, "inUse": f.in_use, "groups": f.groups}
            for f in use.features
        ],
    }


async def status(request: web.Request) -> web.Response:
    info = request.app[INSTANCE]
    st = request.app[LICENSING].reads.status()
    pool = st.pool
    node = request.app.get(NODE)
    ha = {"role": node.role, "leader": node.leader_url} if node is not None else {}
    return _json(
        {
            **ha,
            "instanceId": info.instance_id,
            "version": __version__,
            "org": {"id": pool.org_id, "name": pool.org_name} if pool else None,
            "pool": {
                "seq": pool.seq,
                "issuedAt": rfc3339(pool.iat),
                "expiresAt": rfc3339(pool.exp),
                "importedAt": _ts(st.pool_imported_at),
                "ackUsageSeq": pool.ack_usage_seq,
            }
            if pool
            else None,
            "clock": {"tampered": st.tampered, "floor": rfc3339(st.floor)},
            "usage": {
                "lastSeq": st.usage_seq,
                "ackedThroughEvent": st.ack_event_id,
                "lastExportAt": _ts(st.last_usage_export),
            },
            "licenses": st.licenses,
            "liveSessions": st.live_sessions,
        }
    )


def pool_summary_doc(summary: PoolSummary) -> dict[str, Any]:
    """What an import changed, as the admin API and the CLI report it."""
    return {
        "seq": summary.seq,
        "issuedAt": rfc3339(summary.issued_at),
        "expiresAt": rfc3339(summary.expires_at),
        "licenses": summary.licenses,
        "added": summary.added,
        "changed": summary.changed,
        "removed": summary.removed,
        "sessionsEnded": summary.sessions_ended,
    }


async def import_pool(request: web.Request) -> web.Response:
    body = await read_limited(request, POOL_BODY_LIMIT, LARGE_BODY_TIMEOUT_S)
    raw = body.decode("utf-8", errors="replace")
    return _json(pool_summary_doc(await request.app[LICENSING].import_pool(raw)))


class DissociateBody(msgspec.Struct):
    authContext: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None


async def dissociate(request: web.Request) -> web.Response:
    raw = await read_limited(request, CLIENT_BODY_LIMIT)
    body = decode(raw, DissociateBody) if raw.strip() else DissociateBody()
    token = request.match_info["token"]
    bound = await request.app[LICENSING].dissociate(token, body.authContext)
    return _json({"licenseToken": token, "dissociated": bound})


async def unlock(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    await request.app[LICENSING].unlock(token)
    return _json({"licenseToken": token, "locked": False})


async def release_environment(request: web.Request) -> web.Response:
    auth_context = request.match_info["authContext"]
    org = await request.app[LICENSING].release_environment(auth_context)
    return _json({"authContext": auth_context, "released": org})


async def environments(request: web.Request) -> web.Response:
    envs = request.app[LICENSING].reads.environments()
    return _json(
        {"environments": [{"authContext": c, "orgId": o} for c, o in sorted(envs.items())]}
    )


async def usage(request: web.Request) -> web.Response:
    """A new usage file for the vendor, as the file's text (comment lines, then the JWE)."""
    report, token = await request.app[LICENSING].export_usage()
    text = usage_file_text(request.app[INSTANCE].instance_id, report.seq, report.issued_at, token)
    return web.Response(
        body=text.encode(),
        headers={
            "Content-Type": "application/jose",
            "Content-Disposition": f'attachment; filename="usage-{report.seq}.lls"',
        },
    )


async def licenses(request: web.Request) -> web.Response:
    """A page of licenses: `q`, `type`, `product` and `status` (comma-separated lists),
    `sort`, `dir`, `limit` (1–1,000, default 100) and `cursor`; `nextCursor` pages on."""
    licensing = request.app[LICENSING]
    query = LicenseQuery.from_admin_params(request.query)
    await licensing.reads.end_expired()  # no seat or unit shown held by an expired session
    now = licensing.now()
    index = await request.app[LICENSE_INDEX].current(licensing)
    listed = list_licenses(index, query, now)
    page = listed.items
    labels = request.app[LABELS]
    policy = licensing.reads.view().policy.compiled
    found = [
        license_doc(s, now, labels.of_token(s.license.token, s.license.id), policy=policy)
        for s in page
    ]
    return _json({"licenses": found, "total": listed.total, "nextCursor": listed.next_cursor})


async def license_detail(request: web.Request) -> web.Response:
    licensing = request.app[LICENSING]
    token = request.match_info["token"]
    state = (await licensing.reads.licenses(token)).get(token)
    if state is None:
        raise NotFound("no such license on this server")
    label = request.app[LABELS].of_token(token, state.license.id)
    policy = licensing.reads.view().policy.compiled
    return _json(license_doc(state, licensing.now(), label, detail=True, policy=policy))


async def sessions(request: web.Request) -> web.Response:
    """A page of live sessions: `license`, `authContext` (exact), `q`, `sort`, `dir`,
    `limit` (1–1,000, default 100) and `cursor`; `nextCursor` pages on. `borrowed`: every
    borrowed seat the filters match (few: not paginated)."""
    licensing = request.app[LICENSING]
    query = SessionQuery.from_params(request.query)
    await licensing.reads.end_expired(query.license or None)
    page = list_sessions(licensing.reads.view().by_id.values(), query, licensing.now())
    q = query.search
    borrowed = [
        borrow_doc(a)
        for a in borrowed_seats(licensing.reads.view().offline_by_id, licensing.now())
        if (not query.license or a.license == query.license)
        and (not query.auth_context or a.auth_context == query.auth_context)
        and (not q or q in a.auth_context.casefold() or a.license.casefold().startswith(q))
    ]
    return _json(
        {
            "sessions": [session_doc(s) for s in page.items],
            "total": page.total,
            "nextCursor": page.next_cursor,
            "borrowed": borrowed,
        }
    )


async def end_session(request: web.Request) -> web.Response:
    """End a session, or a borrowed seat (its activation id): free here, the device keeps
    its lease until it ends."""
    await request.app[LICENSING].end_session(request.match_info["id"])
    return web.Response(status=204)


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", field=name) from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}", field=name)
    return value


def _since_query(request: web.Request) -> float | None:
    raw = request.query.get("since")
    if raw is None:
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError:
        raise BadRequest("since must be an RFC 3339 time", field="since") from None


def _types_query(request: web.Request) -> tuple[str, ...]:
    raw = request.query.get("type", "")
    if raw and _AUDIT_TYPES.fullmatch(raw) is None:
        raise BadRequest(
            f"type is up to {AUDIT_MAX_TYPES} event types (a trailing * matches a prefix)",
            field="type",
        )
    return tuple(raw.split(",")) if raw else ()


async def audit(request: web.Request) -> web.Response:
    """Events oldest first (`after` pages on), or `order=desc`: newest first (`before` pages on)."""
    after = _int_query(request, "after", 0, 0, 2**62)
    limit = _int_query(request, "limit", 100, 1, AUDIT_MAX_LIMIT)
    before = _int_query(request, "before", 2**62, 1, 2**62) if "before" in request.query else None
    order = request.query.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc", field="order")
    events = await request.app[LICENSING].reads.audit(
        after=after,
        limit=limit,
        before=before,
        since=_since_query(request),
        types=_types_query(request),
        newest_first=order == "desc",
    )
    return _json(
        {
            "events": [
                {
                    "id": e.id,
                    "at": rfc3339(e.at),
                    "type": e.type,
                    "license": e.license,
                    "authContext": e.auth_context,
                    "data": e.data,
                    "prevHash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in events
            ]
        }
    )


async def reload(request: web.Request) -> web.Response:
    """Re-read the config file and apply what can change live (as SIGHUP does)."""
    report = await request.app[RELOAD]()
    if not report.ok and report.kept:
        raise Refused(
            f"reload refused, the settings in force are kept: {report.error}",
            code="RELOAD_REFUSED",
        )
    if not report.ok:
        raise Refused(f"reload applied in part: {report.error}", code="RELOAD_FAILED")
    return _json(report.to_json())


def add_routes(app: web.Application) -> None:
    app[LICENSE_INDEX] = IndexCache()
    add_route(app, "GET", "/admin/v1/status", status)
    add_route(app, "POST", "/admin/v1/pool", import_pool)
    add_route(app, "GET", "/admin/v1/usage", usage)
    add_route(app, "GET", "/admin/v1/licenses", licenses)
    add_route(app, "GET", "/admin/v1/licenses/{token}", license_detail)
    add_route(app, "POST", "/admin/v1/licenses/{token}/dissociate", dissociate)
    add_route(app, "POST", "/admin/v1/licenses/{token}/unlock", unlock)
    add_route(app, "GET", "/admin/v1/environments", environments)
    add_route(app, "DELETE", "/admin/v1/environments/{authContext}", release_environment)
    add_route(app, "GET", "/admin/v1/sessions", sessions)
    add_route(app, "DELETE", "/admin/v1/sessions/{id}", end_session)
    add_route(app, "GET", "/admin/v1/audit", audit)
    add_route(app, "POST", "/admin/v1/reload", reload)
