"""Offline activation (sync-format §4): seats for devices that cannot reach the server.

The admin carries tokens between the device and the server; every token is
verified before it is read, an offline seat counts against `seats` until its
lease ends or the device gives it back, and the same request applied twice
gives the same activation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from lls.clock import rfc3339
from lls.domain.bindings import bind_on_start, check_bindings
from lls.domain.checks import check, seats_used, success
from lls.domain.models import (
    MESSAGES,
    OfflineActivation,
    OfflineDeactivation,
    OfflineGrant,
    OfflineRequest,
    Outcome,
    Reason,
)
from lls.domain.ports import OfflineCodec
from lls.domain.records import AppendEvent, Record, SaveOffline
from lls.domain.sessions import purge_expired
from lls.domain.state import LicenseState, LicensingState
from lls.errors import NotFound, Refused


def request_license(st: LicensingState, request: OfflineRequest) -> LicenseState:
    """The license a device's request names (checked before the clock is read)."""
    state = st.licenses.get(request.license_token)
    if state is None:
        raise _refused(Reason.LICENSE_NOT_FOUND)
    return state


def offline_activate(
    st: LicensingState, codec: OfflineCodec, request: OfflineRequest, now: float
) -> tuple[OfflineGrant, list[Record]]:
    """Grant (or re-issue) an offline seat for a device's request (observe_clock first)."""
    state = request_license(st, request)
    product = _admit(st, state, request.product_codes, request.auth_context, now)
    outcome = _outcome(state, product)
    for existing in state.offline.values():
        same_device = (existing.auth_context, existing.device_kid) == (
            request.auth_context,
            request.device_kid,
        )
        if same_device and existing.live(now):
            sealed = codec.seal_response(existing, outcome, request.nonce, now)
            return OfflineGrant(existing, sealed), []
    st.gate.check_writable()
    out: list[Record] = []
    used = seats_used(state, now)
    if used >= state.license.seats:
        purge_expired(st, state, now, out)
        used = seats_used(state, now)
    # The admin carries the request: its address is not the device's (no network groups).
    denied = st.policy.seat_refusal(state, request.auth_context, None, used, now)
    if denied is not None:
        raise RefusalWithRecords(Refused(denied.message, code=denied.reason.value), out)
    if used >= state.license.seats:
        raise RefusalWithRecords(_refused(Reason.SESSION_LIMIT_REACHED), out)
    activation = OfflineActivation(
        id=os.urandom(12).hex(),
        license=state.license.token,
        auth_context=request.auth_context,
        device_kid=request.device_kid,
        device_keys=request.device_keys,
        nonce=request.nonce,
        activated_at=now,
        lease_expires_at=_lease_end(state, now),
    )
    bind_on_start(state, request.auth_context, st.environments, now, out)
    outcome = _outcome(state, product)  # a temporary license has just started
    state.offline[activation.id] = activation
    st.offline_by_id[activation.id] = activation
    st.changed.add(activation.license)
    out.append(_save(activation))
    out.append(_event("offline.activated", activation, now))
    sealed = codec.seal_response(activation, outcome, request.nonce, now)
    return OfflineGrant(activation, sealed), out


def refresh_target(st: LicensingState, activation_id: str) -> LicenseState:
    """The license of an activation to refresh (checked before the clock is read)."""
    activation = st.offline_by_id.get(activation_id)
    if activation is None:
        raise NotFound(f"no offline activation {activation_id!r}")
    if activation.deactivated_at is not None:
        raise Refused("this offline activation was deactivated", code="OFFLINE_DEACTIVATED")
    if activation.kind != "offline":
        raise Refused(
            "a borrowed seat is not refreshed: the device borrows again from a live session",
            code="BORROW_NOT_REFRESHABLE",
        )
    state = st.licenses.get(activation.license)
    if state is None:
        raise _refused(Reason.LICENSE_NOT_FOUND)
    return state


