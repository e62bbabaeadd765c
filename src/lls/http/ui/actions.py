"""The dashboard's state-changing forms (POST): each calls one method of the licensing service.

Every one of them passes `guard.action` first (session, admin role, CSRF token).
A refusal is shown in the service's own words and changes nothing; a success
answers with a redirect (so a reload does not post twice) and a one-time message,
or with the file the admin asked for.
"""

from __future__ import annotations

from aiohttp import web

from lls.clock import rfc3339
from lls.domain.models import OfflineActivation
from lls.errors import LLSError
from lls.http.admin_api import POOL_BODY_LIMIT
from lls.http.admin_docs import pool_summary_doc
from lls.http.keys import INSTANCE, LICENSING
from lls.http.ui.auth import UISession
from lls.http.ui.forms import Form
from lls.http.ui.guard import UI_PREFIX
from lls.http.ui.pages import render_offline, render_pool
from lls.http.ui.render import urlpart
from lls.sealed.files import read_sealed_text, sealed_file_text
from lls.sealed.usage_codec import usage_file_text


def _back(form: Form, default: str) -> web.HTTPSeeOther:
    """Back to the page the form was on (a dashboard path only)."""
    target = form.text("back") or ""
    if not target.startswith(UI_PREFIX) or target.startswith("//") or "\\" in target:
        target = default
    return web.HTTPSeeOther(target)


def _download(text: str, filename: str) -> web.Response:
    return web.Response(
        body=text.encode(),
        headers={
            "Content-Type": "application/jose",
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


async def end_session(request: web.Request, session: UISession, form: Form) -> web.StreamResponse:
    try:
        ended = await request.config_dict[LICENSING].end_session(request.match_info["id"])
    except LLSError as error:
        session.say(f"Not ended: {error.message}", "error")
    else:
        session.say(f"Ended the session of {ended.auth_context} on {ended.license}.")
    raise _back(form, f"{UI_PREFIX}sessions")


async def end_borrow(request: web.Request, session: UISession, form: Form) -> web.StreamResponse:
    try:
        ended = await request.config_dict[LICENSING].end_session(request.match_info["id"])
    except LLSError as error:
        session.say(f"Not ended: {error.message}", "error")
    else:
        until = rfc3339(ended.lease_expires_at) if isinstance(ended, OfflineActivation) else "now"
        session.say(
            f"Freed the borrowed seat of {ended.auth_context} on {ended.license}; the device"
            f" keeps its lease until {until}."
        )
    raise _back(form, f"{UI_PREFIX}sessions")


async def import_pool(request: web.Request, session: UISession, form: Form) -> web.StreamResponse:
    raw = form.file_or_text("pool_file", "pool_text")
    if not raw.strip():
        return await render_pool(
            request, session, refusal=("Choose a pool file first.", "NO_FILE"), status=400
        )
    try:
        summary = await request.config_dict[LICENSING].import_pool(
            raw.decode("utf-8", errors="replace")
        )
    except LLSError as error:
        return await render_pool(request, session, refusal=(error.message, error.code), status=422)
    doc = pool_summary_doc(summary)
    session.say(
        f"Imported pool seq {doc['seq']}: {doc['licenses']} licenses ({doc['added']} added,"
        f" {doc['changed']} changed, {doc['removed']} removed; {doc['sessionsEnded']} sessions"
        " ended)."
    )
    raise web.HTTPSeeOther(f"{UI_PREFIX}pool")


async def export_usage(request: web.Request, session: UISession, form: Form) -> web.StreamResponse:
    report, token = await request.config_dict[LICENSING].export_usage()
    instance_id = request.config_dict[INSTANCE].instance_id
    text = usage_file_text(instance_id, report.seq, report.issued_at, token)
    return _download(text, f"usage-{report.seq}.lls")


def _token_from(form: Form, file_field: str, text_field: str) -> str:
    return read_sealed_text(form.file_or_text(file_field, text_field))


async def offline_activate(
    request: web.Request, session: UISession, form: Form
) -> web.StreamResponse:
    try:
        token = _token_from(form, "request_file", "request_text")
        grant = await request.config_dict[LICENSING].offline_activate(token)
    except LLSError as error:
        return await render_offline(
            request, session, refusal=(error.message, error.code), status=422
        )
    activation = grant.activation
    comments = {
        "kind": "lls offline response",
        "activation": activation.id,
        "lease ends": rfc3339(activation.lease_expires_at),
    }
    return _download(sealed_file_text(grant.token, comments), f"offline-{activation.id}.lls")


async def offline_refresh(
    request: web.Request, session: UISession, form: Form
) -> web.StreamResponse:
    try:
        grant = await request.config_dict[LICENSING].offline_refresh(request.match_info["id"])
    except LLSError as error:
        return await render_offline(
            request, session, refusal=(error.message, error.code), status=422
        )
    activation = grant.activation
    comments = {
        "kind": "lls offline refresh",
        "activation": activation.id,
        "lease ends": rfc3339(activation.lease_expires_at),
    }
    return _download(
        sealed_file_text(grant.token, comments), f"offline-refresh-{activation.id}.lls"
    )


async def offline_deactivate(
    request: web.Request, session: UISession, form: Form
) -> web.StreamResponse:
    try:
        token = _token_from(form, "deactivation_file", "deactivation_text")
        activation = await request.config_dict[LICENSING].offline_deactivate(token)
    except LLSError as error:
        return await render_offline(
            request, session, refusal=(error.message, error.code), status=422
        )
    session.say(
        f"Offline seat of {activation.auth_context} on {activation.license} freed"
        f" (activation {activation.id})."
    )
    raise web.HTTPSeeOther(f"{UI_PREFIX}offline")


async def dissociate(request: web.Request, session: UISession, form: Form) -> web.StreamResponse:
    token = request.match_info["token"]
    try:
        bound = await request.config_dict[LICENSING].dissociate(token, None)
    except LLSError as error:
        session.say(f"Not freed: {error.message}", "error")
    else:
        session.say(f"Freed the binding to {bound}; the license may start on another machine.")
    raise web.HTTPSeeOther(f"{UI_PREFIX}licenses/{urlpart(token)}")


async def unlock(request: web.Request, session: UISession, form: Form) -> web.StreamResponse:
    token = request.match_info["token"]
    try:
        await request.config_dict[LICENSING].unlock(token)
    except LLSError as error:
        session.say(f"Not unlocked: {error.message}", "error")
    else:
        session.say("Unlocked; the count of machines starts afresh.")
    raise web.HTTPSeeOther(f"{UI_PREFIX}licenses/{urlpart(token)}")


UPLOAD_LIMIT = POOL_BODY_LIMIT
