"""Feature checkout and return (api.md §4): floating units, consumption counters, booleans."""

from __future__ import annotations

from lls.domain.housekeeping import Housekeeping
from lls.domain.models import MESSAGES, AuthStatus, Feature, FeatureOutcome, Reason, Session
from lls.domain.records import AppendEvent, Record, SetConsumed, SetHeld
from lls.domain.state import LicenseState


def _feature(state: LicenseState, code: str) -> Feature | None:
    for feature in state.license.features:
        if feature.code == code:
            return feature
    return None


def _available(state: LicenseState, feature: Feature) -> int | None:
    if feature.count is None:
        return None
    used = state.in_use if feature.type == "floating" else state.consumed
    return max(0, feature.count - used.get(feature.code, 0))


class Features(Housekeeping):
    """Checkout/return on top of the session rules: units live and die with their session."""

    def _feature_refusal(
        self,
        code: str,
        reason: Reason,
        state: LicenseState | None = None,
        message: str | None = None,
    ) -> FeatureOutcome:
        status = AuthStatus.LOCKED if reason is Reason.LICENSE_LOCKED else AuthStatus.FAILED
        feature = _feature(state, code) if state is not None else None
        return FeatureOutcome(
            status=status,
            feature_code=code,
            reason=reason,
            message=message or MESSAGES[reason],
            available=_available(state, feature) if state is not None and feature else None,
        )

    def _feature_context(
        self, token: str, auth_context: str, code: str, out: list[Record], *, checkout: bool
    ) -> tuple[FeatureOutcome | None, LicenseState | None, Session | None, Feature | None]:
        """The checks both calls share: license, clock, live session, feature exists.

        The caller's own session, when its window has passed, is ended here (into `out`).
        """
        state = self.licenses.get(token)
        if state is None:
            return self._feature_refusal(code, Reason.LICENSE_NOT_FOUND), None, None, None
        now = self._observe_clock()
        if checkout and self.tampered:
            return self._feature_refusal(code, Reason.CLOCK_TAMPERED, state), None, None, None
        refusal, _ = self._check(state, None, now)
        if refusal is not None:
            assert refusal.reason is not None
            return (
                self._feature_refusal(code, refusal.reason, state, refusal.message),
                None,
                None,
                None,
            )
        self.store.check_writable()
        session = self._live(state, auth_context, now, out)
        if session is None:
            return self._feature_refusal(code, Reason.NO_ACTIVE_SESSION, state), None, None, None
        feature = _feature(state, code)
        if feature is None:
            return self._feature_refusal(code, Reason.FEATURE_NOT_FOUND, state), None, None, None
        return None, state, session, feature

    def _figures(
        self, state: LicenseState, session: Session, feature: Feature, moved: int
    ) -> FeatureOutcome:
        return FeatureOutcome(
            status=AuthStatus.SUCCESS,
            feature_code=feature.code,
            quantity=moved,
            checked_out=state.held.get(session.id, {}).get(feature.code, 0),
            available=_available(state, feature),
            expires_at=session.expires_at,
        )

    async def checkout(
        self, token: str, auth_context: str, code: str, quantity: int
    ) -> FeatureOutcome:
        """Take `quantity` units for the caller's live session, all or nothing."""
        out: list[Record] = []
        refusal, state, session, feature = self._feature_context(
            token, auth_context, code, out, checkout=True
        )
        if refusal is not None:
            if refusal.reason is Reason.CLOCK_TAMPERED:
                await self._record_tamper()
            await self._commit(out)
            return refusal
        assert state is not None and session is not None and feature is not None
        if feature.type == "boolean":
            return self._figures(state, session, feature, 0)  # on: nothing to hold
        now = self.clock.now()
        self._free_others_units(state, session, now, out)  # units of expired sessions come back
        available = _available(state, feature) or 0
        if feature.type == "floating" and feature.count is not None:
            denied = self.policy_seats.unit_refusal(state, session, code, feature.count, quantity)
            if denied is not None:
                await self._commit(out)
                return self._feature_refusal(
                    code, Reason(denied.reason.value), state, denied.message
                )
        if quantity > available:
            await self._commit(out)
            return self._feature_refusal(
                code,
                Reason.FEATURE_EXHAUSTED,
                state,
                f"{quantity} units of {code} asked for, {available} left",
            )
        if feature.type == "floating":
            held = state.held.setdefault(session.id, {})
            held[code] = held.get(code, 0) + quantity
            state.in_use[code] = state.in_use.get(code, 0) + quantity
            self.policy_seats.units(session, code, quantity)
            out.append(SetHeld(session.id, code, held[code]))
        else:
            state.consumed[code] = state.consumed.get(code, 0) + quantity
            out.append(SetConsumed(token, code, state.consumed[code]))
        state.refresh_views()
        self.changed.add(token)
        out.append(
            AppendEvent(
                at=now,
                type="feature.checkout",
                license=token,
                auth_context=auth_context,
                data={"feature": code, "quantity": quantity, "sessionId": session.id},
            )
        )
        await self._commit(out)
        return self._figures(state, session, feature, quantity)

    async def return_units(
        self, token: str, auth_context: str, code: str, quantity: int
    ) -> FeatureOutcome:
        """Give back up to `quantity` floating units the caller's session holds."""
        out: list[Record] = []
        refusal, state, session, feature = self._feature_context(
            token, auth_context, code, out, checkout=False
        )
        if refusal is not None:
            await self._commit(out)
            return refusal
        assert state is not None and session is not None and feature is not None
        if feature.type == "consumption":
            return self._feature_refusal(code, Reason.FEATURE_NOT_RETURNABLE, state)
        self._free_others_units(state, session, self.clock.now(), out)
        held = state.held.get(session.id, {})
        moved = min(quantity, held.get(code, 0))
        if moved == 0:
            await self._commit(out)
            return self._figures(state, session, feature, 0)
        held[code] -= moved
        state.in_use[code] -= moved
        self.policy_seats.units(session, code, -moved)
        if held[code] == 0:
            del held[code]
        state.refresh_views()
        self.changed.add(token)
        out.append(SetHeld(session.id, code, held.get(code, 0)))
        out.append(
            AppendEvent(
                at=self.clock.now(),
                type="feature.return",
                license=token,
                auth_context=auth_context,
                data={"feature": code, "quantity": moved, "sessionId": session.id},
            )
        )
        await self._commit(out)
        return self._figures(state, session, feature, moved)
