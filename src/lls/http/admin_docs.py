"""The admin API's documents of the licensing records (api.md §6): a license with what
is in use on it, a live session or a borrowed seat, the summary of a pool import.

Apart from the handlers (`lls.http.admin_api`) because the dashboard (`lls.http.ui`) and
`lls pool import` with no server running (`lls.app`) show the same records in the same shape.
"""

from __future__ import annotations

from typing import Any

from lls.clock import rfc3339
from lls.domain.models import OfflineActivation, PoolSummary, Session
from lls.domain.policy_compiled import CompiledPolicy
from lls.domain.policy_view import license_use
from lls.domain.state import LicenseState

__all__ = ["borrow_doc", "license_doc", "pool_summary_doc", "session_doc", "ts"]


def ts(value: float | None) -> str | None:
    """A time of the admin documents: RFC 3339, or null when there is none."""
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
        "validFrom": ts(lic.valid_from),
        "validUntil": ts(lic.valid_until),
        "expiresAt": ts(state.expires_at()),
        "boundContext": state.bound_context,
        "locked": state.locked_at is not None,
        "lockedAt": ts(state.locked_at),
        "firstActivatedAt": ts(state.first_activated_at),
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
