"""The policy's decisions on seats and feature units: reserve, max, exclude, include."""

from __future__ import annotations

import pytest

from lls.domain import policy_compiled
from lls.domain.models import License
from lls.domain.policy import PolicyReason, PolicyRefusal
from lls.domain.policy_compiled import tally_of
from lls.domain.policy_decide import seat_refusal
from tests.domain.policy_kit import LIMIT, Seats, Units, compiled, lic, reason

GROUPS = """\
groups:
  lab:         {authContexts: ["lab-*"], networks: ["10.1.2.0/24", "fd00:1:2::/48"]}
  qa:          {authContexts: ["qa-*", "*-qa"]}
  contractors: {authContexts: ["ext-*"]}
  blocked:     {authContexts: ["stolen-pc"]}
"""


def seats(rules: str, license: License | None = None) -> Seats:
    license = license or lic("KEY-TRIO")
    return Seats(compiled(GROUPS + "rules:\n" + rules, license), license)


def test_license_without_rule_is_not_governed() -> None:
    trio = seats("  - {licenses: [OTHER], max: {lab: 0}}\n")
    refusal = seat_refusal(trio.policy, "KEY-TRIO", 3, 0, 0b1, trio.tally)
    assert refusal is None and "KEY-TRIO" not in trio.policy.by_license


def test_reserve_keeps_exactly_the_reserved_seat_for_its_group() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 1}}\n")
    taken = [trio.take("pc-1"), trio.take("pc-2")]
    refused = trio.take("pc-3")
    assert taken == [None, None] and isinstance(refused, PolicyRefusal)
    assert refused.reason is PolicyReason.SEAT_RESERVED
    assert refused.message == "the free seats of this license are reserved for lab"
    assert trio.take("lab-7") is None


def test_reserve_message_names_the_license_by_its_pool_id() -> None:
    named = lic("KEY-TRIO", seats=1, id="trio")
    trio = seats("  - {licenses: [trio], reserve: {lab: 1}}\n", named)
    refused = trio.take("pc-1")
    assert isinstance(refused, PolicyRefusal)
    assert refused.message == "the free seats of trio are reserved for lab"


def test_reserve_lets_members_take_more_than_their_reservation_while_seats_are_free() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 1}}\n")
    results = [trio.take("lab-1"), trio.take("lab-2"), trio.take("lab-3")]
    assert results == [None, None, None]


def test_reserve_for_two_groups_a_device_in_both_meets_one() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 1, qa: 1}}\n")
    both = trio.take("lab-x-qa")  # in lab (lab-*) and qa (*-qa): meets one reservation
    others = [trio.take("pc-1"), reason(trio.take("pc-2"))]  # one seat is kept for the other
    assert (both, others) == (None, [None, "SEAT_RESERVED"])


def test_reserve_for_two_groups_holder_in_both_counts_where_it_helps() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 1, qa: 1}}\n", lic("KEY-TRIO", seats=4))
    trio.take("lab-x-qa")
    trio.take("pc-1")
    results = [trio.take("lab-1"), trio.take("qa-1")]  # either way the both-holder meets the other
    assert results == [None, None]


def test_reserve_refusal_names_only_the_groups_still_waiting() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 1, qa: 1}}\n")
    trio.take("lab-1")
    trio.take("pc-1")
    refused = trio.take("pc-2")
    assert isinstance(refused, PolicyRefusal)
    assert refused.message == "the free seats of this license are reserved for qa"


def test_reserve_member_whose_reservation_is_met_is_treated_as_others() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 1, qa: 1}}\n")
    taken = [trio.take("lab-1"), trio.take("lab-2")]
    third = trio.take("lab-3")  # lab's reservation is met; qa's is not: the last seat is qa's
    assert (taken, reason(third), trio.take("qa-1")) == ([None, None], "SEAT_RESERVED", None)


def test_reserve_above_the_seats_shares_them_among_reserving_groups() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 2, qa: 2}}\n")
    results = [trio.take("lab-1"), reason(trio.take("pc-1")), trio.take("qa-1"), trio.take("lab-2")]
    assert results == [None, "SEAT_RESERVED", None, None]
    assert reason(trio.take("qa-2")) == LIMIT  # no seat left at all: the count answers


