"""The policy in force and what each group holds now: for `GET /admin/v1/policy`,
`lls policy show` and (phase 2) the dashboard and `lls licenses`.

`PolicyInForce` keeps the validated policy and when and from where it was
loaded; a reload swaps it whole, and listeners (the licensing core, the seat
queue) hear of it so they recompile and wake waiters. The usage view is
computed from the in-memory state only, like the rest of the read model, and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lls.domain.policy import Policy
from lls.domain.policy_compiled import CompiledPolicy, CompiledRule, compile_policy, tally_of
from lls.domain.policy_decide import matched
from lls.domain.state import LicenseState


class PolicyInForce:
    """The policy the server enforces (None: no policy), swapped whole by a reload."""

    def __init__(self, policy: Policy | None = None, path: str = "", at: float | None = None):
        self.policy = policy
        self.path = path  # the file it was read from ("" when there is none)
        self.loaded_at = at
        self._listeners: list[Callable[[Policy | None], None]] = []

    def subscribe(self, listener: Callable[[Policy | None], None]) -> None:
        """Call `listener` with the new policy after every replace (recompile, wake the queue)."""
        self._listeners.append(listener)

    def replace(self, policy: Policy | None, path: str, at: float) -> None:
        """Put `policy` in force; live sessions stay, only the next grant is governed by it."""
        self.policy, self.path, self.loaded_at = policy, path, at
        for listener in self._listeners:
            listener(policy)

    def compile(self, states: Iterable[LicenseState]) -> CompiledPolicy | None:
        """The policy compiled against these licenses (the pool's), or None without one."""
        if self.policy is None:
            return None
        return compile_policy(self.policy, (s.license for s in states))


@dataclass(frozen=True, slots=True)
class FeatureUse:
    code: str
    count: int | None
    in_use: int
    groups: dict[str, int]  # units held by devices of each group the rules name


@dataclass(frozen=True, slots=True)
class LicenseUse:
    """One governed license: its seats, what each named group holds, what is kept free."""

    token: str
    label: str
    seats: int
    held: int
    rules: tuple[str, ...]
    groups: dict[str, int]  # seats held by devices of each group its rules name
    reserved: int  # seats kept free right now for reservations not yet met
    features: tuple[FeatureUse, ...]


def policy_usage(
    compiled: CompiledPolicy, states: Mapping[str, LicenseState], now: float
) -> list[LicenseUse]:
    """What each group holds on every license the policy governs, from live holders."""
    out = []
    for token in compiled.by_license:
        state = states.get(token)
        if state is not None:
            use = license_use(compiled, state, now)
            if use is not None:
                out.append(use)
    return out


def license_use(compiled: CompiledPolicy, state: LicenseState, now: float) -> LicenseUse | None:
    """What each group the rules name holds on one license (None: no rule governs it)."""
    token = state.license.token
    rules = compiled.by_license.get(token)
    if rules is None:
        return None
    live = [s for s in state.sessions.values() if s.expires_at > now]
    holders = [(s.auth_context, _address(s), 1) for s in live]
    holders += [(a.auth_context, None, 1) for a in state.offline.values() if a.live(now)]
    tally = tally_of(compiled, holders)
    named = _named(compiled, rules)
    reserved = 0
    for rule in rules:
        if rule.seats is not None and rule.seats.reserve_total:
            unmet = rule.seats.reserve_total - matched(rule.seats, tally.by_mask)
            reserved = max(reserved, min(unmet, max(0, state.license.seats - len(holders))))
    features = []
    for feature in state.license.features:
        if feature.type != "floating" or not any(feature.code in r.features for r in rules):
            continue
        units = [
            (s.auth_context, _address(s), state.held.get(s.id, {}).get(feature.code, 0))
            for s in live
        ]
        unit_tally = tally_of(compiled, units)
        features.append(
            FeatureUse(
                feature.code,
                feature.count,
                state.in_use.get(feature.code, 0),
                {g: unit_tally.by_group[i] for g, i in named},
            )
        )
    return LicenseUse(
        token=token,
        label=compiled.label(token),
        seats=state.license.seats,
        held=len(holders),
        rules=tuple(r.name for r in rules),
        groups={g: tally.by_group[i] for g, i in named},
        reserved=reserved,
        features=tuple(features),
    )


def _address(session: object) -> str | None:
    """The session's client address once sessions carry it (issue 12 adds `client_address`)."""
    address = getattr(session, "client_address", None)
    return address if isinstance(address, str) else None


def _named(compiled: CompiledPolicy, rules: Iterable[CompiledRule]) -> list[tuple[str, int]]:
    """(group, index) of every group the rules name, in file order."""
    mask = 0
    for rule in rules:
        mask |= rule.exclude_mask | rule.include_mask
        for limits in (rule.seats, *rule.features.values()):
            if limits is not None:
                mask |= limits.reserve_mask | limits.max_mask
    return [(g, i) for i, g in enumerate(compiled.group_names) if mask >> i & 1]
