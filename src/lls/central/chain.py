"""The audit hash chain of usage files, checked on the vendor side (tamper evidence).

Every event an instance writes carries `prevHash` (its predecessor's hash, the
genesis hash for event 1) and `hash` = `lls.sealed.chain.chain_hash(...)` over
the event and `prevHash`. A usage file holds every event after the point the
vendor acknowledged, so:

- inside one file, each event must recompute to its hash and link to the one
  before it, ids contiguous, `eventRange` and `chainHead` matching the events;
- across files, the file must continue what this vendor read before: its first
  event links to the known hash before it, every event id the vendor knows a
  hash for carries that same hash, it never ends before the last event read,
  and it never starts after an event the vendor has not read (a gap).

Because each hash covers its predecessor's, one matching known hash proves that
every event up to it is the one read before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lls.central.state import InstanceRecord
from lls.clock import parse_rfc3339
from lls.sealed.chain import GENESIS_HASH, chain_hash
from lls.sealed.payloads import UsageEvent, UsagePayload

# What reading a usage file concluded; only "ok" records anything.
Verdict = Literal["ok", "duplicate", "fork", "regression", "chain_broken"]

CHAIN_BROKEN = "CHAIN_BROKEN"
MISSING_EVENTS = "MISSING_EVENTS"
HISTORY_REWRITTEN = "HISTORY_REWRITTEN"

_COPIED = (
    "two copies of this instance exist, or it was restored from a snapshot or backup, "
    "or its data directory was copied"
)


@dataclass(frozen=True, slots=True)
class UsageProblem:
    """Why a usage file is not accepted: a stable code, the verdict it implies, plain words."""

    code: str
    verdict: Verdict
    message: str


def short(digest: str | None) -> str:
    """A hash as people read it: its first 12 hex digits."""
    return "none" if digest is None else f"{digest[:12]}…"


def chain_problems(
    record: InstanceRecord, usage: UsagePayload, *, continuity: bool = True
) -> list[UsageProblem]:
    """The file's own chain first; only a sound chain is then compared with what was read."""
    broken = internal_problem(usage)
    if broken is not None:
        return [broken]
    return continuity_problems(record, usage) if continuity else []


def internal_problem(usage: UsagePayload) -> UsageProblem | None:
    """The first way the file's events fail to form one unbroken chain, or None."""
    events = usage.events
    if not events:
        if usage.eventRange.first is not None or usage.eventRange.last is not None:
            return _broken(
                f"the file says it holds events {usage.eventRange.first}–"
                f"{usage.eventRange.last} but carries none"
            )
        return None
    if events[0].id < 1:
        return _broken(f"event ids start at 1, but the file starts at event {events[0].id}")
    previous: UsageEvent | None = None
    for event in events:
        problem = _event_problem(event, previous)
        if problem is not None:
            return problem
        previous = event
    first, last = events[0], events[-1]
    if (usage.eventRange.first, usage.eventRange.last) != (first.id, last.id):
        return _broken(
            f"the file says it holds events {usage.eventRange.first}–{usage.eventRange.last} "
            f"but carries events {first.id}–{last.id}"
        )
    if usage.chainHead != last.hash:
        return _broken(
            f"the file's chain head {short(usage.chainHead)} is not the hash of its last "
            f"event {last.id} ({short(last.hash)})"
        )
    return None


