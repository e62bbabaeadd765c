"""Reading a usage file on the vendor side: the checks it must pass and the summary it yields."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from lls.errors import Refused
from lls.sealed.payloads import UsagePayload
from lls.vendor.state import InstanceRecord

UsageCheck = Callable[[InstanceRecord, UsagePayload], None]


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """What one verified usage file says, and the payload itself for tools that want all of it."""

    instance_id: str
    seq: int
    pool_seq: int
    iat: int
    event_count: int
    first_event: int | None
    last_event: int | None
    event_types: dict[str, int]
    clock_tampered: bool
    clock_floor: str
    chain_head: str | None
    payload: UsagePayload

    @classmethod
    def of(cls, usage: UsagePayload) -> UsageSummary:
        """Summarise a verified, checked payload."""
        return cls(
            instance_id=usage.iss,
            seq=usage.seq,
            pool_seq=usage.poolSeq,
            iat=usage.iat,
            event_count=len(usage.events),
            first_event=usage.eventRange.first,
            last_event=usage.eventRange.last,
            event_types=dict(Counter(event.type for event in usage.events)),
            clock_tampered=usage.clock.tamperDetected,
            clock_floor=usage.clock.floor,
            chain_head=usage.chainHead,
            payload=usage,
        )

    def to_json(self) -> dict[str, Any]:
        """The summary for scripts (`read-usage --json`): counts, plus per-license usage."""
        return {
            "instanceId": self.instance_id,
            "seq": self.seq,
            "poolSeq": self.pool_seq,
            "iat": self.iat,
            "eventCount": self.event_count,
            "eventRange": {"first": self.first_event, "last": self.last_event},
            "eventTypes": self.event_types,
            "clock": {"tamperDetected": self.clock_tampered, "floor": self.clock_floor},
            "chainHead": self.chain_head,
            "licenses": msgspec.to_builtins(self.payload.licenses),
        }


def check_not_stale(record: InstanceRecord, usage: UsagePayload) -> None:
    """An older report than one already read would move the acknowledgement backwards."""
    if usage.seq < record.lastUsageSeq:
        raise Refused(
            f"usage file seq {usage.seq} from {record.id} is older than the last one read "
            f"({record.lastUsageSeq}); nothing recorded",
            code="STALE_USAGE",
        )


# Every check a verified usage file passes before anything is recorded, in order.
# Hash-chain and fork checks belong here: each sees the record as it stood before.
USAGE_CHECKS: tuple[UsageCheck, ...] = (check_not_stale,)


def recorded(record: InstanceRecord, usage: UsagePayload) -> InstanceRecord:
    """The instance record after accepting `usage`: the next pool acknowledges it."""
    return msgspec.structs.replace(
        record,
        lastUsageSeq=usage.seq,
        ackUsageSeq=max(record.ackUsageSeq, usage.seq),
        lastChainHead=usage.chainHead if usage.chainHead is not None else record.lastChainHead,
        lastEventId=usage.eventRange.last
        if usage.eventRange.last is not None
        else record.lastEventId,
    )
