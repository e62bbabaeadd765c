"""Reading a usage file on the vendor side: the checks it must pass and the summary it yields.

A usage file whose envelope, signature, `typ`, `iss` or `aud` is wrong is refused
outright (nothing in it can be trusted). A verified file then gets a verdict:

- `ok`: it continues what was read from the instance before; it is recorded and
  the next pool acknowledges its seq;
- `duplicate`: exactly a file already read (same signed payload); nothing changes;
- `fork`: another file with the same seq was read, or events read before now carry
  other hashes, or the history ends before the last event read: two copies of the
  instance, or one restored from a snapshot or a copied data directory;
- `regression`: a seq lower than the last one read, not a file still remembered:
  an instance restored from an older snapshot (or an old file read again);
- `chain_broken`: an event does not match its hash or does not link to the one
  before, or events the vendor never read are missing.

A flagged file (fork, regression, chain_broken) is NOT recorded: the instance's
record stays exactly as it was, so the admin can investigate and the next good
file from the real instance is still judged against what was read before.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from lls.central.chain import UsageProblem, Verdict, chain_problems, short
from lls.central.state import InstanceRecord, UsageFileRecord
from lls.clock import rfc3339
from lls.errors import Refused
from lls.sealed.payloads import PoolPayload, UsagePayload

FORK = "FORK"
REGRESSION = "REGRESSION"


@dataclass(frozen=True, slots=True)
class UsageFile:
    """A verified usage payload and the digest of the signed bytes it came from."""

    payload: UsagePayload
    digest: str

    @classmethod
    def of(cls, signed_payload: bytes, usage: UsagePayload) -> UsageFile:
        return cls(usage, hashlib.sha256(signed_payload).hexdigest())


UsageCheck = Callable[[InstanceRecord, UsageFile], list[UsageProblem]]


@dataclass(frozen=True, slots=True)
class UsageSummary:
    """What one verified usage file says, its verdict, and the payload for tools that want it."""

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
    verdict: Verdict = "ok"
    problems: tuple[UsageProblem, ...] = ()

    @classmethod
    def of(
        cls,
        usage: UsagePayload,
        verdict: Verdict = "ok",
        problems: tuple[UsageProblem, ...] = (),
    ) -> UsageSummary:
        """Summarise a verified payload with the verdict its checks reached."""
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
            verdict=verdict,
            problems=problems,
        )

    @property
    def recorded(self) -> bool:
        """Only an ok file changes the workspace (a duplicate was recorded the first time)."""
        return self.verdict == "ok"

    @property
    def advice(self) -> str:
        """What the vendor's admin should do about this file, in plain words."""
        return ADVICE[self.verdict].format(id=self.instance_id, seq=self.seq)

    def to_json(self) -> dict[str, Any]:
        """The summary for scripts (`read-usage --json`); the keys are stable."""
        return {
            "verdict": self.verdict,
            "recorded": self.recorded,
            "problems": [{"code": p.code, "message": p.message} for p in self.problems],
            "advice": self.advice,
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


ADVICE: dict[Verdict, str] = {
    "ok": "accepted: the next pool issued to {id} acknowledges usage seq {seq}",
    "duplicate": "already read: this exact file was accepted before; nothing changed",
    "fork": (
        "Issue no further pool to {id} until the site has explained: ask whether "
        "the LLS was cloned, restored from a backup or snapshot, or its data directory copied, "
        "and make sure only one copy runs. The next file from the real instance is still "
        "checked against what was read before."
    ),
    "regression": (
        "If this is an old file read again, there is nothing to do. Otherwise "
        "the LLS {id} was restored from an older backup or snapshot: ask the site before "
        "issuing it another pool."
    ),
    "chain_broken": (
        "The usage history of {id} was tampered with or damaged on the instance: "
        "ask the site what happened to its database before issuing it another pool."
    ),
}


class UsageFlagged(Refused):
    """A verified usage file that was not accepted; `summary` says why and what to do."""

    def __init__(self, summary: UsageSummary) -> None:
        first = summary.problems[0]
        super().__init__(first.message, code=first.code)
        self.summary = summary


def is_duplicate(record: InstanceRecord, file: UsageFile) -> bool:
    """The very file already accepted (same signed payload), read again."""
    usage = file.payload
    known = record.usageFiles.get(usage.seq)
    if known is not None:
        return known.digest == file.digest
    # A record written before usage files were remembered: the last file, by its chain.
    return (
        usage.seq == record.lastUsageSeq > 0
        and usage.chainHead == record.lastChainHead
        and usage.eventRange.last == record.lastEventId
    )


def check_sequence(record: InstanceRecord, file: UsageFile) -> list[UsageProblem]:
    """A seq is used once: the same seq with other content is a fork, a lower one a regression."""
    usage = file.payload
    known = record.usageFiles.get(usage.seq)
    if known is not None or (usage.seq == record.lastUsageSeq > 0):
        return [UsageProblem(FORK, "fork", _fork_words(record, known, usage))]
    if usage.seq < record.lastUsageSeq:
        return [
            UsageProblem(
                REGRESSION,
                "regression",
                f"usage file seq {usage.seq} is older than the last one read from instance "
                f"{usage.iss} (seq {record.lastUsageSeq}): an instance restored from an older "
                "snapshot or backup, or an old file read again",
            )
        ]
    return []


def check_chain(record: InstanceRecord, file: UsageFile) -> list[UsageProblem]:
    """The hash chain inside the file and its continuity with the files read before.

    A file older than the last one read and no longer remembered (a regression) is only
    checked inside: that it ends before what was read since is expected of an old file.
    """
    usage = file.payload
    if usage.seq < record.lastUsageSeq and usage.seq not in record.usageFiles:
        return chain_problems(record, usage, continuity=False)
    return chain_problems(record, usage)


# Every check a verified usage file passes before anything is recorded, in order; each
# sees the record as it stood before. The verdict is that of the first problem found.
USAGE_CHECKS: tuple[UsageCheck, ...] = (check_sequence, check_chain)


def judge(record: InstanceRecord, file: UsageFile) -> UsageSummary:
    """Run every check on a verified file: its verdict, and all the problems found."""
    if is_duplicate(record, file):
        return UsageSummary.of(file.payload, "duplicate")
    problems = tuple(problem for check in USAGE_CHECKS for problem in check(record, file))
    if problems:
        return UsageSummary.of(file.payload, problems[0].verdict, problems)
    return UsageSummary.of(file.payload)


def recorded(record: InstanceRecord, file: UsageFile) -> InstanceRecord:
    """The instance record after accepting `file`: the next pool acknowledges it."""
    usage = file.payload
    points = dict(record.chainPoints)
    if usage.events and usage.events[-1].hash is not None:
        points[usage.events[-1].id] = usage.events[-1].hash
    files = {
        **record.usageFiles,
        usage.seq: UsageFileRecord(
            digest=file.digest,
            iat=usage.iat,
            first=usage.eventRange.first,
            last=usage.eventRange.last,
            chainHead=usage.chainHead,
        ),
    }
    return msgspec.structs.replace(
        record,
        lastUsageSeq=usage.seq,
        ackUsageSeq=max(record.ackUsageSeq, usage.seq),
        lastChainHead=usage.chainHead if usage.events else record.lastChainHead,
        lastEventId=usage.eventRange.last if usage.events else record.lastEventId,
        chainPoints=points,
        usageFiles=files,
    )


def acknowledged(record: InstanceRecord, pool: PoolPayload) -> InstanceRecord:
    """The record once `pool` is written: forget chain points and files below its ack.

    The instance prunes its events up to the last event of usage file `ackUsageSeq`
    when it imports the pool; that event stays known, as the point its next file links to.
    Until it imports the pool its files still start earlier, and the kept points suffice:
    one matching hash vouches for every event before it.
    """
    ack = pool.ackUsageSeq
    if ack <= record.ackedUsageSeq:
        return record
    point = record.ackedEventId
    points = dict(record.chainPoints)
    acked = record.usageFiles.get(ack)
    if acked is not None and acked.last is not None and acked.chainHead is not None:
        point = max(point, acked.last)
        points.setdefault(acked.last, acked.chainHead)
    elif acked is None and ack == record.lastUsageSeq and record.lastEventId is not None:
        point = max(point, record.lastEventId)  # a record written before usage files were kept
        if record.lastChainHead is not None:
            points.setdefault(record.lastEventId, record.lastChainHead)
    return msgspec.structs.replace(
        record,
        ackedUsageSeq=ack,
        ackedEventId=point,
        chainPoints={p: h for p, h in points.items() if p >= point},
        usageFiles={s: f for s, f in record.usageFiles.items() if s >= ack},
    )


def _fork_words(record: InstanceRecord, known: UsageFileRecord | None, usage: UsagePayload) -> str:
    """Say how a file differs from the one read before with the same seq."""
    span = _span(usage.eventRange.first, usage.eventRange.last)
    if known is not None and (known.first, known.last, known.chainHead) == (
        usage.eventRange.first,
        usage.eventRange.last,
        usage.chainHead,
    ):
        how = (
            f"(same events {span}, but made {rfc3339(usage.iat)}; the one read was made "
            f"{rfc3339(known.iat)}): the seq was exported twice, so"
        )
    else:
        before = (
            f"events {_span(known.first, known.last)}, head {short(known.chainHead)}"
            if known is not None
            else f"up to event {record.lastEventId}, head {short(record.lastChainHead)}"
        )
        how = f"(now events {span}, head {short(usage.chainHead)}; then {before}):"
    return (
        f"usage file seq {usage.seq} differs from the seq {usage.seq} read before {how} two "
        f"copies of instance {usage.iss} exist, or it was restored from a snapshot or its "
        "data directory copied"
    )


def _span(first: int | None, last: int | None) -> str:
    return "none" if first is None else f"{first}–{last}"
