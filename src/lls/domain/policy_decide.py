"""The policy's decisions: may this device take a seat (or units) of this license now?

Pure functions over a compiled policy and a `GroupTally`; the session rules call
them in the same synchronous step as the seat count, so concurrent activates
still give exactly `seats` sessions, and the policy only ever narrows who gets
them — it can never grant a seat the count would refuse.

Semantics (docs/api.md §7 "Seat policy"):
- A device is in every group whose glob or network matches. Every rule that
  governs the license is checked; a grant must pass them all.
- exclude: a device in an excluded group gets nothing; include (non-empty):
  only devices in an included group get anything. Exclude wins over include.
- max: a device in a capped group is refused when that group already holds the
  cap (each capped group the device is in is checked).
- reserve: seats kept free for their group. A grant is allowed when, after it,
  the free seats still cover every reservation not yet met by holders of that
  group — or when the seat goes toward the device's own unmet reservation.
  A holder in several reserving groups meets one reservation seat, whichever
  lets the most be met (a small max-flow, run only when seats are tight).
- Over-reservation (reserves above the seats, e.g. after the pool shrank): the
  reserving groups share the seats first come, first served, and nobody else
  gets one while it lasts; never an error.
- Nothing here ends a live session: holders beyond a new cap or reservation
  are simply counted; only the next grant is governed. Extend and the refresh of
  a device's own live session are not grants and never consult the policy.
"""

from __future__ import annotations

from collections import deque

from lls.domain.policy import PolicyReason, PolicyRefusal, names
from lls.domain.policy_compiled import CompiledLimits, CompiledPolicy, CompiledRule, GroupTally
from lls.domain.policy_summary import Summary


def seat_refusal(
    policy: CompiledPolicy, token: str, seats: int, held: int, device: int, tally: GroupTally
) -> PolicyRefusal | None:
    """None when the policy lets `device` (a mask) take one more seat of `token`.

    `held` is the rule's own count (live sessions plus live offline seats); with
    no seat free at all the reservation check is left to the seat count, which
    refuses with SESSION_LIMIT_REACHED.
    """
    rules = policy.by_license.get(token)
    if rules is None:
        return None
    if _passes(policy.summary(token, rules), None, device, tally, seats - held, 1):
        return None  # the common case: every rule lets it (the loops below only name one)
    return rule_by_rule(policy, rules, token, seats, held, device, tally)


def rule_by_rule(
    policy: CompiledPolicy,
    rules: tuple[CompiledRule, ...],
    token: str,
    seats: int,
    held: int,
    device: int,
    tally: GroupTally,
) -> PolicyRefusal | None:
    """seat_refusal without the merged fast path: each rule in file order (the first that
    refuses names the refusal). Tests check that both always agree."""
    for rule in rules:
        refusal = _admission(policy, rule, token, device)
        if refusal is not None:
            return refusal
    for rule in rules:
        if rule.seats is not None:
            refusal = _limits(policy, rule, rule.seats, token, None, device, tally, seats - held, 1)
            if refusal is not None:
                return refusal
    return None


def unit_refusal(
    policy: CompiledPolicy,
    token: str,
    code: str,
    count: int,
    in_use: int,
    device: int,
    quantity: int,
    tally: GroupTally,
) -> PolicyRefusal | None:
    """None when the policy lets `device` check out `quantity` units of floating feature `code`.

    A rule's exclude/include also governs its licenses' features: an excluded
    device with a session from before a reload gets no new units either.
    """
    rules = policy.by_license.get(token)
    if rules is None:
        return None
    if _passes(policy.summary(token, rules), code, device, tally, count - in_use, quantity):
        return None
    for rule in rules:
        refusal = _admission(policy, rule, token, device)
        if refusal is not None:
            return refusal
    for rule in rules:
        limits = rule.features.get(code)
        if limits is not None:
            free = count - in_use
            refusal = _limits(policy, rule, limits, token, code, device, tally, free, quantity)
            if refusal is not None:
                return refusal
    return None


def _passes(
    summary: Summary, code: str | None, device: int, tally: GroupTally, free: int, quantity: int
) -> bool:
    """True when no rule can refuse: admitted by all, within every cap, and no reservation
    that the free seats (units) after the grant would not cover. False: ask rule by rule."""
    if device & summary.exclude:
        return False
    for include in summary.includes:
        if not device & include:
            return False
    limits = summary.seats if code is None else summary.features.get(code)
    if limits is None:
        return True
    if device & limits.cap_mask:
        by_group = tally.by_group
        for i, cap in limits.caps:
            if device >> i & 1 and by_group[i] + quantity > cap:
                return False
    return not limits.reserve_max or quantity > free or limits.reserve_max <= free - quantity


def _admission(
    policy: CompiledPolicy, rule: CompiledRule, token: str, device: int
) -> PolicyRefusal | None:
    if rule.exclude_mask & device:
        groups = policy.groups_in(rule.exclude_mask & device)
        return PolicyRefusal(
            PolicyReason.EXCLUDED_BY_POLICY,
            f"{names(groups)} may not use {policy.label(token)}",
            rule.name,
            groups[0],
        )
    if rule.include_mask and not rule.include_mask & device:
        return PolicyRefusal(
            PolicyReason.EXCLUDED_BY_POLICY,
            f"only {names(policy.groups_in(rule.include_mask))} may use {policy.label(token)}",
            rule.name,
        )
    return None


