"""The queue for the last seat (issue 16 §2): activates that wait, first in first out.

An activate with `waitSeconds` that finds no seat for it waits here instead of
being refused. A waiter holds no seat and causes no write: it is a future and a
closure (`attempt`) that runs the activate rule's synchronous step again. When
a seat may have freed — a deactivate, an end, an expiry, an offline
deactivation, a pool import or policy reload, or the earliest live session's
window lapsing (a timer) — `seat_freed(token)` runs the waiters' attempts in
arrival order, *in the same synchronous step* as the freeing, so no newcomer
can slip in between and the seat count still decides: exactly `seats` win.

Order and the policy: the scan stops at the first waiter that finds no seat at
all (nobody behind it could get one either). A waiter the policy refuses (its
group is at its cap, or the free seat is reserved for another group) keeps its
place at the head and the scan goes on to the next, whose grant may be allowed:
a blocked head never blocks a waiter the policy lets in, and it gets the next
seat its policy allows before anyone behind it. An attempt that answers for
good (the device is excluded, the license was revoked) ends that wait at once.

Bounds: 0 < wait ≤ 300 s; at most 1,000 waiters per license and 10,000 in all
(each is an open connection: beyond that, refuse at once rather than run out of
file descriptors). A waiter that runs out of time is answered with its place in
the queue (1 = next); one whose client disconnects (its task is cancelled)
leaves the queue, and the next in line moves up.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from lls.clock import Clock

T = TypeVar("T")

MAX_WAIT_S = 300
MAX_WAITERS_PER_LICENSE = 1_000
MAX_WAITERS = 10_000
# A "next free at" in the past that did not free a seat (the session was extended,
# or the policy still refuses): look again after this, not in a busy loop; the expiry
# sweep frees such a seat by itself and wakes the queue then.
STALE_RETRY_S = 1.0
TIMER_SLACK_S = 0.005  # fire just after the window ends: a session is over at expires_at


@dataclass(frozen=True, slots=True)
class Blocked:
    """An attempt that got no seat: why, and whether anyone behind could get one."""

    reason: str
    message: str
    everyone: bool  # True: no seat is free at all, so the scan stops here


@dataclass(frozen=True, slots=True)
class QueueResult(Generic[T]):
    """How a wait ended: the attempt's answer, or no seat in time (with the place held)."""

    answer: T | None
    waited_s: float
    position: int | None = None  # 1-based place in the queue when the time ran out
    blocked: Blocked | None = None  # the refusal that kept it waiting last
    full: bool = False  # the queue was full: not queued at all


@dataclass(slots=True)
class QueueStats:
    """Plain counters per license for the metrics module (never labelled by token)."""

    waiting: int = 0
    enqueued: int = 0
    served: int = 0  # answered by an attempt (granted, or refused for good)
    timed_out: int = 0
    cancelled: int = 0
    refused_full: int = 0
    served_wait_s: float = 0.0  # total time the served waiters waited
    max_wait_s: float = 0.0


class _Waiter:
    __slots__ = ("attempt", "deadline", "device", "enqueued_at", "future", "last", "timer")

    def __init__(
        self, device: str, attempt: Callable[[], object], future: asyncio.Future[object], now: float
    ) -> None:
        self.device = device
        self.attempt = attempt
        self.future = future
        self.enqueued_at = now
        self.deadline = now
        self.last: Blocked | None = None
        self.timer: asyncio.TimerHandle | None = None


class _Queue:
    __slots__ = ("again", "serving", "timer", "timer_at", "waiters")

    def __init__(self) -> None:
        self.waiters: dict[_Waiter, None] = {}  # an ordered set: arrival order, O(1) removal
        self.serving = False
        self.again = False
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at: float | None = None


@dataclass(frozen=True, slots=True)
class _TimedOut:
    position: int


