"""Properties of the policy's decisions over random groups, rules and seat traffic."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from lls.domain.policy import PolicyRefusal
from lls.domain.policy_compiled import CompiledLimits, GroupTally, limits_of
from lls.domain.policy_decide import matched, rule_by_rule, seat_refusal
from tests.domain.policy_kit import LIMIT, Seats, compiled, lic, reason

GROUPS = 3


def limits(reserve: dict[int, int], *, cuts: bool = True) -> CompiledLimits:
    """The compiled limits; without `cuts`, matching takes the max-flow path."""
    lim = limits_of(sorted(reserve.items()), ())
    return lim if cuts else replace(lim, cuts=())


def min_cut(lim: CompiledLimits, holders: list[int]) -> int:
    """Max b-matching by König: min over subsets A of reserving groups of
    (reservations in A) + (holders in some reserving group outside A)."""
    groups = [g for g, _ in lim.reserve]
    best = None
    for size in range(len(groups) + 1):
        for chosen in itertools.combinations(groups, size):
            a = sum(1 << g for g in chosen)
            cost = sum(r for g, r in lim.reserve if g in chosen)
            cost += sum(1 for h in holders if h & lim.reserve_mask & ~a)
            best = cost if best is None else min(best, cost)
    return best or 0


def exhaustive(lim: CompiledLimits, holders: list[int]) -> int:
    """Max matching by trying every assignment of holders to reserving groups."""
    options = [[None, *(g for g, _ in lim.reserve if h >> g & 1)] for h in holders]
    best = 0
    for choice in itertools.product(*options):
        used = {g: choice.count(g) for g, _ in lim.reserve}
        if all(used[g] <= r for g, r in lim.reserve):
            best = max(best, sum(used.values()))
    return best


reserves = st.dictionaries(st.integers(0, GROUPS - 1), st.integers(0, 4), max_size=GROUPS)
masks = st.lists(st.integers(0, 2**GROUPS - 1), max_size=7)


@settings(deadline=None)
@given(reserve=reserves, holders=masks)
def test_matched_equals_min_cut_and_exhaustive_search(
    reserve: dict[int, int], holders: list[int]
) -> None:
    lim = limits(reserve)
    by_mask: dict[int, int] = {}
    for h in holders:
        if h:
            by_mask[h] = by_mask.get(h, 0) + 1
    flow = matched(limits(reserve, cuts=False), by_mask)
    assert matched(lim, by_mask) == flow == min_cut(lim, holders) == exhaustive(lim, holders)


def policy_text(
    reserve: dict[int, int], caps: dict[int, int], exclude: list[int], include: list[int]
) -> str:
    groups = "".join(f"  g{i}: {{authContexts: ['*.g{i}.*']}}\n" for i in range(GROUPS))
    rule = (
        f"  - licenses: [L]\n"
        f"    reserve: {{{', '.join(f'g{g}: {n}' for g, n in reserve.items())}}}\n"
        f"    max: {{{', '.join(f'g{g}: {n}' for g, n in caps.items())}}}\n"
        f"    exclude: [{', '.join(f'g{g}' for g in exclude)}]\n"
        f"    include: [{', '.join(f'g{g}' for g in include)}]\n"
    )
    return f"groups:\n{groups}rules:\n{rule}"


def device(n: int, mask: int) -> str:
    return f"d{n}." + "".join(f"g{i}." for i in range(GROUPS) if mask >> i & 1)


operations = st.lists(
    st.tuples(st.sampled_from(["take", "free"]), st.integers(0, 2**GROUPS - 1), st.integers(0, 30)),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    seats=st.integers(1, 6),
    reserve=reserves,
    caps=st.dictionaries(st.integers(0, GROUPS - 1), st.integers(0, 4), max_size=GROUPS),
    exclude=st.lists(st.integers(0, GROUPS - 1), max_size=1, unique=True),
    include=st.lists(st.integers(0, GROUPS - 1), max_size=2, unique=True),
    ops=operations,
)
def test_traffic_keeps_every_promise_of_the_policy(
    seats: int,
    reserve: dict[int, int],
    caps: dict[int, int],
    exclude: list[int],
    include: list[int],
    ops: list[tuple[str, int, int]],
) -> None:
    license = lic("L", seats=seats)
    state = Seats(compiled(policy_text(reserve, caps, exclude, include), license), license)
    lim = limits(reserve)

    def unmet() -> int:
        return lim.reserve_total - min_cut(lim, list(state.holders.values()))

    for op, mask, n in ops:
        auth = device(n, mask)
        if op == "free":
            if auth in state.holders:
                state.free(auth)
            continue
        if auth in state.holders:
            continue
        free_before, unmet_before = seats - len(state.holders), unmet()
        result = state.take(auth)
        if result is None:  # granted: every promise holds for it
            assert len(state.holders) <= seats
            assert not any(mask >> g & 1 for g in exclude)
            assert not include or any(mask >> g & 1 for g in include)
            for g, cap in caps.items():
                if mask >> g & 1:
                    assert sum(1 for h in state.holders.values() if h >> g & 1) <= cap
            if free_before >= unmet_before:  # reservations that could be met still can
                assert seats - len(state.holders) >= unmet()
            continue
        if isinstance(result, PolicyRefusal) and result.reason.value == "SEAT_RESERVED":
            # Justified: taking it would leave the reservations uncovered, and it is not
            # the device's own reservation.
            state.holders[auth] = mask
            after = unmet()
            del state.holders[auth]
            assert after == unmet_before and free_before - 1 < after
        elif isinstance(result, PolicyRefusal) and result.reason.value == "GROUP_LIMIT_REACHED":
            assert result.group is not None
            g = int(result.group[1:])
            assert sum(1 for h in state.holders.values() if h >> g & 1) >= caps[g]
        elif result == LIMIT:
            assert len(state.holders) >= seats


@settings(max_examples=100, deadline=None)
@given(
    seats=st.integers(1, 8), reserve=st.lists(st.integers(0, 3), min_size=GROUPS, max_size=GROUPS)
)
def test_exactly_the_reserved_seats_stay_free_for_their_groups(
    seats: int, reserve: list[int]
) -> None:
    wanted = {g: r for g, r in enumerate(reserve)}
    if sum(reserve) > seats:
        return  # over-reservation is its own test
    license = lic("L", seats=seats)
    state = Seats(compiled(policy_text(wanted, {}, [], []), license), license)
    outsiders = [state.take(f"pc-{n}") for n in range(seats + 2)]
    granted = sum(1 for r in outsiders if r is None)
    members = [state.take(device(100 + n, 1 << g)) for g, r in wanted.items() for n in range(r)]
    assert granted == seats - sum(reserve) and all(r is None for r in members)
    assert reason(state.take(device(999, 0b111))) == LIMIT


@settings(max_examples=300, deadline=None)
@given(
    seats=st.integers(1, 6),
    rules=st.lists(
        st.tuples(
            st.dictionaries(st.integers(0, GROUPS - 1), st.integers(0, 3), max_size=GROUPS),
            st.dictionaries(st.integers(0, GROUPS - 1), st.integers(0, 4), max_size=GROUPS),
            st.lists(st.integers(0, GROUPS - 1), max_size=1, unique=True),
            st.lists(st.integers(0, GROUPS - 1), max_size=2, unique=True),
        ),
        min_size=1,
        max_size=3,
    ),
    holders=st.lists(st.integers(0, 2**GROUPS - 1), max_size=6),
    mask=st.integers(0, 2**GROUPS - 1),
)
def test_the_merged_fast_path_decides_as_the_rules_one_by_one(
    seats: int,
    rules: list[tuple[dict[int, int], dict[int, int], list[int], list[int]]],
    holders: list[int],
    mask: int,
) -> None:
    holders = holders[:seats]
    text = policy_text(*rules[0]) + "".join(
        policy_text(*rule).split("rules:\n", 1)[1] for rule in rules[1:]
    )
    license = lic("L", seats=seats)
    policy = compiled(text, license)
    tally = GroupTally(policy.groups)
    for held in holders:
        tally.add(held)
    rules_of = policy.by_license["L"]
    auth = device(99, mask)
    bits = policy.mask_of(auth, None)
    fast = seat_refusal(policy, "L", seats, len(holders), bits, tally)
    slow = rule_by_rule(policy, rules_of, "L", seats, len(holders), bits, tally)
    assert fast == slow