def _limits(
    policy: CompiledPolicy,
    rule: CompiledRule,
    limits: CompiledLimits,
    token: str,
    code: str | None,
    device: int,
    tally: GroupTally,
    free: int,
    quantity: int,
) -> PolicyRefusal | None:
    """max, then reserve, for `quantity` seats or units of which `free` are free now."""
    what = "seats" if code is None else f"{code} units"
    if limits.max_mask & device:
        for i, cap in limits.max:
            if device >> i & 1 and tally.by_group[i] + quantity > cap:
                group = policy.group_names[i]
                asked = f" ({quantity} asked for)" if quantity > 1 else ""
                return PolicyRefusal(
                    PolicyReason.GROUP_LIMIT_REACHED,
                    f"{group} already hold {tally.by_group[i]} of {cap} {what}{asked}",
                    rule.name,
                    group,
                )
    if not limits.reserve_total or quantity > free or limits.reserve_total <= free - quantity:
        return None  # no reserve, not enough anyway (the count refuses), or room for all
    base = matched(limits, tally.by_mask)
    unmet = limits.reserve_total - base
    if unmet <= free - quantity:
        return None
    own = device & limits.reserve_mask
    fill = matched(limits, tally.by_mask, own, quantity) - base if own else 0
    # Units toward the device's own unmet reservation are its; the rest must be truly free.
    if quantity - fill <= max(0, free - unmet):
        return None
    short = [policy.group_names[i] for i, r in limits.reserve if tally.by_group[i] < r] or [
        policy.group_names[i] for i, _ in limits.reserve
    ]
    others = [g for g in short if g not in policy.groups_in(device)] or short
    return PolicyRefusal(
        PolicyReason.SEAT_RESERVED,
        f"the free {what} of {policy.label(token)} are reserved for {names(others)}",
        rule.name,
        others[0],
    )


def matched(
    limits: CompiledLimits, by_mask: dict[int, int], extra_mask: int = 0, extra_units: int = 0
) -> int:
    """How many reserved seats (units) holders meet at most: each seat held meets one
    reservation seat of a group its holder is in (a b-matching, solved as a max flow
    from holders grouped by which reserving groups they are in, to those groups)."""
    supply: dict[int, int] = {}
    for mask, units in by_mask.items():
        sig = mask & limits.reserve_mask
        if sig:
            supply[sig] = supply.get(sig, 0) + units
    if extra_units and extra_mask & limits.reserve_mask:
        sig = extra_mask & limits.reserve_mask
        supply[sig] = supply.get(sig, 0) + extra_units
    if not supply:
        return 0
    if len(limits.reserve) == 1:
        return min(limits.reserve_total, sum(supply.values()))
    if limits.cuts:  # König: the least, over cuts, of reserve inside + holders reaching outside
        return min(
            cut + sum(units for sig, units in supply.items() if sig & ~inside)
            for inside, cut in limits.cuts
        )
    return _max_flow(list(supply.items()), limits.reserve)


def _max_flow(classes: list[tuple[int, int]], groups: tuple[tuple[int, int], ...]) -> int:
    """Edmonds–Karp on source → holder classes → reserving groups → sink (small graphs)."""
    m, k = len(classes), len(groups)
    left = [units for _, units in classes]  # supply not yet sent, per class
    room = [r for _, r in groups]  # reservation not yet met, per group
    flow = [[0] * k for _ in range(m)]
    edges = [[g for g, (bit, _) in enumerate(groups) if sig >> bit & 1] for sig, _ in classes]
    total = 0
    while True:
        # BFS over classes (0..m-1) and groups (m..m+k-1) in the residual graph.
        parent: dict[int, int] = {j: -1 for j in range(m) if left[j] > 0}
        queue = deque(parent)
        end = -1
        while queue and end < 0:
            node = queue.popleft()
            if node < m:
                for g in edges[node]:
                    if m + g not in parent:
                        parent[m + g] = node
                        if room[g] > 0:
                            end = m + g
                            break
                        queue.append(m + g)
            else:
                g = node - m
                for j in range(m):
                    if flow[j][g] > 0 and j not in parent:
                        parent[j] = node
                        queue.append(j)
        if end < 0:
            return total
        path = [end]
        while parent[path[-1]] != -1:
            path.append(parent[path[-1]])
        start = path[-1]
        push = min(left[start], room[end - m])
        for a, b in zip(path[1:], path[:-1], strict=True):  # a -> b along the path
            if a >= m:  # group a -> class b: undo flow class b -> group a
                push = min(push, flow[b][a - m])
        for a, b in zip(path[1:], path[:-1], strict=True):
            if a < m:
                flow[a][b - m] += push
            else:
                flow[b][a - m] -= push
        left[start] -= push
        room[end - m] -= push
        total += push