def test_no_seat_free_is_left_to_the_count_not_reported_as_reserved() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 1}}\n", lic("KEY-TRIO", seats=1))
    trio.take("lab-1")
    assert reason(trio.take("lab-2")) == LIMIT


def test_max_caps_a_group_and_the_freed_seat_is_theirs_again() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], max: {contractors: 1}}\n")
    trio.take("ext-1")
    refused = trio.take("ext-2")
    assert isinstance(refused, PolicyRefusal) and refused.group == "contractors"
    assert refused.message == "contractors already hold 1 of 1 seats"
    trio.free("ext-1")
    assert trio.take("ext-2") is None


def test_max_is_checked_even_when_no_seat_is_free() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], max: {contractors: 1}}\n", lic("KEY-TRIO", seats=1))
    trio.take("ext-1")
    assert reason(trio.take("ext-2")) == "GROUP_LIMIT_REACHED"


def test_max_checks_every_capped_group_of_the_device() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], max: {lab: 5, qa: 1}}\n")
    trio.take("qa-1")
    refused = trio.take("lab-2-qa")  # lab has room, qa does not
    assert isinstance(refused, PolicyRefusal) and refused.group == "qa"


def test_max_zero_refuses_the_group_outright() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], max: {contractors: 0}}\n")
    assert reason(trio.take("ext-1")) == "GROUP_LIMIT_REACHED"


def test_exclude_refuses_even_with_seats_free() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], exclude: [blocked]}\n")
    refused = trio.take("stolen-pc")
    assert isinstance(refused, PolicyRefusal) and refused.reason is PolicyReason.EXCLUDED_BY_POLICY
    assert refused.message == "blocked may not use this license" and not refused.may_change


def test_include_lets_only_its_groups_in() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], include: [lab, qa]}\n")
    refused = trio.take("pc-1")
    assert isinstance(refused, PolicyRefusal)
    assert refused.message == "only lab and qa may use this license"
    assert (trio.take("lab-1"), trio.take("qa-1")) == (None, None)


def test_exclude_beats_include() -> None:
    text = GROUPS.replace('["stolen-pc"]', '["lab-stolen"]')
    trio = Seats(
        compiled(
            text + "rules:\n  - {licenses: [KEY-TRIO], include: [lab], exclude: [blocked]}\n",
            lic("KEY-TRIO"),
        ),
        lic("KEY-TRIO"),
    )
    assert (reason(trio.take("lab-stolen")), trio.take("lab-1")) == ("EXCLUDED_BY_POLICY", None)


def test_exclusion_is_reported_before_a_cap_or_a_reservation() -> None:
    trio = seats(
        "  - {licenses: [KEY-TRIO], max: {blocked: 0}}\n  - {products: [PRO], exclude: [blocked]}\n"
    )
    assert reason(trio.take("stolen-pc")) == "EXCLUDED_BY_POLICY"


def test_every_rule_that_governs_the_license_must_allow() -> None:
    trio = seats(
        "  - {name: by-token, licenses: [KEY-TRIO], max: {contractors: 2}}\n"
        "  - {name: by-product, products: [PRO], max: {contractors: 1}}\n"
    )
    trio.take("ext-1")
    refused = trio.take("ext-2")
    assert isinstance(refused, PolicyRefusal) and refused.rule == "by-product"


@pytest.mark.parametrize(
    ("address", "in_lab"),
    [
        ("10.1.2.7", True),
        ("ip:10.1.2.7", True),
        ("::ffff:10.1.2.7", True),
        ("fd00:1:2:3::9", True),
        ("10.1.3.7", False),
        ("fd00:1:3::9", False),
        ("not an address", False),
        (None, False),
    ],
)
def test_network_group_matches_client_address(address: str | None, in_lab: bool) -> None:
    trio = seats("  - {licenses: [KEY-TRIO], include: [lab]}\n")
    assert (trio.take("pc-1", address) is None) is in_lab


def test_authcontext_globs_are_case_sensitive_and_whole() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], include: [lab]}\n")
    results = [trio.take("LAB-1"), trio.take("my-lab-1"), trio.take("lab-1")]
    assert [reason(r) for r in results] == ["EXCLUDED_BY_POLICY", "EXCLUDED_BY_POLICY", None]


