"""Usage reports for the vendor (sync-format §3): every unacknowledged event, a per-license
snapshot and the clock; lossless, so a lost file is simply superseded by the next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from lls.domain.checks import observe_clock
from lls.domain.models import AuditEvent
from lls.domain.records import AppendEvent, Record, RecordExport, SetMeta
from lls.domain.state import LicenseState, LicensingState

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


def usage_report(
    st: LicensingState, events: tuple[AuditEvent, ...], head: str | None, now: float
) -> UsageReport:
    """The next usage file's content: `events` (every one after the vendor's last
    acknowledgement), a snapshot of each license, and the clock."""
    observe_clock(st, now)
    return UsageReport(
        seq=st.usage_seq + 1,
        pool_seq=st.pool.seq if st.pool else 0,
        issued_at=now,
        events=events,
        chain_head=head,
        licenses=tuple(license_usage(s, _live(s, now)) for s in st.licenses.values()),
        tampered=st.tampered,
        floor=st.floor,
    )


def usage_exported(st: LicensingState, report: UsageReport) -> list[Record]:
    """The sealed report is written: take its seq (memory changes in the tick the records
    are queued). The facade sets `last_usage_export` once they commit."""
    st.gate.check_writable()
    last_id = report.events[-1].id if report.events else st.ack_event_id
    st.usage_seq = report.seq
    now = report.issued_at
    return [
        SetMeta(USAGE_SEQ_KEY, str(report.seq)),
        RecordExport(report.seq, last_id, report.chain_head, now),
        AppendEvent(at=now, type="usage.exported", data={"seq": report.seq}),
    ]


def _live(state: LicenseState, now: float) -> int:
    """Live sessions plus offline leases not yet over."""
    live = sum(1 for s in state.sessions.values() if s.expires_at > now)
    return live + sum(1 for a in state.offline.values() if a.live(now))
