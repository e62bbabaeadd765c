"""The session rules on the state and a fake clock: every reason code they give, the last
seat decided in one place, expiry, bindings and misuse (no server, no database)."""

from __future__ import annotations

import pytest

from lls.domain import sessions
from lls.domain.models import AuthStatus, Misuse, Reason
from lls.domain.records import EndSession, StartSession, TouchSession
from lls.errors import StorageError
from tests.domain.rules_kit import DAY, T0, Gate, ended_reasons, events, lic, state


def test_activate_starts_a_session_with_its_records_and_answers_success() -> None:
    st = state(lic("A"))
    outcome, out = sessions.activate(st, "A", ["PRO"], "h1", T0)
    assert outcome.status is AuthStatus.SUCCESS and outcome.product_code == "PRO"
    assert outcome.session_expires_at == T0 + 600
    assert [type(r) for r in out if isinstance(r, StartSession)] == [StartSession]
    assert "session.started" in events(out)
    assert set(st.licenses["A"].sessions) == {"h1"} and len(st.by_id) == 1


def test_activate_again_refreshes_the_own_session_without_a_second_seat() -> None:
    st = state(lic("A", seats=1))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    outcome, out = sessions.activate(st, "A", ["PRO"], "h1", T0 + 100)
    assert outcome.ok and outcome.session_expires_at == T0 + 700
    assert [type(r) for r in out] == [TouchSession]


def test_the_last_seat_goes_to_exactly_one_caller() -> None:
    st = state(lic("A", seats=1))
    first, _ = sessions.activate(st, "A", ["PRO"], "h1", T0)
    second, out = sessions.activate(st, "A", ["PRO"], "h2", T0)
    assert first.ok
    assert second.reason is Reason.SESSION_LIMIT_REACHED and out == []
    assert set(st.licenses["A"].sessions) == {"h1"}


def test_an_expired_session_frees_its_seat_for_the_next_activate() -> None:
    st = state(lic("A", seats=1))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    outcome, out = sessions.activate(st, "A", ["PRO"], "h2", T0 + 600)
    assert outcome.ok
    assert ended_reasons(out) == ["expired"]
    assert set(st.licenses["A"].sessions) == {"h2"}


