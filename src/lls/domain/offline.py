"""Offline activation (sync-format §4): seats for devices that cannot reach the server.

The admin carries tokens between the device and the server; every token is
verified before it is read, an offline seat counts against `seats` until its
lease ends or the device gives it back, and the same request applied twice
gives the same activation.
"""

from __future__ import annotations

import asyncio
import os

from lls.clock import rfc3339
from lls.domain.bindings import bind_on_start, check_bindings
from lls.domain.features import Features
from lls.domain.models import (
    MESSAGES,
    OfflineActivation,
    OfflineGrant,
    Outcome,
    Reason,
)
from lls.domain.ports import OfflineCodec
from lls.domain.records import AppendEvent, Record, SaveOffline
from lls.domain.state import LicenseState
from lls.errors import NotFound, Refused


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
    )


class Offline(Features):
    """Offline activate, refresh and deactivate on top of the session and feature rules."""

    codec: OfflineCodec
    offline_by_id: dict[str, OfflineActivation]

    def _offline_outcome(self, state: LicenseState, product: str | None) -> Outcome:
        """The ValidationResponse fields of an offline grant: boolean features only."""
        success = self._success(state, product, None)
        booleans = tuple(f for f in success.features if f.type == "boolean")
        return Outcome(
            status=success.status,
            license=success.license,
            product_code=product,
            license_expires_at=success.license_expires_at,
            features=booleans,
        )

    def _lease_end(self, state: LicenseState, now: float) -> float:
        end = now + state.license.offline_lease_s
        expires = state.expires_at()
        return end if expires is None else min(end, expires)

    def _admit(
        self,
        state: LicenseState,
        product_codes: tuple[str, ...] | None,
        auth_context: str,
        now: float,
    ) -> str | None:
        """The license checks of an online activate, raised as 422 refusals."""
        if self.tampered:
            raise _refused(Reason.CLOCK_TAMPERED)
        refusal, product = self._check(state, product_codes, now)
        if refusal is not None:
            assert refusal.reason is not None
            raise _refused(refusal.reason, refusal.message)
        reason = check_bindings(state, auth_context, self.environments)
        if reason is not None:
            raise _refused(reason)
        return product

    async def offline_activate(self, token: str) -> OfflineGrant:
        """Grant (or re-issue) an offline seat for a device's request token."""
        request = await asyncio.to_thread(self.codec.open_request, token)
        state = self.licenses.get(request.license_token)
        if state is None:
            raise _refused(Reason.LICENSE_NOT_FOUND)
        now = self._observe_clock()
        await self._record_tamper()
        product = self._admit(state, request.product_codes, request.auth_context, now)
        outcome = self._offline_outcome(state, product)
        for existing in state.offline.values():
            same_device = (existing.auth_context, existing.device_kid) == (
                request.auth_context,
                request.device_kid,
            )
            if same_device and existing.live(now):
                return OfflineGrant(
                    existing, self.codec.seal_response(existing, outcome, request.nonce, now)
                )
        self.store.check_writable()
        out: list[Record] = []
        used = self._seats_used(state, now)
        if used >= state.license.seats:
            self._purge_expired(state, now, out)
            used = self._seats_used(state, now)
        # The admin carries the request: its address is not the device's (no network groups).
        denied = self.policy_seats.seat_refusal(state, request.auth_context, None, used, now)
        if denied is not None:
            await self._commit(out)
            raise Refused(denied.message, code=denied.reason.value)
        if used >= state.license.seats:
            await self._commit(out)
            raise _refused(Reason.SESSION_LIMIT_REACHED)
        activation = OfflineActivation(
            id=os.urandom(12).hex(),
            license=state.license.token,
            auth_context=request.auth_context,
            device_kid=request.device_kid,
            device_keys=request.device_keys,
            nonce=request.nonce,
            activated_at=now,
            lease_expires_at=self._lease_end(state, now),
        )
        bind_on_start(state, request.auth_context, self.environments, now, out)
        outcome = self._offline_outcome(state, product)  # a temporary license has just started
        state.offline[activation.id] = activation
        self.offline_by_id[activation.id] = activation
        self.changed.add(activation.license)
        out.append(_save(activation))
        out.append(self._offline_event("offline.activated", activation, now))
        sealed = self.codec.seal_response(activation, outcome, request.nonce, now)
        await self._commit(out)
        return OfflineGrant(activation, sealed)

    async def offline_refresh(self, activation_id: str) -> OfflineGrant:
        """A new lease counted from now: before expiry, or after it while the seat is still free."""
        activation = self.offline_by_id.get(activation_id)
        if activation is None:
            raise NotFound(f"no offline activation {activation_id!r}")
        if activation.deactivated_at is not None:
            raise Refused("this offline activation was deactivated", code="OFFLINE_DEACTIVATED")
        state = self.licenses.get(activation.license)
        if state is None:
            raise _refused(Reason.LICENSE_NOT_FOUND)
        now = self._observe_clock()
        await self._record_tamper()
        product = self._admit(state, None, activation.auth_context, now)
        if not activation.live(now) and self._seats_used(state, now) >= state.license.seats:
            raise _refused(
                Reason.SESSION_LIMIT_REACHED,
                "the lease ended and its seat was taken since; activate again when one is free",
            )
        if not activation.live(now):  # a lapsed lease takes a seat again: the policy decides
            used = self._seats_used(state, now)
            denied = self.policy_seats.seat_refusal(state, activation.auth_context, None, used, now)
            if denied is not None:
                raise Refused(denied.message, code=denied.reason.value)
        self.store.check_writable()
        activation.lease_expires_at = self._lease_end(state, now)
        self.changed.add(activation.license)
        out: list[Record] = [
            _save(activation),
            self._offline_event("offline.refreshed", activation, now),
        ]
        sealed = self.codec.seal_refresh(activation, self._offline_outcome(state, product), now)
        await self._commit(out)
        return OfflineGrant(activation, sealed)

    async def offline_deactivate(self, token: str) -> OfflineActivation:
        """Free the seat of a device's deactivation token; applying it twice is harmless."""
        known = {a.device_kid: a.device_keys for a in self.offline_by_id.values()}
        doc = await asyncio.to_thread(self.codec.open_deactivation, token, list(known.values()))
        activation = self.offline_by_id.get(doc.activation_id)
        if activation is None:
            raise Refused(f"no offline activation {doc.activation_id!r}", code="UNKNOWN_ACTIVATION")
        if doc.signer_kid != activation.device_kid or doc.auth_context != activation.auth_context:
            raise Refused(
                "the deactivation token is not signed by the device that holds this activation",
                code="NOT_THE_ACTIVATION_DEVICE",
            )
        if activation.deactivated_at is not None:
            return activation
        self.store.check_writable()
        now = self.clock.now()
        activation.deactivated_at = now
        self.changed.add(activation.license)
        if self.queues.has_waiters(activation.license):
            self._freed.add(activation.license)
        await self._commit(
            [_save(activation), self._offline_event("offline.deactivated", activation, now)]
        )
        return activation

    def _offline_event(self, kind: str, activation: OfflineActivation, now: float) -> AppendEvent:
        return AppendEvent(
            at=now,
            type=kind,
            license=activation.license,
            auth_context=activation.auth_context,
            data={
                "activationId": activation.id,
                "leaseExpiresAt": rfc3339(activation.lease_expires_at),
            },
        )
