"""Handlers of the admin API (api.md §6); the bearer check is in the middleware.

Each translates its request into one call of the facade and the answer into JSON;
the documents of licenses, sessions and pool imports are `lls.http.admin_docs`, the
audit list with its query `lls.http.audit_api`."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from lls import __version__
from lls.clock import rfc3339
from lls.domain.borrowing import borrowed_seats
from lls.domain.license_index import LicenseQuery, list_licenses
from lls.domain.views import SessionQuery, list_sessions
from lls.errors import NotFound, Refused
from lls.http import audit_api
from lls.http.admin_docs import borrow_doc, license_doc, pool_summary_doc, session_doc, ts
from lls.http.answers import json_answer
from lls.http.body import CLIENT_BODY_LIMIT, LARGE_BODY_TIMEOUT_S, read_limited
from lls.http.ha import NODE
from lls.http.index_cache import LICENSE_INDEX, IndexCache
from lls.http.keys import INSTANCE, LABELS, LICENSING, RELOAD
from lls.http.routes import add_route
from lls.http.schemas import decode
from lls.sealed.usage_codec import usage_file_text

POOL_BODY_LIMIT = 64 * 1024 * 1024 + 64 * 1024  # sync-format §1: files up to 64 MiB (+ comments)


async def status(request: web.Request) -> web.Response:
    info = request.app[INSTANCE]
    st = request.app[LICENSING].reads.status()
    pool = st.pool
    node = request.app.get(NODE)
    ha = {"role": node.role, "leader": node.leader_url} if node is not None else {}
    return json_answer(
        {
            **ha,
            "instanceId": info.instance_id,
            "version": __version__,
            "org": {"id": pool.org_id, "name": pool.org_name} if pool else None,
            "pool": {
                "seq": pool.seq,
                "issuedAt": rfc3339(pool.iat),
                "expiresAt": rfc3339(pool.exp),
                "importedAt": ts(st.pool_imported_at),
                "ackUsageSeq": pool.ack_usage_seq,
            }
            if pool
            else None,
            "clock": {"tampered": st.tampered, "floor": rfc3339(st.floor)},
            "usage": {
                "lastSeq": st.usage_seq,
                "ackedThroughEvent": st.ack_event_id,
                "lastExportAt": ts(st.last_usage_export),
            },
            "licenses": st.licenses,
            "liveSessions": st.live_sessions,
        }
    )


async def import_pool(request: web.Request) -> web.Response:
    body = await read_limited(request, POOL_BODY_LIMIT, LARGE_BODY_TIMEOUT_S)
    raw = body.decode("utf-8", errors="replace")
    return json_answer(pool_summary_doc(await request.app[LICENSING].import_pool(raw)))


class DissociateBody(msgspec.Struct):
    authContext: Annotated[str, msgspec.Meta(min_length=1, max_length=256)] | None = None


async def dissociate(request: web.Request) -> web.Response:
    raw = await read_limited(request, CLIENT_BODY_LIMIT)
    body = decode(raw, DissociateBody) if raw.strip() else DissociateBody()
    token = request.match_info["token"]
    bound = await request.app[LICENSING].dissociate(token, body.authContext)
    return json_answer({"licenseToken": token, "dissociated": bound})


async def unlock(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    await request.app[LICENSING].unlock(token)
    return json_answer({"licenseToken": token, "locked": False})


async def release_environment(request: web.Request) -> web.Response:
    auth_context = request.match_info["authContext"]
    org = await request.app[LICENSING].release_environment(auth_context)
    return json_answer({"authContext": auth_context, "released": org})


async def environments(request: web.Request) -> web.Response:
    envs = request.app[LICENSING].reads.environments()
    return json_answer(
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
    return json_answer({"licenses": found, "total": listed.total, "nextCursor": listed.next_cursor})


async def license_detail(request: web.Request) -> web.Response:
    licensing = request.app[LICENSING]
    token = request.match_info["token"]
    state = (await licensing.reads.licenses(token)).get(token)
    if state is None:
        raise NotFound("no such license on this server")
    label = request.app[LABELS].of_token(token, state.license.id)
    policy = licensing.reads.view().policy.compiled
    return json_answer(license_doc(state, licensing.now(), label, detail=True, policy=policy))


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
    return json_answer(
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
    return json_answer(report.to_json())


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
    add_route(app, "GET", "/admin/v1/audit", audit_api.audit)
    add_route(app, "POST", "/admin/v1/reload", reload)
