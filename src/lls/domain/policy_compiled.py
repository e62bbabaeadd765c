"""A policy compiled against the pool: what the hot path reads to decide in microseconds.

Groups become bits of an int (a device's *mask* is the set of groups it belongs
to), each rule becomes masks and small tuples, and every license gets the tuple
of rules that govern it (by token, pool `id`, or a product it covers) — built
once per pool import or policy reload, so a decision never scans rules or
licenses. Which groups a device is in is matched once per (authContext,
address) and cached in a bounded dict. A `GroupTally` counts what devices of
each mask hold (seats of a license, or units of one feature), kept up to date by
the rules as seats and units are taken and freed, so a decision never walks
the holders either.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import socket
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lls.domain.models import License
from lls.domain.policy import Group, Limits, Network, Policy, Rule

if TYPE_CHECKING:
    from lls.domain.policy_summary import Summary

MEMBERSHIP_CACHE = 65_536  # (authContext, address) pairs remembered; about 10 MB at most
MAX_WARNINGS = 50  # pool-dependent warnings listed one by one; the rest are counted
NO_ID_LABEL = "this license"  # a license without a pool `id`: its token is never shown


@dataclass(frozen=True, slots=True)
class CompiledLimits:
    """Reserves and caps over group bits (indices into `CompiledPolicy.group_names`)."""

    reserve: tuple[tuple[int, int], ...]  # (group index, seats or units kept), reserve > 0
    reserve_mask: int
    reserve_total: int
    max: tuple[tuple[int, int], ...]  # (group index, at most)
    max_mask: int
    # With few reserving groups, every cut (subset of them, its reserve) for König's
    # formula of the matching: a handful of integer sums instead of a max-flow.
    cuts: tuple[tuple[int, int], ...] = ()


MAX_CUT_GROUPS = 4  # up to 16 cuts; more reserving groups in one rule use the max-flow


def limits_of(
    reserve: Iterable[tuple[int, int]], caps: Iterable[tuple[int, int]]
) -> CompiledLimits:
    """Limits over group indices: reserves (> 0 kept) and caps, with their masks and cuts."""
    kept = tuple((i, n) for i, n in reserve if n > 0)
    caps = tuple(caps)
    mask = bits(i for i, _ in kept)
    cuts: list[tuple[int, int]] = []
    if len(kept) <= MAX_CUT_GROUPS:
        for size in range(len(kept) + 1):
            for chosen in itertools.combinations(kept, size):
                cuts.append((bits(i for i, _ in chosen), sum(n for _, n in chosen)))
    return CompiledLimits(
        reserve=kept,
        reserve_mask=mask,
        reserve_total=sum(n for _, n in kept),
        max=caps,
        max_mask=bits(i for i, _ in caps),
        cuts=tuple(cuts),
    )


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule as masks; shared by every license it governs."""

    name: str
    exclude_mask: int
    include_mask: int  # 0: everyone may (no include list)
    seats: CompiledLimits | None
    features: dict[str, CompiledLimits]  # floating feature code -> its limits


