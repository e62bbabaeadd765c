"""Importing a pool into the state: the import rules, and the apply step (a shrunk pool
drains, a revoked license ends its sessions now, a license that comes back keeps its use)."""

from __future__ import annotations

import pytest

from lls.domain import features, pools, sessions
from lls.domain.models import Reason
from lls.errors import Refused
from tests.domain.rules_kit import DAY, T0, ended_reasons, events, lic, pool, state


def test_apply_counts_added_changed_removed_and_raises_the_floor() -> None:
    st = state(lic("A"), lic("B"))
    summary, out = pools.apply_pool(
        st, pool(lic("A", seats=5), lic("C"), seq=2, iat=T0 + 10), "raw", T0 + 20, None
    )
    assert (summary.added, summary.changed, summary.removed) == (1, 1, 1)
    assert set(st.licenses) == {"A", "C"} and st.licenses["A"].license.seats == 5
    assert st.floor == T0 + 10 and st.pool is not None and st.pool.seq == 2
    assert events(out) == ["pool.imported"]


def test_shrinking_seats_drains_keeps_live_sessions_and_refuses_new_ones() -> None:
    st = state(lic("A", seats=2))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    sessions.activate(st, "A", ["PRO"], "h2", T0)
    summary, _ = pools.apply_pool(st, pool(lic("A", seats=1), seq=2), "raw", T0 + 1, None)
    assert summary.sessions_ended == 0 and len(st.licenses["A"].sessions) == 2
    assert sessions.extend(st, "A", ["PRO"], "h1", T0 + 2)[0].ok
    refused, _ = sessions.activate(st, "A", ["PRO"], "h3", T0 + 2)
    assert refused.reason is Reason.SESSION_LIMIT_REACHED
    sessions.deactivate(st, "A", "h1", T0 + 3)
    assert (
        sessions.activate(st, "A", ["PRO"], "h3", T0 + 3)[0].reason is Reason.SESSION_LIMIT_REACHED
    )
    sessions.deactivate(st, "A", "h2", T0 + 4)
    assert sessions.activate(st, "A", ["PRO"], "h3", T0 + 4)[0].ok


@pytest.mark.parametrize("status", ["revoked", "suspended", "locked"])
def test_a_revoked_license_ends_its_sessions_now_and_returns_their_units(status: str) -> None:
    st = state(lic("A"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    features.checkout(st, "A", "h1", "UNITS", 2, T0)
    summary, out = pools.apply_pool(st, pool(lic("A", status=status), seq=2), "raw", T0 + 1, None)
    assert summary.sessions_ended == 1 and ended_reasons(out) == ["revoked"]
    assert st.by_id == {} and st.licenses["A"].in_use == {"UNITS": 0}


def test_a_license_that_leaves_and_comes_back_keeps_binding_and_consumption() -> None:
    st = state(lic("A", type="node-locked"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    features.checkout(st, "A", "h1", "PAGES", 2, T0)
    _, out = pools.apply_pool(st, pool(seq=2), "raw", T0 + 1, None)
    assert ended_reasons(out) == ["revoked"] and "A" in st.retired
    pools.apply_pool(st, pool(lic("A", type="node-locked"), seq=3), "raw", T0 + 2, None)
    back = st.licenses["A"]
    assert back.bound_context == "h1" and back.consumed == {"PAGES": 2}


def test_admit_refuses_replays_other_instances_and_expired_pools() -> None:
    st = state(lic("A"))
    codes = []
    for candidate in (
        pool(lic("A"), seq=1),
        pool(lic("A"), seq=2, exp=T0 - 1),
        pool(lic("A"), seq=2, iat=T0 + 400),
        pool(lic("A"), lic("A"), seq=2),
    ):
        with pytest.raises(Refused) as caught:
            pools.admit_pool(st, candidate, T0)
        codes.append(caught.value.code)
    assert codes == ["POOL_NOT_NEWER", "POOL_EXPIRED", "POOL_FROM_THE_FUTURE", "POOL_INVALID"]
    st.trust_pools_from = T0
    with pytest.raises(Refused) as caught:
        pools.admit_pool(st, pool(lic("A"), seq=2, iat=T0 - DAY), T0)
    assert caught.value.code == "POOL_BEFORE_REBIND"
