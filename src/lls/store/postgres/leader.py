"""One leader per instance, by the database: a session-level advisory lock on one connection.

The node whose dedicated connection holds `pg_advisory_lock(advisory_key(instance_id))` is
the leader. The lock lives exactly as long as that server session: when the connection
dies (crash, kill, `pg_terminate_backend`, a partition the server's keepalives notice), the
server releases the lock and a standby's next `pg_try_advisory_lock` — tried at least once
a second — takes it. Fencing comes from writing through that same connection only (see
writer.py): a COMMIT succeeds only on a live session, and a live session still holds the
lock, so a node that lost the lock can never commit, whatever it believes.

Any error on the connection (closed, timed out, refused) counts as "lost at once": the node
stops granting before it knows more, drops the connection and becomes a standby.

Belief is a lease, so two nodes never both *believe* they lead, even before the old one
has noticed its loss (a partition, or a close still in flight): a round trip sent at t
that succeeded proves the lock was held at t, so the leader believes until t + lease and
heartbeats every `interval` to extend it; a node that takes the lock believes only from
lease seconds after it got it. Old belief ends at t_last + lease < t_taken + lease, when
the new one begins. (Clocks need the same rate, not the same time.) Writes never rely on
belief: fencing is by the connection, as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

from lls.errors import StorageError
from lls.store.postgres.connection import Conn, connect, describe

log = logging.getLogger(__name__)

TRY_INTERVAL_S = 0.5  # a standby tries the lock, and the leader proves its connection, this often
LEASE_S = 2.0  # how long one proven round trip lets a node believe it leads (> interval + RTT)
STATEMENT_TIMEOUT_S = 5.0  # a lock or heartbeat query unanswered this long: the link is dead


def advisory_key(instance_id: str) -> int:
    """The leader lock's key: the first 8 bytes of SHA-256(instance id, UTF-8), signed bigint.

    In SQL: ('x' || left(encode(sha256(convert_to(ID, 'UTF8')), 'hex'), 16))::bit(64)::bigint;
    pg_locks shows it as classid = high 32 bits, objid = low 32 bits, objsubid = 1.
    """
    return int.from_bytes(hashlib.sha256(instance_id.encode()).digest()[:8], "big", signed=True)


class NotLeader(StorageError):
    """This node does not hold the leader lock (now): it must not decide or write."""

    default_code = "NOT_LEADER"


def connection_lost(exc: BaseException, conn: Conn | None) -> bool:
    """True when `exc` means the session (and so the lock) may be gone, not just a bad query."""
    if conn is None or conn.is_closed():
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        return state[:2] in ("08", "57")  # connection exception, operator intervention
    return True  # timeouts, interface and OS errors: the connection's state is unknown


class LeaderLock:
    """Holds (or keeps trying to take) the instance's leader lock on a dedicated connection."""

    def __init__(
        self,
        url: str,
        key: int,
        *,
        interval: float = TRY_INTERVAL_S,
        lease: float = LEASE_S,
        timeout: float = STATEMENT_TIMEOUT_S,
        on_gained: Callable[[], Awaitable[None]] | None = None,
        on_lost: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.url, self.key = url, key
        if lease <= interval:
            raise ValueError("the lease must outlast the heartbeat interval")
        self.interval, self.lease, self.timeout = interval, lease, timeout
        self._on_gained, self._on_lost = on_gained, on_lost
        self._conn: Conn | None = None
        self._held = False  # the server granted the lock to our connection, which still lives
        self._from = self._until = 0.0  # the belief window (monotonic seconds)
        self._use = asyncio.Lock()  # the heartbeat and the writer take turns on the connection
        self._last_ok = 0.0
        self._task: asyncio.Task[None] | None = None
        self._taking: asyncio.Task[None] | None = None
        # A node that lost the lock rests a lease before it competes again: the standbys,
        # which try every interval, take over, rather than the node whose link just failed.
        self._rest_until = 0.0

    @property
    def held(self) -> bool:
        """Whether our live connection holds the lock (it may already be gone server-side)."""
        return self._held

    @property
    def leading(self) -> bool:
        """Whether this node may act as the leader this instant: held, within its lease."""
        return self._held and self._from <= time.monotonic() < self._until

    @property
    def backend_pid(self) -> int | None:
        """The server process of the lock connection (for `pg_terminate_backend` and pg_locks)."""
        return self._conn.get_server_pid() if self._conn is not None else None

    async def start(self) -> None:
        """Start trying for the lock in the background (returns at once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="lls-leader")

    async def stop(self) -> None:
        """Stop trying; release the lock by closing its connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        taking, self._taking = self._taking, None
        if taking is not None:
            taking.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await taking
        conn, self._conn, was = self._conn, None, self._held
        self._held = False
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), self.timeout)
            conn.terminate()
        if was and self._on_lost is not None:
            self._on_lost(None)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """Exclusive use of the lock connection while it holds the lock; errors that may have
        cost the connection lose the lock; success proves it held when the use began."""
        if not self._held:
            raise NotLeader("this node is not the leader")
        async with self._use:
            conn = self._conn
            if not self._held or conn is None:
                raise NotLeader("this node lost the leader lock")
            sent = time.monotonic()
            try:
                yield conn
            except Exception as exc:
                if connection_lost(exc, conn):
                    self.lose(exc)
                raise
            if conn is self._conn:
                self._last_ok = time.monotonic()
                self._until = max(self._until, sent + self.lease)

    def lose(self, reason: BaseException | None) -> None:
        """Stop leading now (synchronously) and drop the connection, releasing the lock."""
        conn, self._conn = self._conn, None
        was, self._held = self._held, False
        taking, self._taking = self._taking, None
        if taking is not None and taking is not asyncio.current_task():
            taking.cancel()
        if conn is not None and not conn.is_closed():
            conn.terminate()  # no graceful close: a half-dead link must not delay the standby
        if was:
            self._rest_until = time.monotonic() + self.lease
            log.warning("lost the leader lock: %s", describe(reason) if reason else "closed")
            if self._on_lost is not None:
                self._on_lost(reason)

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure: no lock, a fresh connection next time
                self.lose(exc)
            await asyncio.sleep(self.interval)

    async def _step(self) -> None:
        if self._conn is None:
            conn = await connect(self.url, role="leader lock")
            conn.add_termination_listener(self._terminated)
            self._conn = conn
        if not self._held:
            if time.monotonic() < self._rest_until:
                return  # just lost it: give the standbys their turn first
            sent = time.monotonic()
            got = await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", self.key, timeout=self.timeout
            )
            if got:
                self._gain(sent)
        elif time.monotonic() - self._last_ok >= self.interval:
            async with self.connection() as conn:  # prove the session (and so the lock) lives
                await conn.fetchval("SELECT 1", timeout=self.timeout)

    def _gain(self, sent: float) -> None:
        """Got the lock: believe only after a lease (the old leader's belief has run out by
        then); meanwhile `on_gained` loads state and the heartbeat keeps the lease alive."""
        now = time.monotonic()
        self._held, self._last_ok = True, now
        self._from, self._until = now + self.lease, sent + self.lease
        log.info("took the leader lock; leading in %.1f s", self.lease)
        if self._on_gained is not None:
            self._taking = asyncio.get_running_loop().create_task(self._take_over())

    async def _take_over(self) -> None:
        assert self._on_gained is not None
        try:
            await self._on_gained()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # could not take over: let another node try
            log.warning("could not take over as leader: %s", describe(exc))
            self.lose(exc)
        finally:
            if self._taking is asyncio.current_task():
                self._taking = None

    def _terminated(self, conn: object) -> None:
        """asyncpg's notice that the connection closed: if it was ours, the lock is gone."""
        if conn is self._conn:
            self.lose(ConnectionError("the lock connection closed"))
