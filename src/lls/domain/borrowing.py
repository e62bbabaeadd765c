"""Borrowing a seat for the road (api.md §3, sync-format §2/§4; issue 16, part 3).

A device with a live session turns it into a borrowed seat: an offline
activation of kind `borrow` whose lease ends at the earliest of now +
`borrowSeconds`, now + the license's `borrowMaxSeconds` and the license's end.
The session ends in the same step (reason `borrowed`, its floating units go
back), so the seat count never moves and nobody can take the seat in between;
from then on the seat is held like any offline seat — counted by
`Sessions._seats_used` over `LicenseState.offline`, which is the one hook into
the seat count, persisted as an offline activation row (kind `borrow`) before
the answer, and free again when the lease ends (judged at request time, no job
needed), when the device returns it (`borrow_return` online, or its offline
deactivation token through the admin) or when an admin ends it here (the
device keeps its lease: nothing can reach it).

The rules proper are the functions below, over one license's state; the
`Borrowing` class only wires them to the clock, the codec and the store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lls.clock import rfc3339
from lls.domain.bindings import check_bindings
from lls.domain.licensing import NOT_FOUND
from lls.domain.models import (
    AuthStatus,
    EndReason,
    OfflineActivation,
    OfflineGrant,
    Outcome,
    Reason,
)
from lls.domain.offline import Offline, _save
from lls.domain.records import AppendEvent, Record
from lls.domain.state import LicenseState
from lls.errors import NotFound

BORROW = "borrow"


@dataclass(frozen=True, slots=True)
class BorrowOutcome:
    """A borrow's answer: the refusal (outcome not ok), or the grant and whether it was capped."""

    outcome: Outcome
    grant: OfflineGrant | None = None
    capped: bool = False


# -- the rules, over one license's state ------------------------------------------------


def borrow_lease_end(state: LicenseState, now: float, borrow_s: int) -> tuple[float, bool]:
    """When a borrow asked for `borrow_s` seconds ends, and whether that was shortened.

    The earliest of now + borrow_s, now + borrowMaxSeconds and the license's end:
    a request over the maximum is capped, not refused.
    """
    wanted = now + borrow_s
    end = min(wanted, now + state.license.borrow_max_s)
    expires = state.expires_at()
    if expires is not None:
        end = min(end, expires)
    return end, end < wanted


def live_borrows(state: LicenseState, auth_context: str, now: float) -> list[OfflineActivation]:
    """The borrowed seats `auth_context` holds on this license now (one, or none)."""
    return [
        a
        for a in state.offline.values()
        if a.kind == BORROW and a.auth_context == auth_context and a.live(now)
    ]


def borrowed_seats(
    activations: Mapping[str, OfflineActivation], now: float
) -> list[OfflineActivation]:
    """Every borrowed seat still held, for the admin."""
    return [a for a in activations.values() if a.kind == BORROW and a.live(now)]


def _borrow_event(
    kind: str, activation: OfflineActivation, now: float, **data: object
) -> AppendEvent:
    return AppendEvent(
        at=now,
        type=kind,
        license=activation.license,
        auth_context=activation.auth_context,
        data={
            "activationId": activation.id,
            "kind": BORROW,
            "leaseExpiresAt": rfc3339(activation.lease_expires_at),
            **data,
        },
    )


