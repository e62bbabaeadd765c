"""Sealing usage reports for the vendor (sync-format §3)."""

from __future__ import annotations

import msgspec

from lls.clock import rfc3339
from lls.domain.usage import UsageReport
from lls.sealed.envelope import seal
from lls.sealed.files import sealed_file_text
from lls.sealed.keys import KeyPair, PublicKeys
from lls.sealed.payloads import (
    TYP_USAGE,
    ClockReport,
    EventRange,
    FeatureUsage,
    LicenseUsage,
    UsageEvent,
    UsagePayload,
)


def usage_file_text(instance_id: str, seq: int, issued_at: float, token: str) -> str:
    """The usage file as written for the vendor: comment lines, then the sealed token."""
    comments = {
        "kind": TYP_USAGE,
        "instance": instance_id,
        "seq": str(seq),
        "issued at": rfc3339(issued_at),
    }
    return sealed_file_text(token, comments)


class SealedUsageSealer:
    """Implements the domain's `UsageSealer`: signed by the instance, encrypted to the vendor."""

    def __init__(
        self, keys: KeyPair, instance_id: str, vendor_id: str, vendor_keys: PublicKeys
    ) -> None:
        self._keys = keys
        self._instance_id = instance_id
        self._vendor_id = vendor_id
        self._vendor_keys = vendor_keys

    def payload(self, report: UsageReport) -> UsagePayload:
        events = [
            UsageEvent(
                id=e.id,
                at=rfc3339(e.at),
                type=e.type,
                license=e.license,
                authContext=e.auth_context,
                data=dict(e.data),
                prevHash=e.prev_hash,
                hash=e.hash,
            )
            for e in report.events
        ]
        return UsagePayload(
            iss=self._instance_id,
            aud=self._vendor_id,
            iat=int(report.issued_at),
            seq=report.seq,
            poolSeq=report.pool_seq,
            events=events,
            eventRange=EventRange(
                first=events[0].id if events else None, last=events[-1].id if events else None
            ),
            licenses=[
                LicenseUsage(
                    token=lic.token,
                    seats=lic.seats,
                    liveSessions=lic.live_sessions,
                    peakSessions=lic.peak_sessions,
                    features=[FeatureUsage(f.code, f.consumed, f.in_use) for f in lic.features],
                )
                for lic in report.licenses
            ],
            clock=ClockReport(tamperDetected=report.tampered, floor=rfc3339(report.floor)),
            chainHead=report.chain_head,
        )

    def seal_usage(self, report: UsageReport) -> str:
        body = msgspec.json.encode(self.payload(report))
        return seal(body, typ=TYP_USAGE, signer=self._keys, recipient=self._vendor_keys)
