"""The borrow rule's arithmetic and bookkeeping on one license's state (no server, no clock)."""

from __future__ import annotations

from lls.domain.borrowing import BORROW, borrow_lease_end, borrowed_seats, live_borrows
from lls.domain.models import OfflineActivation
from lls.domain.state import LicenseState
from tests.domain.policy_kit import DAY, lic

NOW = 1_800_000_000.0


def _state(**fields: object) -> LicenseState:
    return LicenseState(license=lic("ROAD", borrow_max_s=3 * DAY, **fields))


def _activation(
    aid: str, ctx: str, kind: str = BORROW, end: float = NOW + DAY
) -> OfflineActivation:
    return OfflineActivation(aid, "ROAD", ctx, "kid", {}, "nonce-123", NOW - 1, end, kind=kind)


def test_a_borrow_within_the_maximum_gets_what_it_asked_for() -> None:
    assert borrow_lease_end(_state(), NOW, DAY) == (NOW + DAY, False)
    assert borrow_lease_end(_state(), NOW, 3 * DAY) == (NOW + 3 * DAY, False)


def test_a_borrow_over_the_maximum_is_capped_at_it() -> None:
    assert borrow_lease_end(_state(), NOW, 3 * DAY + 1) == (NOW + 3 * DAY, True)


def test_a_borrow_never_outlasts_the_license_or_a_temporary_window() -> None:
    assert borrow_lease_end(_state(valid_until=NOW + 60), NOW, DAY) == (NOW + 60, True)
    temporary = _state(type="temporary", temporary_days=1)
    temporary.first_activated_at = NOW - DAY + 30
    assert borrow_lease_end(temporary, NOW, DAY) == (NOW + 30, True)


def test_only_live_borrows_of_that_device_are_its_borrows() -> None:
    state = _state()
    ended = _activation("b-ended", "laptop")
    ended.deactivated_at = NOW - 1
    for a in (
        _activation("b-live", "laptop"),
        ended,
        _activation("b-over", "laptop", end=NOW),
        _activation("o-1", "laptop", kind="offline"),
        _activation("b-other", "desk"),
    ):
        state.offline[a.id] = a
    assert [a.id for a in live_borrows(state, "laptop", NOW)] == ["b-live"]
    assert sorted(a.id for a in borrowed_seats(state.offline, NOW)) == ["b-live", "b-other"]