@dataclass(slots=True)
class CompiledPolicy:
    """The policy in force, ready for decisions: rules per license, group matching."""

    policy: Policy
    group_names: tuple[str, ...]
    by_license: dict[str, tuple[CompiledRule, ...]]  # only licenses some rule governs
    labels: dict[str, str]  # token -> the name a message shows (pool `id`, else NO_ID_LABEL)
    warnings: tuple[str, ...] = ()
    _globs: tuple[tuple[int, re.Pattern[str]], ...] = ()
    _networks: tuple[tuple[int, tuple[tuple[int, int, int], ...]], ...] = ()  # (v, net, mask)
    _cache: dict[Hashable, int] = field(default_factory=dict)
    _summaries: dict[str, Summary] = field(default_factory=dict)  # by token, made on first use
    _by_rules: dict[tuple[int, ...], Summary] = field(default_factory=dict)  # shared ones

    @property
    def groups(self) -> int:
        return len(self.group_names)

    def summary(self, token: str, rules: tuple[CompiledRule, ...]) -> Summary:
        """The merged rules of `token` (licenses governed by the same rules share one)."""
        found = self._summaries.get(token)
        if found is None:
            key = tuple(id(r) for r in rules)
            found = self._by_rules.get(key)
            if found is None:
                from lls.domain.policy_summary import summary_of  # it imports this module

                found = self._by_rules[key] = summary_of(rules)
            self._summaries[token] = found
        return found

    def label(self, token: str) -> str:
        return self.labels.get(token, NO_ID_LABEL)

    def mask_of(self, auth_context: str, address: str | None) -> int:
        """The groups of a device as bits; cached, so a known device costs one dict lookup.

        Without network groups the address cannot matter, so only authContext is
        the key (more hits). The cache drops its oldest entry when full.
        """
        key: Hashable = (auth_context, address) if self._networks else auth_context
        mask = self._cache.get(key)
        if mask is None:
            mask = self._match(auth_context, address)
            if len(self._cache) >= MEMBERSHIP_CACHE:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = mask
        return mask

    def _match(self, auth_context: str, address: str | None) -> int:
        mask = 0
        for bit, pattern in self._globs:
            if pattern.match(auth_context):
                mask |= bit
        if self._networks and address:
            ip = _ip_number(address)
            if ip is not None:
                for bit, ranges in self._networks:
                    if any(ip[0] == v and ip[1] & m == n for v, n, m in ranges):
                        mask |= bit
        return mask

    def groups_in(self, mask: int) -> list[str]:
        """The names of the groups in `mask`, in file order."""
        return [name for i, name in enumerate(self.group_names) if mask >> i & 1]


_MAPPED = 0xFFFF << 32  # ::ffff:a.b.c.d


def _ip_number(address: str) -> tuple[int, int] | None:
    """(4 or 6, the address as an int): inet_pton is ~10x cheaper than `ipaddress` on a miss.
    A zone (`fe80::1%eth0`) is dropped; an IPv4-mapped IPv6 address counts as IPv4."""
    text = address.removeprefix("ip:").split("%", 1)[0]
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except OSError:
        pass
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except OSError:
        return None
    if value >> 32 == 0xFFFF:
        return 4, value ^ _MAPPED
    return 6, value


def compile_policy(policy: Policy, licenses: Iterable[License]) -> CompiledPolicy:
    """The rules of `policy` per license of the pool, and the matchers of its groups."""
    names = tuple(policy.groups)
    index = {name: i for i, name in enumerate(names)}
    rules = [(rule, _compile_rule(rule, index)) for rule in policy.rules]
    by_token: dict[str, License] = {}
    by_id: dict[str, list[str]] = {}
    by_product: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for lic in licenses:
        by_token[lic.token] = lic
        pool_id = lic.id
        if pool_id:
            labels[lic.token] = pool_id
            by_id.setdefault(pool_id, []).append(lic.token)
        for code in lic.product_codes:
            by_product.setdefault(code, []).append(lic.token)
    governed: dict[str, list[CompiledRule]] = {}
    warnings = _Warnings()
    for rule, compiled in rules:
        tokens = _governed(rule, by_token, by_id, by_product)
        if not tokens:
            warnings.add(f"{rule.name} (line {rule.line}) governs no license of the pool")
        for token in tokens:
            governed.setdefault(token, []).append(compiled)
            lic = by_token[token]
            if compiled.seats is not None and compiled.seats.reserve_total > lic.seats:
                warnings.add(
                    f"{rule.name} (line {rule.line}) reserves {compiled.seats.reserve_total}"
                    f" seats of {labels.get(token, 'a license without an id')}, which has"
                    f" {lic.seats}: the reserved groups share its seats, nobody else gets one"
                )
        for code in rule.features:
            if not any(_floating(by_token[t], code) for t in tokens):
                warnings.add(
                    f"{rule.name} (line {rule.line}): no license it governs has a floating"
                    f" feature {code}; its limits apply to floating features only"
                )
    return CompiledPolicy(
        policy=policy,
        group_names=names,
        by_license={token: tuple(found) for token, found in governed.items()},
        labels=labels,
        warnings=policy.warnings + warnings.done(),
        _globs=tuple(
            (1 << index[g.name], _glob_matcher(g))
            for g in policy.groups.values()
            if g.auth_contexts
        ),
        _networks=tuple(
            (1 << index[g.name], tuple(_range(n) for n in g.networks))
            for g in policy.groups.values()
            if g.networks
        ),
    )


