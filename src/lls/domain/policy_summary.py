"""All the rules that govern one license, merged, for the fast path of a decision.

A grant that passes the merged form passes every rule (admitted by all, within the
least cap of each group, and no reservation the free seats would not cover), so
`policy_decide` asks rule by rule only to refuse — and to name the rule. Made on a
license's first decision and shared by licenses governed by the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from lls.domain.policy_compiled import CompiledLimits, CompiledRule, bits


@dataclass(frozen=True, slots=True)
class SummaryLimits:
    """The limits of all the rules governing a license, merged for the fast path: the
    least cap per group (a grant within it passes every rule's cap) and the largest
    reservation (free seats above it pass every rule's reserve)."""

    caps: tuple[tuple[int, int], ...]
    cap_mask: int
    reserve_max: int


@dataclass(frozen=True, slots=True)
class Summary:
    """All the rules that govern one license, merged: a grant that passes these passes
    every rule, so the decision needs the rules one by one only to refuse (and name one)."""

    exclude: int  # any of these groups is excluded by some rule
    includes: tuple[int, ...]  # the device must be in one group of each
    seats: SummaryLimits | None
    features: dict[str, SummaryLimits]


def summary_of(rules: tuple[CompiledRule, ...]) -> Summary:
    exclude = 0
    includes: list[int] = []
    for rule in rules:
        exclude |= rule.exclude_mask
        if rule.include_mask and rule.include_mask not in includes:
            includes.append(rule.include_mask)
    seats = _merge([r.seats for r in rules if r.seats is not None])
    codes = {code for r in rules for code in r.features}
    features = {
        code: _merge([r.features[code] for r in rules if code in r.features]) for code in codes
    }
    return Summary(exclude, tuple(includes), seats, {c: f for c, f in features.items() if f})


def _merge(limits: list[CompiledLimits]) -> SummaryLimits | None:
    if not limits:
        return None
    caps: dict[int, int] = {}
    for lim in limits:
        for i, cap in lim.max:
            caps[i] = min(cap, caps.get(i, cap))
    return SummaryLimits(
        caps=tuple(sorted(caps.items())),
        cap_mask=bits(caps),
        reserve_max=max(lim.reserve_total for lim in limits),
    )
