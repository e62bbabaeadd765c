"""The policy in force on the hot path: compiled, with what each group holds per license.

The session, feature and offline rules make one call here per decision
(`seat_refusal`, `unit_refusal`) in the same synchronous step as the seat or
unit count, and one call per change of holders (`started`, `ended`, `units`,
`moved`), so a decision never walks the holders: a `GroupTally` per governed
license (and per governed floating feature) is kept up to date instead. Which
groups a session's holder is in is remembered per session id (its address may
change on a refresh, and the tally must forget what it added). Offline leases
end by the clock, silently, so they are added to a copy of the tally at decision
time, only for a license that has some.

A policy reload or a pool import recompiles and rebuilds every tally from the
sessions in memory (`rebuild`): nothing ends a live session, only the next
grant is governed. Without a policy every call is one attribute test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lls.domain.models import Session
from lls.domain.policy import Policy, PolicyRefusal
from lls.domain.policy_compiled import CompiledPolicy, GroupTally, compile_policy
from lls.domain.policy_decide import seat_refusal, unit_refusal

if TYPE_CHECKING:  # state.py holds a PolicySeats: only the type is needed here
    from lls.domain.state import LicenseState


@dataclass(slots=True)
class _Holders:
    """What devices of each group hold on one governed license."""

    seats: GroupTally
    units: dict[str, GroupTally]  # floating feature code (governed by a rule) -> units
    masks: dict[str, int] = field(default_factory=dict)  # session id -> its holder's groups


class PolicySeats:
    """The compiled policy and the tallies of the licenses it governs."""

    def __init__(self) -> None:
        self.policy: Policy | None = None
        self.compiled: CompiledPolicy | None = None
        self._holders: dict[str, _Holders] = {}

    def replace(self, policy: Policy | None, states: Mapping[str, LicenseState]) -> None:
        """Put `policy` in force (a reload): compile it against the pool, count the holders."""
        self.policy = policy
        self.rebuild(states)

    def rebuild(self, states: Mapping[str, LicenseState]) -> None:
        """Compile again and recount from the sessions in memory (pool import, start, rebuild)."""
        if self.policy is None:
            self.compiled, self._holders = None, {}
            return
        compiled = compile_policy(self.policy, (s.license for s in states.values()))
        holders: dict[str, _Holders] = {}
        for token, rules in compiled.by_license.items():
            state = states.get(token)
            if state is None:
                continue
            codes = {code for rule in rules for code in rule.features}
            h = holders[token] = _Holders(
                GroupTally(compiled.groups), {code: GroupTally(compiled.groups) for code in codes}
            )
            for session in state.sessions.values():
                mask = compiled.mask_of(session.auth_context, session.client_address)
                h.masks[session.id] = mask
                h.seats.add(mask)
                for code, quantity in state.held.get(session.id, {}).items():
                    if code in h.units:
                        h.units[code].add(mask, quantity)
        self.compiled, self._holders = compiled, holders

    # -- decisions ------------------------------------------------------------------------

    def seat_refusal(
        self,
        state: LicenseState,
        auth_context: str,
        address: str | None,
        held: int,
        now: float,
    ) -> PolicyRefusal | None:
        """Whether the policy refuses this device one more seat (`held` of `seats` taken)."""
        compiled = self.compiled
        if compiled is None:
            return None
        token = state.license.token
        h = self._holders.get(token)
        if h is None:
            return None
        tally = h.seats
        if state.offline:  # offline leases end by the clock: count the live ones now
            tally = _copy(tally, compiled.groups)
            for activation in state.offline.values():
                if activation.live(now):
                    tally.add(compiled.mask_of(activation.auth_context, None))
        device = compiled.mask_of(auth_context, address)
        return seat_refusal(compiled, token, state.license.seats, held, device, tally)

    def unit_refusal(
        self, state: LicenseState, session: Session, code: str, count: int, quantity: int
    ) -> PolicyRefusal | None:
        """Whether the policy refuses `session` `quantity` more units of floating `code`."""
        compiled = self.compiled
        if compiled is None:
            return None
        token = state.license.token
        h = self._holders.get(token)
        if h is None:
            return None
        mask = h.masks.get(session.id)
        if mask is None:
            mask = compiled.mask_of(session.auth_context, session.client_address)
        tally = h.units.get(code) or GroupTally(compiled.groups)
        in_use = state.in_use.get(code, 0)
        return unit_refusal(compiled, token, code, count, in_use, mask, quantity, tally)

    # -- changes of holders -----------------------------------------------------------------

    def started(self, session: Session) -> None:
        """A session took a seat."""
        if self.compiled is None:
            return
        h = self._holders.get(session.license)
        if h is not None:
            mask = self.compiled.mask_of(session.auth_context, session.client_address)
            h.masks[session.id] = mask
            h.seats.add(mask)

    def ended(self, session: Session, units: Mapping[str, int] | None) -> None:
        """A session ended: its seat and the `units` it held are free."""
        if self.compiled is None:
            return
        h = self._holders.get(session.license)
        if h is None:
            return
        mask = h.masks.pop(session.id, None)
        if mask is None:
            return
        h.seats.remove(mask)
        for code, quantity in (units or {}).items():
            if code in h.units:
                h.units[code].remove(mask, quantity)

    def units(self, session: Session, code: str, delta: int) -> None:
        """A session took (delta > 0) or returned (delta < 0) units of floating `code`."""
        if self.compiled is None:
            return
        h = self._holders.get(session.license)
        if h is None or code not in h.units:
            return
        mask = h.masks.get(session.id)
        if mask is None:
            return
        if delta > 0:
            h.units[code].add(mask, delta)
        else:
            h.units[code].remove(mask, -delta)

    def moved(self, session: Session, units: Mapping[str, int] | None) -> None:
        """A session's holder calls from a new address: its groups may have changed."""
        if self.compiled is None:
            return
        h = self._holders.get(session.license)
        if h is None:
            return
        old = h.masks.get(session.id)
        new = self.compiled.mask_of(session.auth_context, session.client_address)
        if old is None or old == new:
            return
        h.masks[session.id] = new
        h.seats.remove(old)
        h.seats.add(new)
        for code, quantity in (units or {}).items():
            if code in h.units:
                h.units[code].remove(old, quantity)
                h.units[code].add(new, quantity)


def _copy(tally: GroupTally, groups: int) -> GroupTally:
    out = GroupTally(groups)
    out.by_mask = dict(tally.by_mask)
    out.by_group = list(tally.by_group)
    return out