def _event_problem(event: UsageEvent, previous: UsageEvent | None) -> UsageProblem | None:
    if previous is not None and event.id != previous.id + 1:
        gone = (
            f"event {previous.id + 1} is missing"
            if event.id > previous.id + 1
            else f"event {event.id} comes after event {previous.id}"
        )
        return _broken(f"the events are not contiguous: {gone}")
    if event.hash is None or event.prevHash is None:
        return _broken(f"event {event.id} carries no hash, so its history cannot be verified")
    if previous is None and event.id == 1 and event.prevHash != GENESIS_HASH:
        return _broken(
            f"event 1 does not start the chain (its prevHash is {short(event.prevHash)}, "
            "not the genesis hash): the event log was altered"
        )
    if previous is not None and event.prevHash != previous.hash:
        return _broken(
            f"event {event.id} does not follow event {previous.id} (its prevHash is not "
            f"event {previous.id}'s hash): the event log was altered"
        )
    try:
        at = parse_rfc3339(event.at)
    except ValueError:
        return _broken(f"event {event.id} has an unreadable time {event.at!r}")
    digest = chain_hash(
        prev_hash=event.prevHash,
        event_id=event.id,
        at=at,
        type=event.type,
        license=event.license,
        auth_context=event.authContext,
        data=event.data,
    )
    if digest != event.hash:
        return _broken(
            f"event {event.id} does not match its hash: the event was altered after it was "
            "written (the file's signature is valid, so in the instance's event log)"
        )
    return None


def known_points(record: InstanceRecord) -> dict[int, str]:
    """Every {event id: hash} this vendor can vouch for: the genesis, the kept boundaries."""
    points = {0: GENESIS_HASH, **record.chainPoints}
    if record.lastEventId is not None and record.lastChainHead is not None:
        points.setdefault(record.lastEventId, record.lastChainHead)  # a record made before points
    return points


def continuity_problems(record: InstanceRecord, usage: UsagePayload) -> list[UsageProblem]:
    """How a file with a sound chain fails to continue what was read from this instance."""
    if not usage.events:
        return _empty_file_problems(record, usage)
    first, last = usage.events[0].id, usage.events[-1].id
    last_read = record.lastEventId or 0
    problems: list[UsageProblem] = []
    if first - 1 > last_read:
        gap = (
            f"event {first - 1}"
            if first - 1 == last_read + 1
            else f"events {last_read + 1}–{first - 1}"
        )
        problems.append(
            UsageProblem(
                MISSING_EVENTS,
                "chain_broken",
                f"{gap} of instance {usage.iss} were never received: the file starts at event "
                f"{first}, but the last event read from it was "
                f"{record.lastEventId if record.lastEventId is not None else 'none'}; the "
                "instance dropped events this vendor never acknowledged (its event log was "
                "truncated or its database edited)",
            )
        )
    if last < last_read:
        problems.append(
            UsageProblem(
                HISTORY_REWRITTEN,
                "fork",
                f"the file ends at event {last}, but event {last_read} was already read from "
                f"instance {usage.iss}: its history went backwards; {_COPIED}",
            )
        )
    hashes = {first - 1: usage.events[0].prevHash, **{e.id: e.hash for e in usage.events}}
    for point, known in sorted(known_points(record).items()):
        if first - 1 <= point <= last and hashes[point] != known:
            problems.append(
                UsageProblem(
                    HISTORY_REWRITTEN,
                    "fork",
                    f"event {point} differs from the event {point} read before (hash "
                    f"{short(hashes[point])} now, {short(known)} then): the history of instance "
                    f"{usage.iss} was rewritten; {_COPIED}",
                )
            )
            break  # one differing point implies every later one differs too
    return problems


def _empty_file_problems(record: InstanceRecord, usage: UsagePayload) -> list[UsageProblem]:
    """No events: everything was acknowledged, so the head is the last event read before."""
    head = None if usage.chainHead == GENESIS_HASH else usage.chainHead
    if record.lastEventId is None:
        if head is None:
            return []
        return [
            UsageProblem(
                MISSING_EVENTS,
                "chain_broken",
                f"instance {usage.iss} reports a chain head ({short(head)}) but no events, "
                "and no event of it was ever received: its events were dropped unread",
            )
        ]
    if head == record.lastChainHead:
        return []
    now = "no event at all" if head is None else f"a newest event with hash {short(head)}"
    return [
        UsageProblem(
            HISTORY_REWRITTEN,
            "fork",
            f"instance {usage.iss} reports {now}, but its event {record.lastEventId} was read "
            f"before with hash {short(record.lastChainHead)}: its history was rewritten; "
            f"{_COPIED}",
        )
    ]


def _broken(message: str) -> UsageProblem:
    return UsageProblem(CHAIN_BROKEN, "chain_broken", message)
