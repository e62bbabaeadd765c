"""Usage reports for the vendor (sync-format §3): every unacknowledged event, a per-license
snapshot and the clock; lossless, so a lost file is simply superseded by the next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lls.domain.models import AuditEvent
from lls.domain.state import LicenseState

USAGE_SEQ_KEY = "usage_seq"
ACK_SEQ_KEY = "usage_ack_seq"
ACK_EVENT_KEY = "usage_ack_event_id"


@dataclass(frozen=True, slots=True)
class FeatureUsage:
    code: str
    consumed: int
    in_use: int


@dataclass(frozen=True, slots=True)
class LicenseUsage:
    token: str
    seats: int
    live_sessions: int
    peak_sessions: int
    features: tuple[FeatureUsage, ...]


@dataclass(frozen=True, slots=True)
class UsageReport:
    seq: int
    pool_seq: int
    issued_at: float
    events: tuple[AuditEvent, ...]
    chain_head: str | None
    licenses: tuple[LicenseUsage, ...]
    tampered: bool
    floor: float


class UsageSealer(Protocol):
    """Signs a report with the instance key and encrypts it to the vendor."""

    def seal_usage(self, report: UsageReport) -> str: ...


def license_usage(state: LicenseState, live_sessions: int) -> LicenseUsage:
    codes = [f.code for f in state.license.features if f.type != "boolean"]
    return LicenseUsage(
        token=state.license.token,
        seats=state.license.seats,
        live_sessions=live_sessions,
        peak_sessions=state.peak_sessions,
        features=tuple(
            FeatureUsage(code, state.consumed.get(code, 0), state.in_use.get(code, 0))
            for code in codes
        ),
    )
