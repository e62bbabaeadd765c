"""Reading a policy file: every fault refused with its line, the example file valid."""

from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest

from lls.domain.policy_file import PolicyFileError, glob_fault, parse_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "policy.example.yaml"

ISSUE_EXAMPLE = """\
groups:
  lab:         {authContexts: ["lab-*"], networks: ["10.1.2.0/24"]}
  contractors: {authContexts: ["ext-*"]}
  blocked:     {authContexts: ["stolen-pc"]}
rules:
  - licenses: ["KEY-TRIO"]          # tokens, or
    products: []                    # product codes
    reserve: {lab: 1}
    max:     {contractors: 1}
    exclude: [blocked]
    include: []
    features:
      EXPORT_PDF: {reserve: {lab: 1}, max: {contractors: 1}}
"""


def fault(text: str) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(textwrap.dedent(text), "p.yaml")
    return caught.value


def test_parse_issue_example_reads_groups_and_rule() -> None:
    policy = parse_policy(ISSUE_EXAMPLE, "p.yaml")
    rule = policy.rules[0]
    assert list(policy.groups) == ["lab", "contractors", "blocked"]
    assert policy.groups["lab"].networks == (ipaddress.ip_network("10.1.2.0/24"),)
    assert (rule.name, rule.line, rule.licenses) == ("rule 1", 6, ("KEY-TRIO",))
    assert (rule.seats.reserve, rule.seats.max, rule.exclude) == (
        {"lab": 1},
        {"contractors": 1},
        ("blocked",),
    )
    assert rule.features["EXPORT_PDF"].reserve == {"lab": 1}


def test_parse_example_file_is_valid_without_warnings() -> None:
    policy = parse_policy(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    assert len(policy.rules) == 2 and policy.warnings == ()


def test_parse_empty_file_is_a_policy_with_no_rules() -> None:
    policy = parse_policy("# nothing yet\n", "p.yaml")
    assert (policy.groups, policy.rules) == ({}, ())


RULE = "groups:\n  lab: {authContexts: [a]}\nrules:\n  - licenses: [X]\n"  # a rule on line 4
FAULTS = [
    ("groups: {}\nrulez: []\n", 2, "unknown key rulez in the policy; did you mean rules?"),
    ("groups:\n  lab: {authContexts: [a], network: []}\n", 2, "did you mean networks?"),
    (
        RULE + "    reserve: {labs: 1}\n",
        5,
        "unknown group 'labs' in reserve of rule 1; did you mean lab?",
    ),
    (RULE + "    exclude: [lab, qa]\n", 5, "unknown group 'qa' in exclude of rule 1"),
    (RULE + "    max: {lab: -1}\n", 5, "max lab of rule 1 must be 0 or more, not -1"),
    (RULE + "    max: {lab: 1.5}\n", 5, "must be a whole number, not 1.5"),
    (RULE + "    max: {lab: '2'}\n", 5, "must be a whole number, not '2'"),
    (RULE + "    reserve: {lab: true}\n", 5, "must be a whole number, not true"),
    (RULE + "    reserve: {lab: 2000000}\n", 5, "at most 1,000,000"),
    ("groups:\n  lab: {authContexts: ['lab-[0-9']}\n", 2, "a [ without its ]"),
    (
        "groups:\n  lab: {networks: ['10.1.2.5/24']}\n",
        2,
        "host bits set; did you mean 10.1.2.0/24?",
    ),
    ("groups:\n  lab: {networks: ['10.1.2.0/33']}\n", 2, "network '10.1.2.0/33' of group lab"),
    ("groups:\n  lab: {networks: ['fd00::1/64']}\n", 2, "did you mean fd00::/64?"),
    ("groups:\n  lab: {networks: [lab.example]}\n", 2, "network 'lab.example' of group lab"),
    ("groups:\n  lab: {}\n", 2, "group lab matches no device"),
    ("groups:\n  'lab group': {authContexts: [a]}\n", 2, "group name 'lab group' must be"),
    ("groups:\n  lab: {authContexts: ['']}\n", 2, "must be a non-empty text (in quotes), not ''"),
    ("groups:\n  lab: {authContexts: [a]}\n  lab: {authContexts: [b]}\n", 3, "lab is given twice"),
    (
        "groups:\n  lab: {authContexts: [a]}\nrules:\n  - reserve: {lab: 1}\n",
        4,
        "governs no license",
    ),
    ("rules:\n  - licenses: X\n", 2, "licenses of rule 1 must be a list"),
    (
        "rules:\n  - {name: a, licenses: [X]}\n  - {name: a, licenses: [Y]}\n",
        3,
        "two rules are named a",
    ),
    (
        "rules:\n  - licenses: [X]\n    features:\n      PDF: {min: {}}\n",
        4,
        "unknown key min in feature",
    ),
    ("rules: [1, 2]\n", 1, "rule 1 must be a mapping"),
    ("- a\n- b\n", 1, "the policy must be a mapping"),
    ("groups:\n  lab: &x {authContexts: [a]}\n  qa: *x\n", 3, "anchors and aliases"),
    ("groups:\n  lab: {authContexts: [a]\n", 3, "not valid YAML"),
    ("groups:\n  lab: !!python/object:os.system {}\n", 2, "YAML tags"),
    ("groups:\n  lab: {authContexts: [!!python/name:os.system a]}\n", 2, "cannot read this value"),
]


@pytest.mark.parametrize(("text", "line", "words"), FAULTS)
def test_parse_faulty_file_refuses_with_its_line(text: str, line: int, words: str) -> None:
    error = fault(text)
    assert error.line == line, error.message
    assert words in error.message and f"p.yaml line {line}: " in error.message
    assert error.code == "POLICY_INVALID"


def test_parse_billion_laughs_is_refused_not_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    error = fault("groups:\n" + "\n".join("  " + line for line in lines) + "\n")
    assert "aliases" in error.message or "mapping" in error.message


def test_parse_rule_name_names_the_rule_in_faults() -> None:
    error = fault("rules:\n  - name: cad\n    licenses: [X]\n    max: {lab: 1}\n")
    assert "unknown group 'lab' in max of rule cad" in error.message


def test_parse_both_included_and_excluded_warns_exclude_wins() -> None:
    policy = parse_policy(
        "groups:\n  lab: {authContexts: [a]}\nrules:\n"
        "  - {licenses: [X], include: [lab], exclude: [lab]}\n",
        "p.yaml",
    )
    assert policy.warnings == ("rule 1 (line 4): lab is both included and excluded; exclude wins",)


def test_parse_unused_group_and_idle_rule_warn() -> None:
    policy = parse_policy(
        "groups:\n  lab: {authContexts: [a]}\nrules:\n  - {licenses: [X]}\n", "p.yaml"
    )
    assert policy.warnings == (
        "rule 1 (line 4): reserves, limits, excludes and includes nothing",
        "group lab is used by no rule",
    )


@pytest.mark.parametrize(
    ("pattern", "bad"),
    [
        ("lab-*", False),
        ("lab-[0-9]", False),
        ("[!x]y", False),
        ("[]]", False),
        ("[[]x", False),
        ("lab-[0-9", True),
        ("[", True),
        ("a[!", True),
    ],
)
def test_glob_fault_finds_unclosed_brackets(pattern: str, bad: bool) -> None:
    assert (glob_fault(pattern) is not None) is bad


def test_parse_license_entry_that_is_no_text_is_not_echoed() -> None:
    error = fault("rules:\n  - licenses: [123456789]\n    max: {}\n")
    assert error.line == 2 and "123456789" not in error.message
    assert "an entry of licenses of rule 1 must be a non-empty text (in quotes)" in error.message