class Borrowing(Offline):
    """borrow, its online return, and an admin's end of a borrowed seat."""

    async def borrow(
        self,
        token: str,
        product_codes: Sequence[str] | None,
        auth_context: str,
        borrow_s: int,
        device_keys: Mapping[str, object],
        nonce: str | None = None,
    ) -> BorrowOutcome:
        """Turn the caller's live session into a seat borrowed until the capped lease end.

        `device_keys` is the device's public JWKS (Ed25519 + X25519): the token is
        encrypted to it and its deactivation token must be signed by it; keys no token
        can be sealed to are refused (BAD_DEVICE_KEY) before anything changes.
        """
        state = self.licenses.get(token)
        if state is None:
            return BorrowOutcome(NOT_FOUND)
        device = self.codec.read_device_keys(device_keys)
        if device is None:
            return BorrowOutcome(self._refuse(state, Reason.BAD_DEVICE_KEY))
        device_kid, keys = device
        now = self._observe_clock()
        if self.tampered:
            return BorrowOutcome(await self._clock_refusal(state))
        refusal, product = self._check(state, product_codes, now)
        if refusal is None:
            reason = check_bindings(state, auth_context, self.environments)
            refusal = self._refuse(state, reason) if reason is not None else None
        if refusal is None and state.license.borrow_max_s <= 0:
            refusal = self._refuse(state, Reason.BORROW_NOT_ALLOWED)
        if refusal is not None:
            return BorrowOutcome(refusal)
        self.store.check_writable()
        out: list[Record] = []
        session = self._live(state, auth_context, now, out)
        if session is None:
            await self._commit(out)
            return BorrowOutcome(self._refuse(state, Reason.NO_ACTIVE_SESSION))
        end, capped = borrow_lease_end(state, now, borrow_s)
        activation = OfflineActivation(
            id=os.urandom(12).hex(),
            license=state.license.token,
            auth_context=auth_context,
            device_kid=device_kid,
            device_keys=keys,
            nonce=nonce or os.urandom(18).hex(),
            activated_at=now,
            lease_expires_at=end,
            kind=BORROW,
        )
        outcome = self._offline_outcome(state, product)
        # Sealed before memory changes: nothing below can fail half-way.
        sealed = self.codec.seal_response(activation, outcome, activation.nonce, now)
        # A device borrows one seat of a license: an earlier borrow it still holds ends.
        for earlier in live_borrows(state, auth_context, now):
            earlier.deactivated_at = now
            out.append(_save(earlier))
            out.append(_borrow_event("offline.deactivated", earlier, now, by="superseded"))
        # The session's seat becomes the borrowed seat in this one step: no one can take it.
        self._end(state, session, EndReason.BORROWED, now, out)
        state.offline[activation.id] = activation
        self.offline_by_id[activation.id] = activation
        self.changed.add(activation.license)
        out.append(_save(activation))
        out.append(
            _borrow_event(
                "offline.activated",
                activation,
                now,
                sessionId=session.id,
                requestedSeconds=borrow_s,
                capped=capped,
            )
        )
        await self._commit(out)  # durable before the answer: the seat survives a restart
        return BorrowOutcome(outcome, OfflineGrant(activation, sealed), capped)

    async def borrow_return(self, token: str, auth_context: str) -> Outcome:
        """Give the caller's borrowed seat back early; Success also when it holds none."""
        state = self.licenses.get(token)
        if state is None:
            return NOT_FOUND
        now = self._observe_clock()
        held = live_borrows(state, auth_context, now)
        if held:
            self.store.check_writable()
            out: list[Record] = []
            for activation in held:
                activation.deactivated_at = now
                self.changed.add(activation.license)
                out.append(_save(activation))
                out.append(_borrow_event("offline.deactivated", activation, now, by="device"))
            await self._commit(out)
        return Outcome(status=AuthStatus.SUCCESS, license=state.license)

    def borrowed(self) -> list[OfflineActivation]:
        """The borrowed seats held now (the admin's view)."""
        return borrowed_seats(self.offline_by_id, self.clock.now())

    def is_borrow(self, activation_id: str) -> bool:
        activation = self.offline_by_id.get(activation_id)
        return activation is not None and activation.kind == BORROW

    async def end_borrow(self, activation_id: str) -> OfflineActivation:
        """An admin frees a borrowed seat here now; the device keeps its lease until it ends."""
        activation = self.offline_by_id.get(activation_id)
        now = self.clock.now()
        if activation is None or activation.kind != BORROW or not activation.live(now):
            raise NotFound(f"no borrowed seat with id {activation_id!r}")
        self.store.check_writable()
        activation.deactivated_at = now
        self.changed.add(activation.license)
        await self._commit(
            [_save(activation), _borrow_event("offline.deactivated", activation, now, by="admin")]
        )
        return activation