def test_tighter_policy_keeps_holders_and_governs_only_the_next_grant() -> None:
    loose = seats("  - {licenses: [KEY-TRIO], max: {contractors: 3}}\n")
    for n in (1, 2):
        loose.take(f"ext-{n}")
    tight = seats("  - {licenses: [KEY-TRIO], max: {contractors: 1}}\n")
    tight.holders = dict(loose.holders)
    tight.tally = tally_of(tight.policy, [(a, None, 1) for a in tight.holders])
    refused = tight.take("ext-3")
    assert isinstance(refused, PolicyRefusal) and len(tight.holders) == 2
    assert refused.message == "contractors already hold 2 of 1 seats"


def test_pool_shrunk_below_holders_refuses_by_count_and_keeps_holders() -> None:
    trio = seats("  - {licenses: [KEY-TRIO], reserve: {lab: 1}}\n", lic("KEY-TRIO", seats=5))
    for n in range(4):
        trio.take(f"pc-{n}")
    trio.license = lic("KEY-TRIO", seats=2)
    assert (reason(trio.take("lab-1")), len(trio.holders)) == (LIMIT, 4)


def units(rules: str, count: int = 3) -> Units:
    license = lic(
        "KEY-TRIO", features=(lic("x").features[0].__class__("EXPORT_PDF", "floating", count),)
    )
    return Units(compiled(GROUPS + "rules:\n" + rules, license), license)


def test_feature_reserve_keeps_units_for_the_group() -> None:
    pdf = units("  - licenses: [KEY-TRIO]\n    features: {EXPORT_PDF: {reserve: {lab: 1}}}\n")
    taken = pdf.checkout("pc-1", 2)
    refused = pdf.checkout("pc-2")
    assert taken is None and isinstance(refused, PolicyRefusal)
    assert refused.message == "the free EXPORT_PDF units of this license are reserved for lab"
    assert pdf.checkout("lab-1") is None


def test_feature_reserve_counts_quantities_not_holders() -> None:
    pdf = units("  - licenses: [KEY-TRIO]\n    features: {EXPORT_PDF: {reserve: {lab: 2}}}\n", 5)
    pdf.checkout("lab-1", 1)  # 4 free, 1 of them still lab's
    results = [reason(pdf.checkout("pc-1", 4)), pdf.checkout("pc-1", 3), pdf.checkout("lab-2", 1)]
    assert results == ["SEAT_RESERVED", None, None]


def test_feature_max_counts_units_asked_for() -> None:
    pdf = units("  - licenses: [KEY-TRIO]\n    features: {EXPORT_PDF: {max: {contractors: 2}}}\n")
    pdf.checkout("ext-1")
    refused = pdf.checkout("ext-2", 2)
    assert isinstance(refused, PolicyRefusal)
    assert refused.message == "contractors already hold 1 of 2 EXPORT_PDF units (2 asked for)"
    assert pdf.checkout("ext-2", 1) is None


def test_feature_more_than_free_is_left_to_the_count() -> None:
    pdf = units("  - licenses: [KEY-TRIO]\n    features: {EXPORT_PDF: {reserve: {lab: 1}}}\n")
    assert reason(pdf.checkout("pc-1", 4)) == "FEATURE_EXHAUSTED"


def test_feature_checkout_by_excluded_device_is_refused() -> None:
    pdf = units("  - {licenses: [KEY-TRIO], exclude: [blocked]}\n")
    assert reason(pdf.checkout("stolen-pc")) == "EXCLUDED_BY_POLICY"


def test_feature_without_limits_is_not_governed_by_seat_limits() -> None:
    pdf = units("  - {licenses: [KEY-TRIO], max: {contractors: 0}}\n")
    assert pdf.checkout("ext-1", 3) is None


def test_membership_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy_compiled, "MEMBERSHIP_CACHE", 8)
    trio = seats("  - {licenses: [KEY-TRIO], include: [lab]}\n")
    masks = [trio.policy.mask_of(f"lab-{n}", f"10.9.0.{n}") for n in range(100)]
    assert set(masks) == {1} and len(trio.policy._cache) == 8