def _range(network: Network) -> tuple[int, int, int]:
    return network.version, int(network.network_address), int(network.netmask)


def _governed(
    rule: Rule,
    by_token: dict[str, License],
    by_id: dict[str, list[str]],
    by_product: dict[str, list[str]],
) -> list[str]:
    """The tokens a rule governs, each once, in pool order of discovery."""
    found: dict[str, None] = {}
    for entry in rule.licenses:
        if entry in by_token:
            found[entry] = None
        for token in by_id.get(entry, ()):
            found[token] = None
    for code in rule.products:
        for token in by_product.get(code, ()):
            found[token] = None
    return list(found)


def _floating(lic: License, code: str) -> bool:
    return any(f.code == code and f.type == "floating" for f in lic.features)


def _compile_limits(limits: Limits, index: dict[str, int]) -> CompiledLimits | None:
    if limits.empty:
        return None
    return limits_of(
        ((index[g], n) for g, n in limits.reserve.items()),
        ((index[g], n) for g, n in limits.max.items()),
    )


def _compile_rule(rule: Rule, index: dict[str, int]) -> CompiledRule:
    features = {}
    for code, limits in rule.features.items():
        compiled = _compile_limits(limits, index)
        if compiled is not None:
            features[code] = compiled
    return CompiledRule(
        name=rule.name,
        exclude_mask=bits(index[g] for g in rule.exclude),
        include_mask=bits(index[g] for g in rule.include),
        seats=_compile_limits(rule.seats, index),
        features=features,
    )


def bits(indices: Iterable[int]) -> int:
    mask = 0
    for i in indices:
        mask |= 1 << i
    return mask


def _glob_matcher(group: Group) -> re.Pattern[str]:
    """One regex for all of a group's globs (fnmatch rules, case-sensitive, whole string)."""
    return re.compile("|".join(fnmatch.translate(g) for g in group.auth_contexts))


class _Warnings:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.more = 0

    def add(self, text: str) -> None:
        if len(self.items) < MAX_WARNINGS:
            self.items.append(text)
        else:
            self.more += 1

    def done(self) -> tuple[str, ...]:
        tail = [f"... and {self.more} more warnings"] if self.more else []
        return (*self.items, *tail)


class GroupTally:
    """Seats (or units of one feature) held, by the holders' group mask and by group.

    The rules add a holder's mask when it takes a seat or units and remove it
    when they are freed; a tally belongs to one compiled policy (its bits) and is
    rebuilt from the holders when the policy is reloaded (`tally_of`).
    """

    __slots__ = ("by_group", "by_mask")

    def __init__(self, groups: int) -> None:
        self.by_mask: dict[int, int] = {}  # mask -> seats or units held; mask 0 is not kept
        self.by_group: list[int] = [0] * groups

    def add(self, mask: int, units: int = 1) -> None:
        if mask == 0 or units <= 0:
            return
        self.by_mask[mask] = self.by_mask.get(mask, 0) + units
        self._per_group(mask, units)

    def remove(self, mask: int, units: int = 1) -> None:
        """Forget `units` held under `mask` (never more than were added)."""
        units = min(units, self.by_mask.get(mask, 0))
        if units <= 0:
            return
        left = self.by_mask[mask] - units
        if left:
            self.by_mask[mask] = left
        else:
            del self.by_mask[mask]
        self._per_group(mask, -units)

    def _per_group(self, mask: int, units: int) -> None:
        while mask:
            low = mask & -mask
            self.by_group[low.bit_length() - 1] += units
            mask ^= low


def tally_of(policy: CompiledPolicy, holders: Iterable[tuple[str, str | None, int]]) -> GroupTally:
    """A tally of (authContext, client address, seats or units) holders, e.g. after a reload."""
    tally = GroupTally(policy.groups)
    for auth_context, address, units in holders:
        tally.add(policy.mask_of(auth_context, address), units)
    return tally
