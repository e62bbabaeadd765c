"""Helpers of the policy tests: licenses, compiled policies, and one license's seats as the
session rules will hold them (the seat count, then the policy, in one synchronous step)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

from lls.domain.models import License
from lls.domain.policy import PolicyRefusal
from lls.domain.policy_compiled import CompiledPolicy, GroupTally, compile_policy
from lls.domain.policy_decide import seat_refusal, unit_refusal
from lls.domain.policy_file import parse_policy
from lls.protocol.shapes import FeatureGrant
from tests.domain.license_kit import make_license

DAY = 86_400


def lic(token: str, **fields: Any) -> License:
    features = (FeatureGrant("EXPORT_PDF", "floating", 3),)
    return make_license(token, **{"seats": 3, "features": features, **fields})


def compiled(text: str, *licenses: License) -> CompiledPolicy:
    return compile_policy(parse_policy(textwrap.dedent(text), "policy.yaml"), licenses)


LIMIT = "SESSION_LIMIT_REACHED"
EXHAUSTED = "FEATURE_EXHAUSTED"


@dataclass
class Seats:
    """One license's holders, decided as the session rules will: the policy first (its
    exclusions and caps answer even when no seat is free), then the seat count."""

    policy: CompiledPolicy
    license: License
    holders: dict[str, int] = field(default_factory=dict)  # authContext -> mask
    tally: GroupTally = field(init=False)

    def __post_init__(self) -> None:
        self.tally = GroupTally(self.policy.groups)

    def take(self, auth: str, address: str | None = None) -> PolicyRefusal | str | None:
        """None: granted (or the device's own live session); else the refusal."""
        if auth in self.holders:
            return None
        mask = self.policy.mask_of(auth, address)
        token, seats = self.license.token, self.license.seats
        refusal = seat_refusal(self.policy, token, seats, len(self.holders), mask, self.tally)
        if refusal is not None:
            return refusal
        if len(self.holders) >= seats:
            return LIMIT
        self.holders[auth] = mask
        self.tally.add(mask)
        return None

    def free(self, auth: str) -> None:
        self.tally.remove(self.holders.pop(auth))


@dataclass
class Units:
    """One floating feature's units held per device, checked out as the rules will."""

    policy: CompiledPolicy
    license: License
    code: str = "EXPORT_PDF"
    held: dict[str, int] = field(default_factory=dict)
    tally: GroupTally = field(init=False)

    def __post_init__(self) -> None:
        self.tally = GroupTally(self.policy.groups)

    @property
    def count(self) -> int:
        return next(f.count or 0 for f in self.license.features if f.code == self.code)

    def checkout(self, auth: str, quantity: int = 1) -> PolicyRefusal | str | None:
        mask = self.policy.mask_of(auth, None)
        in_use = sum(self.held.values())
        refusal = unit_refusal(
            self.policy,
            self.license.token,
            self.code,
            self.count,
            in_use,
            mask,
            quantity,
            self.tally,
        )
        if refusal is not None:
            return refusal
        if in_use + quantity > self.count:
            return EXHAUSTED
        self.held[auth] = self.held.get(auth, 0) + quantity
        self.tally.add(mask, quantity)
        return None

    def give_back(self, auth: str, quantity: int = 1) -> None:
        self.held[auth] -= quantity
        self.tally.remove(self.policy.mask_of(auth, None), quantity)


def reason(result: PolicyRefusal | str | None) -> str | None:
    return result.reason.value if isinstance(result, PolicyRefusal) else result
