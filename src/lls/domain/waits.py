"""Activates that wait for a seat (`waitSeconds`, api.md §3): the facade's side of the queue.

`SeatQueues` (domain.seat_queue) orders the waiters and runs their attempts; this
module gives it the attempt — the activate rule run again, synchronously, where a
seat may have freed — and turns how the wait ended into the answer. The rules
mark the licenses where a seat or units may have freed in `LicensingState.freed`
(a session ended, an offline seat given back); the facade calls `wake()` after
every rule, before it awaits the commit, so the waiters get those seats in the
same step that freed them and no newcomer can slip in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Sequence

from lls.clock import Clock
from lls.domain import sessions
from lls.domain.checks import NOT_FOUND, refuse
from lls.domain.models import MESSAGES, ClientInfo, FeatureOutcome, Outcome, Reason
from lls.domain.policy import Policy
from lls.domain.records import Record
from lls.domain.seat_queue import Blocked, SeatQueues
from lls.domain.state import LicensingState
from lls.errors import StorageError

Decided = Callable[[Outcome | FeatureOutcome, list[Record]], Awaitable[None]]
Commit = Callable[[Sequence[Record]], Awaitable[None]]
Noted = Callable[[str, Outcome], None]
MANY = 64  # more freed licenses than this in one step: wake every queue instead
# Refusals a wait can change: a seat frees, or the holders of a group change.
WAITABLE = frozenset(
    {Reason.SESSION_LIMIT_REACHED, Reason.SEAT_RESERVED, Reason.GROUP_LIMIT_REACHED}
)


def may_wait(outcome: Outcome) -> bool:
    return outcome.reason in WAITABLE


def blocked(outcome: Outcome) -> Blocked:
    """A refusal as the queue sees it: with no seat free at all nobody behind can get one."""
    reason = outcome.reason
    assert reason is not None
    everyone = reason is Reason.SESSION_LIMIT_REACHED
    return Blocked(reason.value, outcome.message or MESSAGES[reason], everyone)


class ActivateWaits:
    """The queues of every license, and the activates waiting in them."""

    def __init__(
        self, st: LicensingState, clock: Clock, decided: Decided, commit: Commit, noted: Noted
    ) -> None:
        self.st = st
        self.clock = clock
        self._decided = decided  # commits a rule's records (the facade's), as an answer would
        self._commit = commit
        self._noted = noted  # a refusal counts in the license's usage history
        self.queues: SeatQueues[Outcome] = SeatQueues(clock, self.next_free_at)
        st.queue_stats = self.queues.stats  # the same dict: /metrics reads it from the state
        self._background: set[asyncio.Task[None]] = set()

    def before(self, token: str) -> None:
        """Before an activate decides: a seat freed by the clock goes to the waiters first."""
        if self.queues.has_waiters(token):
            self.queues.seat_freed(token)

    def wake(self) -> None:
        """Give the seats the last step freed to the waiters, in arrival order (a pool
        import marks every license: then every queue is looked at instead)."""
        freed = self.st.freed
        if not freed:
            return
        self.st.freed = set()
        if len(freed) > MANY:
            self.queues.everything_changed()
            return
        for token in freed:
            self.queues.seat_freed(token)

    def set_policy(self, policy: Policy | None) -> None:
        """A new seat policy (start, reload): recount the groups, wake the queues. Live
        sessions all stay; only the next grant is governed by it."""
        self.st.policy.replace(policy, self.st.licenses)
        self.queues.everything_changed()

    async def activate(
        self,
        token: str,
        product_codes: Sequence[str],
        auth_context: str,
        wait_s: float,
        client_address: str | None,
        client_info: ClientInfo | None,
    ) -> Outcome:
        """The facade's activate: the rule now, and the wait when there is one to make."""
        self.before(token)  # a seat freed by the clock goes to the waiters first
        outcome, out = sessions.activate(
            self.st, token, product_codes, auth_context, self.clock.now(),
            client_address=client_address, client_info=client_info,
        )  # fmt: skip
        self._noted(token, outcome)
        await self._decided(outcome, out)
        return await self.after(
            outcome, wait_s, token, product_codes, auth_context, client_address, client_info
        )

    async def after(
        self,
        refused: Outcome,
        wait_s: float,
        token: str,
        product_codes: Sequence[str],
        auth_context: str,
        client_address: str | None,
        client_info: ClientInfo | None,
    ) -> Outcome:
        """The answer of an activate: `refused` waits up to `wait_s` when waiting can change
        it (a seat frees, a group's holders change); anything else is the answer now."""
        if wait_s <= 0 or not may_wait(refused):
            return refused
        return await self.wait(
            token, product_codes, auth_context, wait_s, refused,
            client_address=client_address, client_info=client_info,
        )  # fmt: skip

    async def wait(
        self,
        token: str,
        product_codes: Sequence[str],
        auth_context: str,
        wait_s: float,
        refused: Outcome,
        *,
        client_address: str | None,
        client_info: ClientInfo | None,
    ) -> Outcome:
        """Wait up to `wait_s` after the activate was `refused`; the answer of the wait."""

        def attempt() -> Awaitable[Outcome] | Blocked:
            outcome, out = sessions.activate(
                self.st, token, product_codes, auth_context, self.clock.now(),
                client_address=client_address, client_info=client_info,
            )  # fmt: skip
            if not outcome.ok and may_wait(outcome):
                if out:  # it ended expired sessions on the way: those records are written
                    self._commit_later(out)
                return blocked(outcome)
            return self._answer_after(outcome, out)

        first = blocked(refused)
        result = await self.queues.wait(token, auth_context, wait_s, attempt, blocked=first)
        if result.answer is not None:
            return result.answer
        if result.full:
            return dataclasses.replace(refused, waited=True)
        last = result.blocked or first
        state = self.st.licenses.get(token)
        if state is None:
            return NOT_FOUND
        answer = refuse(state, Reason(last.reason), last.message)
        return dataclasses.replace(answer, waited=True, queue_position=result.position)

    def next_free_at(self, token: str) -> float | None:
        """When a seat of `token` frees by itself: the earliest session or lease end."""
        state = self.st.licenses.get(token)
        if state is None:
            return None
        ends = [s.expires_at for s in state.sessions.values()]  # an expired one: purged then
        if state.offline:  # a lease that ended stays listed: only those still to end count
            now = self.clock.now()
            ends += [a.lease_expires_at for a in state.offline.values() if a.live(now)]
        return min(ends, default=None)

    async def _answer_after(self, outcome: Outcome, out: list[Record]) -> Outcome:
        await self._decided(outcome, out)
        return outcome

    def _commit_later(self, out: list[Record]) -> None:
        task = asyncio.get_running_loop().create_task(self._commit_quietly(out))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _commit_quietly(self, out: list[Record]) -> None:
        with contextlib.suppress(StorageError):  # memory was rebuilt from the database
            await self._commit(out)
