"""The queue for the last seat: FIFO per license, timeouts with a place, cancellation,
policy-blocked waiters, bounds, and the expiry timer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from lls.clock import FakeClock, SystemClock
from lls.domain.seat_queue import Blocked, QueueResult, SeatQueues

FULL = Blocked("SESSION_LIMIT_REACHED", "All seats of this license are in use", everyone=True)


class OneLicense:
    """A license of `seats` and the activate rule's synchronous step, as the queue sees it."""

    def __init__(self, seats: int = 1, queues: SeatQueues[str] | None = None) -> None:
        self.seats = seats
        self.holders: dict[str, float] = {}  # device -> expires at
        self.capped: set[str] = set()  # devices the policy refuses for now
        self.excluded: set[str] = set()
        self.commits: list[str] = []
        self.queues = queues or SeatQueues[str](FakeClock(0.0))

    def attempt(self, device: str) -> Awaitable[str] | Blocked:
        if device in self.excluded:
            return self._answer(f"{device}: EXCLUDED_BY_POLICY")
        if device in self.capped:
            return Blocked("GROUP_LIMIT_REACHED", "contractors already hold 1 of 1 seats", False)
        if len(self.holders) >= self.seats:
            return FULL
        self.holders[device] = float("inf")
        return self._commit(device)

    async def _commit(self, device: str) -> str:
        await asyncio.sleep(0)  # the writer's group commit
        self.commits.append(device)
        return f"{device}: Success"

    async def _answer(self, text: str) -> str:
        return text

    async def activate(self, device: str, wait_s: float = 5) -> QueueResult[str]:
        first = self.attempt(device)
        if not isinstance(first, Blocked):
            return QueueResult(await first, 0.0)
        return await self.queues.wait(
            "L", device, wait_s, lambda: self.attempt(device), blocked=first
        )

    def deactivate(self, device: str) -> None:
        del self.holders[device]
        self.queues.seat_freed("L")


async def waiting(
    line: OneLicense, *devices: str, wait_s: float = 5
) -> list[asyncio.Task[QueueResult[str]]]:
    tasks = []
    for device in devices:
        tasks.append(asyncio.create_task(line.activate(device, wait_s)))
        await asyncio.sleep(0)  # arrival order is the order of the calls
    return tasks


async def test_three_waiters_get_the_seat_in_arrival_order_as_it_frees() -> None:
    line = OneLicense()
    await line.activate("holder")
    tasks = await waiting(line, "a", "b", "c")
    done = []
    for leaving, task in zip(("holder", "a", "b"), tasks, strict=True):
        line.deactivate(leaving)
        await asyncio.wait_for(asyncio.shield(task), 1)
        done.append([t.done() for t in tasks])
    assert done == [[True, False, False], [True, True, False], [True, True, True]]
    assert [t.result().answer for t in tasks] == ["a: Success", "b: Success", "c: Success"]


async def test_waiter_holds_no_seat_and_writes_nothing_until_granted() -> None:
    line = OneLicense()
    await line.activate("holder")
    await waiting(line, "a", "b")
    await asyncio.sleep(0.01)
    assert (list(line.holders), line.commits) == (["holder"], ["holder"])


async def test_waiter_that_runs_out_of_time_gets_its_place_in_the_queue() -> None:
    line = OneLicense()
    await line.activate("holder")
    first, late = await waiting(line, "a", "b", wait_s=5)
    (short,) = await waiting(line, "c", wait_s=0.05)
    result = await short
    assert (result.answer, result.position, result.blocked) == (None, 3, FULL)
    assert result.waited_s >= 0.05 and not first.done() and not late.done()
    first.cancel()
    late.cancel()


async def test_disconnected_waiter_leaves_and_gives_its_turn_to_the_next() -> None:
    line = OneLicense()
    await line.activate("holder")
    gone, patient = await waiting(line, "gone", "patient")
    gone.cancel()
    await asyncio.sleep(0)
    line.deactivate("holder")
    result = await asyncio.wait_for(patient, 1)
    assert result.answer == "patient: Success" and "gone" not in line.holders
    assert line.queues.stats["L"].cancelled == 1 and not line.queues.has_waiters("L")


async def test_cancel_in_the_same_step_as_the_grant_still_commits_it() -> None:
    line = OneLicense()
    await line.activate("holder")
    (task,) = await waiting(line, "a")
    line.deactivate("holder")  # grants "a" synchronously ...
    task.cancel()  # ... and its client goes away before the answer is written
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.01)
    assert line.commits == ["holder", "a"]  # memory and the database agree: "a" holds it


async def test_policy_blocked_head_keeps_its_place_and_does_not_block_the_next() -> None:
    line = OneLicense()
    await line.activate("holder")
    line.capped.add("ext-1")
    head, lab = await waiting(line, "ext-1", "lab-1")
    line.deactivate("holder")
    granted = await asyncio.wait_for(lab, 1)
    assert granted.answer == "lab-1: Success" and not head.done()
    line.capped.clear()  # the contractors' seat freed: the head is next, before newcomers
    (later,) = await waiting(line, "late")
    line.deactivate("lab-1")
    assert (await asyncio.wait_for(head, 1)).answer == "ext-1: Success" and not later.done()
    later.cancel()


