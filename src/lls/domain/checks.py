"""The checks every licensing call shares (api.md §2): the clock floor, the license checks,
and the shape of a refusal or a success.

Plain functions over the state; none writes anything but `tamper_records`, whose
records the facade commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from lls.clock import rfc3339
from lls.domain.models import (
    CLOCK_SKEW_S,
    MESSAGES,
    ORDER_LOCKED_MESSAGE,
    TRIAL_EXPIRED_MESSAGE,
    AuthStatus,
    License,
    Outcome,
    Reason,
    Session,
)
from lls.domain.records import AppendEvent, Record
from lls.domain.state import LicenseState, LicensingState

NOT_FOUND = Outcome(
    status=AuthStatus.FAILED,
    reason=Reason.LICENSE_NOT_FOUND,
    message=MESSAGES[Reason.LICENSE_NOT_FOUND],
)


def observe_clock(st: LicensingState, now: float) -> float:
    """Raise the floor with `now`, note a rollback (more than 5 min below the floor)."""
    if now > st.floor:
        st.floor = now
        st.tampered = st.tamper_recorded = False
    else:
        st.tampered = now < st.floor - CLOCK_SKEW_S
    return now


def tamper_records(st: LicensingState, now: float) -> list[Record]:
    """A `clock.tampered` event, once per episode of a clock below the floor (none while
    writes are refused). If its commit fails the facade clears `tamper_recorded` again."""
    if not st.tampered or st.tamper_recorded or not st.gate.writable:
        return []
    st.tamper_recorded = True
    return [
        AppendEvent(
            at=now,
            type="clock.tampered",
            data={"clock": rfc3339(now), "floor": rfc3339(st.floor)},
        )
    ]


def refuse(state: LicenseState, reason: Reason, message: str | None = None) -> Outcome:
    status = AuthStatus.LOCKED if reason is Reason.LICENSE_LOCKED else AuthStatus.FAILED
    return Outcome(
        status=status,
        reason=reason,
        message=message or MESSAGES[reason],
        license=state.license,
        license_expires_at=state.expires_at(),
        features=state.features_view,
    )


def check(
    st: LicensingState, state: LicenseState, product_codes: Sequence[str] | None, now: float
) -> tuple[Outcome | None, str | None]:
    """The license-level checks of api.md §2; returns (refusal or None, echoed product code)."""
    lic = state.license
    if lic.status == "locked":  # the vendor locked the order: its own words
        return refuse(state, Reason.LICENSE_LOCKED, ORDER_LOCKED_MESSAGE), None
    if state.locked_at is not None:
        return refuse(state, Reason.LICENSE_LOCKED), None
    if st.pool_exp is not None and now >= st.pool_exp:
        return refuse(state, Reason.POOL_EXPIRED), None
    if lic.status == "revoked":
        return refuse(state, Reason.LICENSE_REVOKED), None
    if lic.status == "suspended":
        return refuse(state, Reason.LICENSE_SUSPENDED), None
    product = covered(lic, product_codes)
    if product is None:
        return refuse(state, Reason.PRODUCT_MISMATCH), None
    if lic.valid_from is not None and now < lic.valid_from:
        return refuse(state, Reason.LICENSE_NOT_YET_VALID), None
    expires = state.expires_at()
    if expires is not None and now >= expires:
        message = TRIAL_EXPIRED_MESSAGE if lic.is_trial else None
        return refuse(state, Reason.LICENSE_EXPIRED, message), None
    return None, product


def success(state: LicenseState, product: str | None, session: Session | None) -> Outcome:
    return Outcome(
        status=AuthStatus.SUCCESS,
        license=state.license,
        product_code=product,
        session_expires_at=session.expires_at if session is not None else None,
        license_expires_at=state.expires_at(),
        features=state.features_view,
    )


def covered(lic: License, product_codes: Sequence[str] | None) -> str | None:
    """The first of `product_codes` the license covers (its first code when none are given)."""
    if not product_codes:
        return lic.product_codes[0]
    for code in product_codes:
        if code in lic.product_codes:
            return code
    return None


def seats_used(state: LicenseState, now: float) -> int:
    """Seats held: live sessions plus offline leases not yet over."""
    used = len(state.sessions)
    if state.offline:
        used += sum(1 for a in state.offline.values() if a.live(now))
    return used
