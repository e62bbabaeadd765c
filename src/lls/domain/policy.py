"""The seat policy (issue 16): groups of devices, and rules that reserve, cap, exclude or
include them on licenses — FlexNet's options file (RESERVE, MAX, EXCLUDE, INCLUDE) for LLS.

This module holds the values only: `policy_file` reads them from YAML (with the
line of every fault), `policy_compiled` turns them into the form the hot path
uses, `policy_decide` takes the decisions. Why the values are kept apart from the
compiled form: a policy is validated once, without the pool (seats and licenses
come from the pool and change with every import), and compiled again against
each new pool without re-reading the file.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Bounds of a policy file: generous for a real site, small enough that a mistaken or
# hostile file cannot make validation, compilation or a decision slow.
MAX_GROUPS = 256
MAX_RULES = 1000
MAX_PATTERNS = 1000  # authContext globs or networks in one group
MAX_ENTRIES = 10_000  # licenses or products named by one rule
MAX_UNITS = 1_000_000  # a reserve or max (seats or feature units)
MAX_TEXT = 256  # an authContext glob (authContext itself is 1–256 characters)


class PolicyReason(enum.StrEnum):
    """The refusal reasons a policy adds to api.md §2 (phase 2 adds them to `Reason`)."""

    SEAT_RESERVED = "SEAT_RESERVED"
    GROUP_LIMIT_REACHED = "GROUP_LIMIT_REACHED"
    EXCLUDED_BY_POLICY = "EXCLUDED_BY_POLICY"


@dataclass(frozen=True, slots=True)
class Group:
    """Devices by authContext glob (fnmatch, case-sensitive) or client network (CIDR)."""

    name: str
    auth_contexts: tuple[str, ...]
    networks: tuple[Network, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Limits:
    """Seats (or units of one floating feature) kept for groups, and caps per group."""

    reserve: dict[str, int] = field(default_factory=dict)
    max: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.reserve.values()) and not self.max


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: which licenses it governs (by token or pool `id`, or by product code)."""

    name: str  # `name:` from the file, else "rule N" (1-based)
    line: int
    licenses: tuple[str, ...]  # license tokens, or the pool licenses' non-secret `id`
    products: tuple[str, ...]  # the rule governs every license that covers one of these
    seats: Limits
    exclude: tuple[str, ...]
    include: tuple[str, ...]
    features: dict[str, Limits]  # floating feature code -> its limits


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated policy file: groups in file order, rules in file order."""

    groups: dict[str, Group]
    rules: tuple[Rule, ...]
    source: str = ""  # where it came from, for messages
    sha256: str = ""  # of the file's bytes: shows which file is in force
    warnings: tuple[str, ...] = ()  # legal but probably not what was meant


@dataclass(frozen=True, slots=True)
class PolicyRefusal:
    """Why the policy refuses a grant: a reason code, a message for people, the rule."""

    reason: PolicyReason
    message: str
    rule: str
    group: str | None = None

    @property
    def may_change(self) -> bool:
        """False for an exclusion: waiting for a seat cannot help (the queue answers at once)."""
        return self.reason is not PolicyReason.EXCLUDED_BY_POLICY


def names(groups: list[str] | tuple[str, ...]) -> str:
    """`lab`, `lab and qa`, `lab, qa and ci`: group names as a message shows them."""
    if len(groups) <= 1:
        return "".join(groups)
    return f"{', '.join(groups[:-1])} and {groups[-1]}"