async def test_policy_blocked_waiter_times_out_with_the_policy_reason() -> None:
    line = OneLicense(seats=2)
    await line.activate("holder")
    line.capped.add("ext-1")
    (task,) = await waiting(line, "ext-1", wait_s=0.05)
    line.queues.seat_freed("L")  # an attempt is made: the policy refuses it
    result = await task
    assert result.blocked is not None and result.blocked.reason == "GROUP_LIMIT_REACHED"
    assert result.position == 1


async def test_answer_for_good_ends_the_wait_at_once() -> None:
    line = OneLicense()
    await line.activate("holder")
    (task,) = await waiting(line, "stolen-pc")
    line.excluded.add("stolen-pc")  # a policy reload excludes it
    line.queues.everything_changed()
    result = await asyncio.wait_for(task, 1)
    assert result.answer == "stolen-pc: EXCLUDED_BY_POLICY" and "stolen-pc" not in line.holders


async def test_pool_that_grows_serves_every_waiter_it_can() -> None:
    line = OneLicense()
    await line.activate("holder")
    a, b, c = await waiting(line, "a", "b", "c")
    line.seats = 3
    line.queues.everything_changed()
    results = await asyncio.wait_for(asyncio.gather(a, b), 1)
    assert [r.answer for r in results] == ["a: Success", "b: Success"] and not c.done()
    c.cancel()


async def test_expiry_timer_wakes_the_head_when_the_window_lapses() -> None:
    clock = SystemClock()
    line = OneLicense()
    line.queues = SeatQueues[str](clock, lambda token: min(line.holders.values(), default=None))
    await line.activate("holder")
    line.holders["holder"] = clock.now() + 0.05  # its window ends in 50 ms, nobody says so

    def attempt(device: str) -> Awaitable[str] | Blocked:
        for who, until in list(line.holders.items()):  # the rule ends expired sessions first
            if until <= clock.now():
                del line.holders[who]
        return OneLicense.attempt(line, device)

    line.attempt = attempt  # type: ignore[method-assign]
    (task,) = await waiting(line, "a")
    result = await asyncio.wait_for(task, 2)
    assert result.answer == "a: Success" and 0.04 <= result.waited_s < 1.5


async def test_full_queue_answers_at_once_without_queueing() -> None:
    line = OneLicense(queues=SeatQueues[str](FakeClock(0.0), per_license=2, total=3))
    await line.activate("holder")
    first = await waiting(line, "a", "b")
    result = await line.activate("c")
    assert result.full and result.position is None and line.queues.stats["L"].refused_full == 1
    for task in first:
        task.cancel()


async def test_total_cap_counts_every_license() -> None:
    queues = SeatQueues[str](FakeClock(0.0), per_license=5, total=1)
    one, two = OneLicense(queues=queues), OneLicense(queues=queues)
    await one.activate("holder")
    (task,) = await waiting(one, "a")
    result = await queues.wait("M", "b", 1, lambda: FULL)
    assert result.full
    task.cancel()
    del two


@pytest.mark.parametrize("wait_s", [0, -1, 301, float("nan"), float("inf")])
async def test_wait_outside_bounds_is_refused(wait_s: float) -> None:
    with pytest.raises(ValueError, match="at most 300"):
        await SeatQueues[str](FakeClock(0.0)).wait("L", "a", wait_s, lambda: FULL)


async def test_attempt_that_raises_fails_only_its_waiter() -> None:
    line = OneLicense(seats=1)
    await line.activate("holder")
    broken, fine = await waiting(line, "broken", "fine")

    def attempt(device: str) -> Awaitable[str] | Blocked:
        if device == "broken":
            raise RuntimeError("a bug in the rule")
        return OneLicense.attempt(line, device)

    line.attempt = attempt  # type: ignore[method-assign]
    line.deactivate("holder")
    with pytest.raises(RuntimeError):
        await broken
    assert (await asyncio.wait_for(fine, 1)).answer == "fine: Success"


async def test_stats_count_waits_per_license() -> None:
    line = OneLicense()
    await line.activate("holder")
    served, timed_out = await waiting(line, "a", "b", wait_s=0.05)
    line.deactivate("holder")
    await served
    await timed_out
    stats = line.queues.stats["L"]
    assert (stats.waiting, stats.enqueued, stats.served, stats.timed_out) == (0, 2, 1, 1)
    assert stats.served_wait_s >= 0 and stats.max_wait_s <= 1


async def test_waiting_lists_devices_in_queue_order() -> None:
    line = OneLicense()
    await line.activate("holder")
    tasks = await waiting(line, "a", "b")
    assert [device for device, _ in line.queues.waiting("L")] == ["a", "b"]
    for task in tasks:
        task.cancel()