def test_extend_of_an_expired_session_ends_it_and_never_revives_it() -> None:
    st = state(lic("A"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    outcome, out = sessions.extend(st, "A", ["PRO"], "h1", T0 + 601)
    assert outcome.reason is Reason.NO_ACTIVE_SESSION
    assert ended_reasons(out) == ["expired"] and st.by_id == {}


def test_extend_pushes_the_expiry_from_now() -> None:
    st = state(lic("A"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    outcome, _ = sessions.extend(st, "A", ["PRO"], "h1", T0 + 300)
    assert outcome.ok and outcome.session_expires_at == T0 + 900


def test_deactivate_ends_the_session_and_succeeds_also_without_one() -> None:
    st = state(lic("A"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    outcome, out = sessions.deactivate(st, "A", "h1", T0 + 1)
    assert outcome.ok and ended_reasons(out) == ["deactivated"]
    again, out = sessions.deactivate(st, "A", "h1", T0 + 2)
    assert again.ok and out == []


def test_validate_is_stateless_and_reports_the_callers_session() -> None:
    st = state(lic("A"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    outcome, out = sessions.validate(st, "A", None, "h1", T0 + 10)
    assert outcome.ok and outcome.session_expires_at == T0 + 600 and out == []
    other, _ = sessions.validate(st, "A", None, "h2", T0 + 10)
    assert other.ok and other.session_expires_at is None


@pytest.mark.parametrize(
    ("fields", "products", "now", "reason", "status"),
    [
        ({}, ["OTHER"], T0, Reason.PRODUCT_MISMATCH, AuthStatus.FAILED),
        ({"valid_until": T0 - 1}, ["PRO"], T0, Reason.LICENSE_EXPIRED, AuthStatus.FAILED),
        ({"valid_from": T0 + 99}, ["PRO"], T0, Reason.LICENSE_NOT_YET_VALID, AuthStatus.FAILED),
        ({"status": "suspended"}, ["PRO"], T0, Reason.LICENSE_SUSPENDED, AuthStatus.FAILED),
        ({"status": "revoked"}, ["PRO"], T0, Reason.LICENSE_REVOKED, AuthStatus.FAILED),
        ({"status": "locked"}, ["PRO"], T0, Reason.LICENSE_LOCKED, AuthStatus.LOCKED),
        ({}, ["PRO"], T0 + 31 * DAY, Reason.POOL_EXPIRED, AuthStatus.FAILED),
    ],
)
def test_each_license_check_refuses_with_its_reason_and_writes_nothing(
    fields: dict[str, object], products: list[str], now: float, reason: Reason, status: AuthStatus
) -> None:
    st = state(lic("A", **fields))
    for outcome, out in (
        sessions.activate(st, "A", products, "h1", now),
        sessions.validate(st, "A", products, "h1", now),
    ):
        assert (outcome.reason, outcome.status, out) == (reason, status, [])
    assert st.by_id == {}


def test_unknown_token_is_license_not_found() -> None:
    st = state(lic("A"))
    assert sessions.activate(st, "B", ["PRO"], "h1", T0)[0].reason is Reason.LICENSE_NOT_FOUND
    assert sessions.validate(st, "B", None, None, T0)[0].reason is Reason.LICENSE_NOT_FOUND


def test_a_clock_turned_back_past_the_floor_refuses_activate_and_extend() -> None:
    st = state(lic("A"))
    sessions.activate(st, "A", ["PRO"], "h1", T0 + 1000)
    outcome, out = sessions.activate(st, "A", ["PRO"], "h2", T0 + 1000 - 301)
    assert outcome.reason is Reason.CLOCK_TAMPERED and out == [] and st.tampered
    assert sessions.extend(st, "A", ["PRO"], "h1", T0)[0].reason is Reason.CLOCK_TAMPERED
    # within the skew it is not tampering
    assert sessions.activate(st, "A", ["PRO"], "h1", T0 + 1000 - 299)[0].ok


def test_node_locked_binds_on_first_use_and_refuses_another_machine() -> None:
    st = state(lic("A", type="node-locked"))
    outcome, out = sessions.activate(st, "A", ["PRO"], "h1", T0)
    assert outcome.ok and "license.bound" in events(out)
    assert st.licenses["A"].bound_context == "h1"
    other, _ = sessions.activate(st, "A", ["PRO"], "h2", T0)
    assert other.reason is Reason.NODE_LOCKED


def test_an_environment_bound_by_one_org_refuses_another_orgs_license() -> None:
    st = state(lic("A"), lic("B", org_id="org-2"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    assert st.environments == {"h1": "org-1"}
    outcome, _ = sessions.activate(st, "B", ["PRO"], "h1", T0)
    assert outcome.reason is Reason.ENVIRONMENT_OF_OTHER_ORG


def test_too_many_machines_lock_the_license_for_misuse() -> None:
    st = state(lic("A", seats=10, misuse=Misuse(max_auth_contexts=2, window_s=3600)))
    for ctx in ("h1", "h2"):
        assert sessions.activate(st, "A", ["PRO"], ctx, T0)[0].ok
    outcome, out = sessions.activate(st, "A", ["PRO"], "h3", T0)
    assert (outcome.reason, outcome.status) == (Reason.LICENSE_LOCKED, AuthStatus.LOCKED)
    assert "license.locked" in events(out) and st.licenses["A"].locked_at == T0
    assert sessions.validate(st, "A", None, "h1", T0)[0].reason is Reason.LICENSE_LOCKED


def test_a_refused_write_changes_nothing_and_refusals_still_answer() -> None:
    gate = Gate()
    st = state(lic("A", seats=1), gate=gate)
    gate.writable = False
    with pytest.raises(StorageError):
        sessions.activate(st, "A", ["PRO"], "h1", T0)
    assert st.by_id == {} and st.licenses["A"].sessions == {}
    assert sessions.activate(st, "A", ["OTHER"], "h1", T0)[0].reason is Reason.PRODUCT_MISMATCH


def test_validate_frees_units_of_expired_holders_only_while_writes_are_taken() -> None:
    from lls.domain import features

    gate = Gate()
    st = state(lic("A"), gate=gate)
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    features.checkout(st, "A", "h1", "UNITS", 2, T0)
    gate.writable = False
    outcome, out = sessions.validate(st, "A", None, None, T0 + 601)
    assert outcome.ok and out == [] and st.licenses["A"].in_use == {"UNITS": 2}
    gate.writable = True
    outcome, out = sessions.validate(st, "A", None, None, T0 + 601)
    assert [f.available for f in outcome.features if f.code == "UNITS"] == [3]
    assert any(isinstance(r, EndSession) for r in out)
