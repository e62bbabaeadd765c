"""`GET /admin/v1/policy` and `POST /admin/v1/policy/reload`: the seat policy in force.

The policy as the admin wrote it (groups, rules with their lines), the warnings
that depend on the pool, and what each group holds now on every license the
policy governs. Reload re-reads the file `policy.file` names (the settings in
force); a file that does not validate is 422 `POLICY_INVALID` naming the line,
and the policy in force stays.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lls.clock import rfc3339
from lls.domain.policy import Limits
from lls.domain.policy_view import PolicyInForce, policy_usage
from lls.http.answers import json_answer
from lls.http.keys import LICENSING
from lls.http.routes import add_route
from lls.policy_reload import PolicyControl

POLICY = web.AppKey("policy", PolicyControl)


def add_routes(app: web.Application, control: PolicyControl) -> None:
    """Serve the policy admin endpoints for `control` (lls.app.wiring adds them in one line)."""
    app[POLICY] = control
    add_route(app, "GET", "/admin/v1/policy", show)
    add_route(app, "POST", "/admin/v1/policy/reload", reload)


async def show(request: web.Request) -> web.Response:
    """The policy in force and what each group holds now."""
    return json_answer(policy_doc(request.app[POLICY].in_force, request))


async def reload(request: web.Request) -> web.Response:
    """Re-read the policy file; a bad one is refused with its line and changes nothing."""
    result = request.app[POLICY].reload()
    return json_answer({"changed": result.changed, **policy_doc(result.in_force, request)})


def _limits(limits: Limits) -> dict[str, Any]:
    return {"reserve": dict(limits.reserve), "max": dict(limits.max)}


def policy_doc(in_force: PolicyInForce, request: web.Request) -> dict[str, Any]:
    """The JSON of the policy in force (docs/api.md §7 "Seat policy")."""
    policy = in_force.policy
    if policy is None:
        return {
            "file": in_force.path or None,
            "loadedAt": None,
            "sha256": None,
            "groups": [],
            "rules": [],
            "warnings": [],
            "licenses": [],
        }
    licensing = request.app[LICENSING]
    licenses = licensing.reads.view().licenses
    compiled = in_force.compile(licenses.values())
    assert compiled is not None  # a policy is in force
    governs: dict[str, int] = {}
    for rules in compiled.by_license.values():
        for rule in rules:
            governs[rule.name] = governs.get(rule.name, 0) + 1
    usage = policy_usage(compiled, licenses, licensing.now())
    return {
        "file": in_force.path,
        "loadedAt": rfc3339(in_force.loaded_at) if in_force.loaded_at is not None else None,
        "sha256": policy.sha256,
        "groups": [
            {
                "name": g.name,
                "line": g.line,
                "authContexts": list(g.auth_contexts),
                "networks": [str(n) for n in g.networks],
            }
            for g in policy.groups.values()
        ],
        "rules": [
            {
                "name": r.name,
                "line": r.line,
                "licenses": list(r.licenses),
                "products": list(r.products),
                **_limits(r.seats),
                "exclude": list(r.exclude),
                "include": list(r.include),
                "features": {code: _limits(f) for code, f in r.features.items()},
                "governs": governs.get(r.name, 0),
            }
            for r in policy.rules
        ],
        "warnings": list(compiled.warnings),
        "licenses": [
            {
                "token": u.token,
                "name": u.label,
                "seats": u.seats,
                "held": u.held,
                "reserved": u.reserved,
                "rules": list(u.rules),
                "groups": u.groups,
                "features": [
                    {"code": f.code, "count": f.count, "inUse": f.in_use, "groups": f.groups}
                    for f in u.features
                ],
            }
            for u in usage
        ],
    }
