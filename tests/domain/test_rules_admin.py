"""The admin rules and the housekeeping sweep on the state."""

from __future__ import annotations

import pytest

from lls.domain import admin, housekeeping, sessions
from lls.domain.models import Misuse, Reason
from lls.errors import NotFound, Refused
from tests.domain.rules_kit import T0, Gate, ended_reasons, events, lic, state


def test_dissociate_frees_the_binding_and_ends_that_machines_session() -> None:
    st = state(lic("A", type="node-locked"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    bound, out = admin.dissociate(st, "A", None, T0 + 1)
    assert bound == "h1" and ended_reasons(out) == ["admin"]
    assert "license.dissociated" in events(out) and st.licenses["A"].bound_context is None
    assert sessions.activate(st, "A", ["PRO"], "h2", T0 + 2)[0].ok
    with pytest.raises(Refused):
        admin.dissociate(st, "A", "h1", T0 + 3)  # bound to h2 now
    with pytest.raises(NotFound):
        admin.dissociate(st, "Z", None, T0)


def test_unlock_lifts_a_misuse_lock_and_the_count_starts_afresh() -> None:
    st = state(lic("A", seats=9, misuse=Misuse(max_auth_contexts=1, window_s=3600)))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    assert sessions.activate(st, "A", ["PRO"], "h2", T0)[0].reason is Reason.LICENSE_LOCKED
    out = admin.unlock(st, "A", T0 + 1)
    assert "license.unlocked" in events(out) and st.licenses["A"].seen == {}
    assert sessions.activate(st, "A", ["PRO"], "h2", T0 + 2)[0].ok
    with pytest.raises(Refused):
        admin.unlock(st, "A", T0 + 3)


def test_release_environment_and_end_session() -> None:
    st = state(lic("A"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    org, _ = admin.release_environment(st, "h1", T0 + 1)
    assert org == "org-1" and st.environments == {}
    with pytest.raises(NotFound):
        admin.release_environment(st, "h1", T0 + 1)
    session, out = admin.end_session(st, next(iter(st.by_id)), T0 + 2)
    assert session.auth_context == "h1" and ended_reasons(out) == ["admin"]
    with pytest.raises(NotFound):
        admin.end_session(st, session.id, T0 + 3)


def test_the_sweep_ends_expired_sessions_only_while_writes_are_taken() -> None:
    gate = Gate()
    st = state(lic("A"), gate=gate)
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    sessions.activate(st, "A", ["PRO"], "h2", T0 + 300)
    gate.writable = False
    assert housekeeping.expire_due(st, T0 + 700) == (0, [])
    gate.writable = True
    ended, out = housekeeping.expire_due(st, T0 + 700)
    assert ended == 1 and ended_reasons(out) == ["expired"]
    assert set(st.licenses["A"].sessions) == {"h2"}
