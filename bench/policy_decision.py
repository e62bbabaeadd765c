"""What the seat policy costs on the hot path (issue 16: a few microseconds with 20 rules).

Compiles a 20-rule policy (8 groups by authContext glob and network; 10 rules by
product, 10 by license token; reserve, max, exclude, include, a feature limit)
against a pool of N licenses, then times, per call, in a tight loop:
- no policy: the one `is None` check the session rules make;
- a device's groups, cached (one dict lookup), and matched afresh;
- seat_refusal when seats are plentiful (the common case) and when they are
  tight (the reservation max-flow runs), and unit_refusal for a feature;
- compiling the policy against the pool (once per pool import or reload).

    .venv/bin/python bench/policy_decision.py [--licenses 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace

from lls.domain.models import License
from lls.domain.policy_compiled import CompiledPolicy, GroupTally, compile_policy
from lls.domain.policy_decide import seat_refusal, unit_refusal
from lls.domain.policy_file import parse_policy
from lls.protocol.shapes import FeatureGrant

GROUPS = """\
groups:
  lab:         {authContexts: ["lab-*"], networks: ["10.1.2.0/24"]}
  qa:          {authContexts: ["qa-*", "*-qa"]}
  ci:          {authContexts: ["ci-runner-??"]}
  contractors: {authContexts: ["ext-*"]}
  blocked:     {authContexts: ["stolen-*"]}
  design:      {networks: ["10.2.0.0/16", "fd00:2::/32"]}
  support:     {authContexts: ["sup-*"]}
  interns:     {authContexts: ["int-*"]}
rules:
"""


def policy_text() -> str:
    rules = []
    for n in range(10):
        rules.append(
            f"  - {{name: product-{n}, products: [P{n}], reserve: {{lab: 1, qa: 1}},"
            f" max: {{contractors: 2, ci: 3}}, exclude: [blocked]}}\n"
        )
    for n in range(10):
        rules.append(
            f"  - name: token-{n}\n    licenses: [L{n:06d}]\n    include: [lab, qa, design]\n"
            f"    features: {{PDF: {{reserve: {{lab: 1}}, max: {{qa: 2}}}}}}\n"
        )
    return GROUPS + "".join(rules)


def pool(size: int) -> list[License]:
    base = License(
        token="",
        product_codes=(),
        type="floating",
        seats=10,
        status="active",
        valid_from=None,
        valid_until=None,
        is_trial=False,
        temporary_days=None,
        session_window_s=600,
        offline_lease_s=86_400,
        contact=None,
        company_name=None,
        org_id="org",
        misuse=None,
        features=(FeatureGrant("PDF", "floating", 10),),
    )
    return [replace(base, token=f"L{n:06d}", product_codes=(f"P{n % 10}",)) for n in range(size)]


def per_call(fn: Callable[[], object], seconds: float = 0.3) -> float:
    """Microseconds per call, from the best of three timed batches."""
    batch = 1000
    while True:
        started = time.perf_counter()
        for _ in range(batch):
            fn()
        if time.perf_counter() - started > seconds / 3:
            break
        batch *= 2
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, time.perf_counter() - started)
    return round(best / batch * 1e6, 3)


def run(size: int) -> dict[str, float]:
    licenses = pool(size)
    policy = parse_policy(policy_text(), "bench")
    started = time.perf_counter()
    compiled = compile_policy(policy, licenses)
    compile_ms = (time.perf_counter() - started) * 1000
    none: CompiledPolicy | None = None
    tally = GroupTally(compiled.groups)
    for auth in ("lab-1", "qa-1", "ext-1", "ci-runner-01", "lab-2-qa", "pc-1"):
        tally.add(compiled.mask_of(auth, "10.1.2.7"))
    device = compiled.mask_of("qa-7", "10.9.9.9")
    fresh = iter(range(10**9))
    token = "L000003"  # governed by product-3 and token-3
    return {
        "licenses": size,
        "rules": len(policy.rules),
        "compile_ms": round(compile_ms, 1),
        "no_policy_us": per_call(lambda: none is not None and none.by_license.get(token)),
        "groups_cached_us": per_call(lambda: compiled.mask_of("qa-7", "10.9.9.9")),
        "groups_matched_us": per_call(lambda: compiled._match(f"qa-{next(fresh)}", "10.2.3.4")),
        "seat_plenty_us": per_call(lambda: seat_refusal(compiled, token, 100, 6, device, tally)),
        # One seat free, two reserved (lab met, qa met by the both-holder): the max-flow runs.
        "seat_tight_us": per_call(lambda: seat_refusal(compiled, token, 7, 6, device, tally)),
        "seat_ungoverned_us": per_call(
            lambda: seat_refusal(compiled, "NOT-GOVERNED", 9, 6, device, tally)
        ),
        "units_us": per_call(lambda: unit_refusal(compiled, token, "PDF", 10, 6, device, 1, tally)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--licenses", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = run(args.licenses)
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{figures['rules']} rules compiled against {figures['licenses']} licenses"
        f" in {figures['compile_ms']} ms"
    )
    for key, value in figures.items():
        if key.endswith("_us"):
            print(f"  {key[:-3].replace('_', ' '):<18} {value:8.3f} µs")


if __name__ == "__main__":
    main()
