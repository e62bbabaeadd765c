"""Compiling a policy against the pool: which rules govern which license, and warnings."""

from __future__ import annotations

from lls.domain.models import License
from lls.domain.policy_compiled import GroupTally, tally_of
from lls.protocol.shapes import FeatureGrant
from tests.domain.policy_kit import compiled, lic

GROUPS = "groups:\n  lab: {authContexts: ['lab-*']}\n  qa: {authContexts: ['qa-*']}\n"


def named(token: str, pool_id: str, **fields: object) -> License:
    return lic(token, id=pool_id, **fields)


def test_compile_rule_by_product_governs_every_license_covering_one() -> None:
    cad, pro, both = (
        lic("A", product_codes=("CAD",)),
        lic("B", product_codes=("PRO",)),
        lic("C", product_codes=("PRO", "CAD")),
    )
    policy = compiled(GROUPS + "rules:\n  - {products: [CAD], max: {lab: 1}}\n", cad, pro, both)
    assert sorted(policy.by_license) == ["A", "C"]


def test_compile_rule_by_pool_id_governs_that_license_and_labels_it() -> None:
    policy = compiled(
        GROUPS + "rules:\n  - {licenses: [trio], max: {lab: 1}}\n", named("T-1", "trio")
    )
    assert list(policy.by_license) == ["T-1"] and policy.label("T-1") == "trio"


def test_compile_license_without_id_is_never_named_by_its_token() -> None:
    policy = compiled(
        GROUPS + "rules:\n  - {licenses: [SECRET-TOKEN], reserve: {lab: 5}}\n",
        lic("SECRET-TOKEN", seats=2),
    )
    assert policy.label("SECRET-TOKEN") == "this license"
    assert not any("SECRET-TOKEN" in w for w in policy.warnings)
    assert any(
        "reserves 5 seats of a license without an id, which has 2" in w for w in policy.warnings
    )


def test_compile_two_rules_on_one_license_are_both_kept_in_file_order() -> None:
    policy = compiled(
        GROUPS
        + "rules:\n  - {name: a, products: [PRO], max: {lab: 1}}\n"
        + "  - {name: b, licenses: [A], max: {qa: 1}}\n",
        lic("A"),
    )
    assert [r.name for r in policy.by_license["A"]] == ["a", "b"]


def test_compile_warns_about_rules_and_features_the_pool_does_not_have() -> None:
    policy = compiled(
        GROUPS
        + "rules:\n  - {licenses: [GONE], max: {lab: 1}}\n"
        + "  - licenses: [A]\n    features: {API_CALLS: {max: {qa: 1}}}\n",
        lic("A", features=(FeatureGrant("API_CALLS", "consumption", 100),)),
    )
    assert policy.warnings[-2:] == (
        "rule 1 (line 5) governs no license of the pool",
        "rule 2 (line 6): no license it governs has a floating feature API_CALLS;"
        " its limits apply to floating features only",
    )


def test_compile_many_warnings_are_counted_past_fifty() -> None:
    licenses = [lic(f"L{n}", seats=1) for n in range(80)]
    policy = compiled(GROUPS + "rules:\n  - {products: [PRO], reserve: {lab: 2}}\n", *licenses)
    pool_warnings = policy.warnings[len(policy.policy.warnings) :]
    assert len(pool_warnings) == 51 and pool_warnings[-1] == "... and 30 more warnings"


def test_tally_counts_by_mask_and_by_group_and_never_goes_negative() -> None:
    tally = GroupTally(2)
    tally.add(0b11, 2)
    tally.add(0b01)
    tally.remove(0b11)
    tally.remove(0b10, 5)  # never added: ignored
    assert (tally.by_mask, tally.by_group) == ({0b11: 1, 0b01: 1}, [2, 1])


def test_tally_of_holders_uses_the_policy_groups() -> None:
    policy = compiled(GROUPS + "rules:\n  - {products: [PRO], max: {lab: 1}}\n", lic("A"))
    tally = tally_of(policy, [("lab-1", None, 1), ("qa-1", None, 2), ("pc", None, 1)])
    assert tally.by_group == [1, 2] and tally.by_mask == {1: 1, 2: 2}