def offline_refresh(
    st: LicensingState, codec: OfflineCodec, activation_id: str, now: float
) -> tuple[OfflineGrant, list[Record]]:
    """A new lease counted from now: before expiry, or after it while the seat is still free."""
    state = refresh_target(st, activation_id)
    activation = st.offline_by_id[activation_id]
    product = _admit(st, state, None, activation.auth_context, now)
    if not activation.live(now) and seats_used(state, now) >= state.license.seats:
        raise _refused(
            Reason.SESSION_LIMIT_REACHED,
            "the lease ended and its seat was taken since; activate again when one is free",
        )
    if not activation.live(now):  # a lapsed lease takes a seat again: the policy decides
        used = seats_used(state, now)
        denied = st.policy.seat_refusal(state, activation.auth_context, None, used, now)
        if denied is not None:
            raise Refused(denied.message, code=denied.reason.value)
    st.gate.check_writable()
    activation.lease_expires_at = _lease_end(state, now)
    st.changed.add(activation.license)
    out: list[Record] = [_save(activation), _event("offline.refreshed", activation, now)]
    sealed = codec.seal_refresh(activation, _outcome(state, product), now)
    return OfflineGrant(activation, sealed), out


def device_keys(st: LicensingState) -> Sequence[dict[str, object]]:
    """The public keys of every device that holds (or held) an activation here."""
    return list({a.device_kid: a.device_keys for a in st.offline_by_id.values()}.values())


def offline_deactivate(
    st: LicensingState, doc: OfflineDeactivation, now: float
) -> tuple[OfflineActivation, list[Record]]:
    """Free the seat of a device's (opened) deactivation token; applying it twice is harmless."""
    activation = st.offline_by_id.get(doc.activation_id)
    if activation is None:
        raise Refused(f"no offline activation {doc.activation_id!r}", code="UNKNOWN_ACTIVATION")
    if doc.signer_kid != activation.device_kid or doc.auth_context != activation.auth_context:
        raise Refused(
            "the deactivation token is not signed by the device that holds this activation",
            code="NOT_THE_ACTIVATION_DEVICE",
        )
    if activation.deactivated_at is not None:
        return activation, []
    st.gate.check_writable()
    activation.deactivated_at = now
    st.changed.add(activation.license)
    st.freed.add(activation.license)
    return activation, [_save(activation), _event("offline.deactivated", activation, now)]


class RefusalWithRecords(Exception):
    """A refusal that still has records to commit (expired sessions ended on the way)."""

    def __init__(self, refused: Refused, out: list[Record]) -> None:
        super().__init__(str(refused))
        self.refused, self.out = refused, out


def _admit(
    st: LicensingState,
    state: LicenseState,
    product_codes: tuple[str, ...] | None,
    auth_context: str,
    now: float,
) -> str | None:
    """The license checks of an online activate, raised as 422 refusals."""
    if st.tampered:
        raise _refused(Reason.CLOCK_TAMPERED)
    refusal, product = check(st, state, product_codes, now)
    if refusal is not None:
        assert refusal.reason is not None
        raise _refused(refusal.reason, refusal.message)
    reason = check_bindings(state, auth_context, st.environments)
    if reason is not None:
        raise _refused(reason)
    return product


def _outcome(state: LicenseState, product: str | None) -> Outcome:
    """The ValidationResponse fields of an offline grant: boolean features only."""
    granted = success(state, product, None)
    booleans = tuple(f for f in granted.features if f.type == "boolean")
    return Outcome(
        status=granted.status,
        license=granted.license,
        product_code=product,
        license_expires_at=granted.license_expires_at,
        features=booleans,
    )


def _lease_end(state: LicenseState, now: float) -> float:
    end = now + state.license.offline_lease_s
    expires = state.expires_at()
    return end if expires is None else min(end, expires)


def _refused(reason: Reason, message: str | None = None) -> Refused:
    return Refused(message or MESSAGES[reason], code=reason.value)


def _save(activation: OfflineActivation) -> SaveOffline:
    a = activation
    return SaveOffline(
        a.id,
        a.license,
        a.auth_context,
        a.device_kid,
        dict(a.device_keys),
        a.nonce,
        a.activated_at,
        a.lease_expires_at,
        a.deactivated_at,
        a.kind,
    )


def _event(kind: str, activation: OfflineActivation, now: float, **data: object) -> AppendEvent:
    """The audit event of an offline activation (a borrow's too: domain.borrowing), with
    `data` after the fields every one carries."""
    return AppendEvent(
        at=now,
        type=kind,
        license=activation.license,
        auth_context=activation.auth_context,
        data={
            "activationId": activation.id,
            "kind": activation.kind,
            "leaseExpiresAt": rfc3339(activation.lease_expires_at),
            **data,
        },
    )
