"""The feature rules on the state: checkout and return of floating, consumption and
boolean features, every refusal, and units that live and die with their session."""

from __future__ import annotations

from lls.domain import features, sessions
from lls.domain.models import AuthStatus, FeatureOutcome, Reason
from lls.domain.state import LicensingState
from tests.domain.rules_kit import T0, ended_reasons, events, lic, state


def _ok(outcome: FeatureOutcome) -> bool:
    return outcome.status is AuthStatus.SUCCESS


def _with_session(**fields: object) -> LicensingState:
    st = state(lic("A", **fields))
    assert sessions.activate(st, "A", ["PRO"], "h1", T0)[0].ok
    return st


def test_checkout_takes_floating_units_all_or_nothing() -> None:
    st = _with_session()
    outcome, out = features.checkout(st, "A", "h1", "UNITS", 2, T0)
    assert (outcome.quantity, outcome.checked_out, outcome.available) == (2, 2, 1)
    assert events(out) == ["feature.checkout"]
    refused, out = features.checkout(st, "A", "h1", "UNITS", 2, T0)
    assert refused.reason is Reason.FEATURE_EXHAUSTED and refused.available == 1 and out == []
    assert refused.message == "2 units of UNITS asked for, 1 left"


def test_consumption_counts_up_and_cannot_be_returned() -> None:
    st = _with_session()
    outcome, _ = features.checkout(st, "A", "h1", "PAGES", 4, T0)
    assert outcome.available == 1 and st.licenses["A"].consumed == {"PAGES": 4}
    refused, _ = features.return_units(st, "A", "h1", "PAGES", 1, T0)
    assert refused.reason is Reason.FEATURE_NOT_RETURNABLE


def test_boolean_feature_is_on_and_holds_nothing() -> None:
    st = _with_session()
    outcome, out = features.checkout(st, "A", "h1", "PDF", 1, T0)
    assert _ok(outcome) and outcome.quantity == 0 and out == []


def test_return_gives_back_at_most_what_the_session_holds() -> None:
    st = _with_session()
    features.checkout(st, "A", "h1", "UNITS", 2, T0)
    outcome, out = features.return_units(st, "A", "h1", "UNITS", 5, T0)
    assert (outcome.quantity, outcome.checked_out, outcome.available) == (2, 0, 3)
    assert events(out) == ["feature.return"]
    nothing, out = features.return_units(st, "A", "h1", "UNITS", 1, T0)
    assert _ok(nothing) and nothing.quantity == 0 and out == []


def test_units_come_back_when_their_session_ends() -> None:
    st = _with_session()
    features.checkout(st, "A", "h1", "UNITS", 3, T0)
    _, out = sessions.deactivate(st, "A", "h1", T0 + 1)
    assert ended_reasons(out) == ["deactivated"]
    assert st.licenses["A"].in_use == {"UNITS": 0} and st.licenses["A"].held == {}


def test_units_of_an_expired_session_are_freed_by_the_next_checkout() -> None:
    st = state(lic("A"))
    sessions.activate(st, "A", ["PRO"], "h1", T0)
    features.checkout(st, "A", "h1", "UNITS", 3, T0)
    sessions.activate(st, "A", ["PRO"], "h2", T0 + 500)
    outcome, out = features.checkout(st, "A", "h2", "UNITS", 3, T0 + 601)
    assert _ok(outcome) and outcome.checked_out == 3
    assert ended_reasons(out) == ["expired"]


def test_feature_refusals_name_their_reason() -> None:
    st = _with_session()
    assert features.checkout(st, "B", "h1", "UNITS", 1, T0)[0].reason is Reason.LICENSE_NOT_FOUND
    assert features.checkout(st, "A", "h2", "UNITS", 1, T0)[0].reason is Reason.NO_ACTIVE_SESSION
    assert features.checkout(st, "A", "h1", "NOPE", 1, T0)[0].reason is Reason.FEATURE_NOT_FOUND
    expired, out = features.checkout(st, "A", "h1", "UNITS", 1, T0 + 600)
    assert expired.reason is Reason.NO_ACTIVE_SESSION and ended_reasons(out) == ["expired"]


def test_checkout_refuses_a_clock_turned_back_but_return_does_not() -> None:
    st = _with_session()
    features.checkout(st, "A", "h1", "UNITS", 1, T0)
    late = T0 - 400
    assert features.checkout(st, "A", "h1", "UNITS", 1, late)[0].reason is Reason.CLOCK_TAMPERED
    assert _ok(features.return_units(st, "A", "h1", "UNITS", 1, late)[0])