class SeatQueues(Generic[T]):
    """Every license's queue; `next_free_at(token)` is when a seat frees by itself (the
    earliest session expiry or offline lease end), or None."""

    def __init__(
        self,
        clock: Clock,
        next_free_at: Callable[[str], float | None] = lambda token: None,
        *,
        per_license: int = MAX_WAITERS_PER_LICENSE,
        total: int = MAX_WAITERS,
    ) -> None:
        self._clock = clock
        self._next_free_at = next_free_at
        self._per_license = per_license
        self._total_cap = total
        self._queues: dict[str, _Queue] = {}
        self._total = 0
        self.stats: dict[str, QueueStats] = {}

    def has_waiters(self, token: str) -> bool:
        """Whether `token` has a queue (one dict lookup: the activate rule asks every time)."""
        return token in self._queues

    def waiting(self, token: str) -> list[tuple[str, float]]:
        """(authContext, seconds waited) of each waiter, in queue order (for the admin)."""
        queue = self._queues.get(token)
        now = asyncio.get_running_loop().time()
        return [(w.device, now - w.enqueued_at) for w in queue.waiters] if queue else []

    async def wait(
        self,
        token: str,
        device: str,
        wait_s: float,
        attempt: Callable[[], Awaitable[T] | Blocked],
        *,
        blocked: Blocked | None = None,
    ) -> QueueResult[T]:
        """Wait up to `wait_s` for `attempt` to answer; call it after an attempt was `blocked`
        (that refusal is the answer's if no other attempt is made before the time runs out)."""
        if not (0 < wait_s <= MAX_WAIT_S) or not math.isfinite(wait_s):
            raise ValueError(f"a wait is more than 0 and at most {MAX_WAIT_S} seconds")
        loop = asyncio.get_running_loop()
        stats = self.stats.setdefault(token, QueueStats())
        queue = self._queues.get(token)
        if (queue is not None and len(queue.waiters) >= self._per_license) or (
            self._total >= self._total_cap
        ):
            stats.refused_full += 1
            return QueueResult(None, 0.0, full=True)
        if queue is None:
            queue = self._queues[token] = _Queue()
        waiter = _Waiter(device, attempt, loop.create_future(), loop.time())
        waiter.deadline = waiter.enqueued_at + wait_s
        waiter.last = blocked
        waiter.timer = loop.call_at(waiter.deadline, self._time_out, token, waiter)
        queue.waiters[waiter] = None
        self._total += 1
        stats.waiting += 1
        stats.enqueued += 1
        self._arm(token, queue)
        try:
            outcome = await waiter.future
        except asyncio.CancelledError:
            if self._leave(token, waiter):
                stats.cancelled += 1
            raise
        waited = loop.time() - waiter.enqueued_at
        if isinstance(outcome, _TimedOut):
            return QueueResult(None, waited, position=outcome.position, blocked=waiter.last)
        # Shielded: a client gone now does not undo a grant already decided (its commit runs).
        answer = await asyncio.shield(cast("Awaitable[T]", outcome))
        return QueueResult(answer, waited)

    def seat_freed(self, token: str) -> None:
        """A seat of `token` may be free: give it to the waiters, in order, right now."""
        queue = self._queues.get(token)
        if queue is None:
            return
        if queue.serving:  # an attempt freed a seat (it ended an expired session): scan again
            queue.again = True
            return
        queue.serving = True
        try:
            for _ in range(2):  # one more pass at most, when a pass itself freed seats
                queue.again = False
                self._scan(token, queue)
                if not queue.again:
                    break
        finally:
            queue.serving = False
        self._arm(token, queue)

    def everything_changed(self) -> None:
        """A pool import or policy reload: seats, licenses or groups changed for everyone."""
        for token in list(self._queues):
            self.seat_freed(token)

    def _scan(self, token: str, queue: _Queue) -> None:
        """Attempt for each waiter in order until one finds no seat at all. The dict is not
        changed while it is walked (nothing else runs during this synchronous scan): who
        is answered leaves it afterwards, so a scan costs what it visits, not the queue."""
        answered: list[tuple[_Waiter, object]] = []
        for waiter in queue.waiters:
            if waiter.future.done():  # its task was cancelled a moment ago: it is leaving
                answered.append((waiter, None))
                continue
            try:
                result = waiter.attempt()
            except Exception as exc:  # a bug in the rule: that waiter's request fails
                answered.append((waiter, exc))
                continue
            if isinstance(result, Blocked):
                waiter.last = result
                if result.everyone:
                    break
                continue
            answered.append((waiter, result))
        for waiter, result in answered:
            if waiter.future.done():
                self._remove(token, queue, waiter)
                self.stats[token].cancelled += 1
            else:
                self._serve(token, queue, waiter, result)

    def _serve(self, token: str, queue: _Queue, waiter: _Waiter, result: object) -> None:
        loop = asyncio.get_running_loop()
        self._remove(token, queue, waiter)
        stats = self.stats[token]
        waited = loop.time() - waiter.enqueued_at
        stats.served += 1
        stats.served_wait_s += waited
        stats.max_wait_s = max(stats.max_wait_s, waited)
        if isinstance(result, Exception):
            waiter.future.set_exception(result)
            return
        if inspect.iscoroutine(result):
            result = loop.create_task(result)  # the grant's commit runs even if the client left
        waiter.future.set_result(result)

    def _time_out(self, token: str, waiter: _Waiter) -> None:
        queue = self._queues.get(token)
        if queue is None or waiter not in queue.waiters or waiter.future.done():
            return
        position = list(queue.waiters).index(waiter) + 1
        self._remove(token, queue, waiter)
        self.stats[token].timed_out += 1
        waiter.future.set_result(_TimedOut(position))

    def _leave(self, token: str, waiter: _Waiter) -> bool:
        """Remove a cancelled waiter; True if it was still waiting (not answered)."""
        queue = self._queues.get(token)
        if queue is None or waiter not in queue.waiters:
            return False
        self._remove(token, queue, waiter)
        return True

    def _remove(self, token: str, queue: _Queue, waiter: _Waiter) -> None:
        del queue.waiters[waiter]
        self._total -= 1
        self.stats[token].waiting -= 1
        if waiter.timer is not None:
            waiter.timer.cancel()
        if not queue.waiters and not queue.serving:
            self._drop(token, queue)

    def _drop(self, token: str, queue: _Queue) -> None:
        if queue.timer is not None:
            queue.timer.cancel()
        if self._queues.get(token) is queue:
            del self._queues[token]

    def _arm(self, token: str, queue: _Queue) -> None:
        """A timer for when a seat of `token` frees by itself, while anyone waits."""
        if not queue.waiters:
            self._drop(token, queue)
            return
        at = self._next_free_at(token)
        if at == queue.timer_at and queue.timer is not None and not queue.timer.cancelled():
            return
        if queue.timer is not None:
            queue.timer.cancel()
            queue.timer = None
        queue.timer_at = at
        if at is None:
            return
        delay = at - self._clock.now()
        delay = delay + TIMER_SLACK_S if delay > 0 else STALE_RETRY_S
        queue.timer = asyncio.get_running_loop().call_later(delay, self._on_timer, token, queue)

    def _on_timer(self, token: str, queue: _Queue) -> None:
        queue.timer = None
        queue.timer_at = None
        if self._queues.get(token) is queue:
            self.seat_freed(token)
