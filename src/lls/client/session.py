"""A held license session: activate, keep alive in the background, notice loss, deactivate.

The server ends a session `sessionWindowSeconds` after its last activate or
extend (api.md §3), so the keep-alive extends at about half the window: one
missed beat still leaves time for retries. The ±10 % jitter keeps a fleet of
clients started together (after a power cut, say) from extending in lockstep.

A session is *lost* when an extend is refused (an admin ended it, the license
was revoked, …) or when no extend got through for a whole window — by then the
server has expired it, and an expired session is never revived (api.md §3).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING

from lls.client.errors import (
    LicenseClientError,
    LicenseRefused,
    RequestRejected,
    ServerError,
    ServerUnreachable,
    SessionLost,
)
from lls.client.models import FeatureResult, Reason, ValidationResult

if TYPE_CHECKING:
    from lls.client.api import LicenseClient
    from lls.client.offline import Lease, OfflineDevice

__all__ = ["FeatureCheckout", "LicenseSession", "OnLost", "keepalive_delay"]

log = logging.getLogger(__name__)

OnLost = Callable[[str], Awaitable[None] | None]

DAY_S = 86_400
DEFAULT_WINDOW_S = 600.0  # api.md §3 default, for servers that send no sessionExpiresAt
MIN_DELAY_S = 1.0  # never extend more often than this, whatever the window says
JITTER = 0.10
RETRY_FIRST_S = 0.5  # first retry after a transient failure; doubles up to a window/8


def masked(token: str) -> str:
    """A license token as logs show it: enough to tell licenses apart, not to use one."""
    return "…" + token[-4:] if len(token) > 8 else "…"


def keepalive_delay(window_s: float, rng: random.Random | None = None) -> float:
    """Seconds until the next extend: half the window, ±10 %, never under one second."""
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)  # jitter, not crypto
    return max(MIN_DELAY_S, window_s / 2 * factor)


class LicenseSession:
    """One seat held by this process for as long as the `async with` body runs.

    Made by `LicenseClient.session()`. Entering activates (LicenseRefused if no
    seat); exiting stops the keep-alive and deactivates, also when the body
    raised — the body's exception propagates unchanged, and a failing
    deactivate is only logged (the server frees the seat within one window
    anyway). Call `close()` instead to see that failure raised.
    """

    def __init__(
        self,
        client: LicenseClient,
        token: str,
        product_codes: list[str],
        auth_context: str,
        *,
        on_lost: OnLost | None = None,
        extend_every: float | None = None,
        device: OfflineDevice | None = None,
    ) -> None:
        if extend_every is not None and extend_every <= 0:
            raise ValueError("extend_every must be positive")
        self.client = client
        self.token = token
        self.product_codes = product_codes
        self.auth_context = auth_context
        self._on_lost = on_lost
        self._extend_every = extend_every
        self._result: ValidationResult | None = None
        self._window_s = DEFAULT_WINDOW_S
        self._last_ok = 0.0  # time.monotonic() when the last successful call was sent
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._lost_reason: str | None = None
        self._lost_message = ""
        self._closed = False
        self.device = device
        self._borrowed: Lease | None = None

    # --- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> LicenseSession:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.close()
        except LicenseClientError as error:
            why = "after the body failed" if exc is not None else "on exit"
            log.warning(
                "license session %s: deactivate failed %s (the seat frees itself within "
                "%.0f s): %s",
                masked(self.token),
                why,
                self._window_s,
                error,
            )

    async def start(self) -> ValidationResult:
        """Activate and start the keep-alive; LicenseRefused when the server says no."""
        if self._task is not None or self._closed:
            raise RuntimeError("a LicenseSession is started once")
        sent = time.monotonic()
        result, server_now = await self.client._session_call(
            "activate", self.token, self.product_codes, self.auth_context
        )
        self._accept(result, server_now, sent)
        self._start_keep_alive()
        return result

    def _start_keep_alive(self) -> None:
        self._task = asyncio.create_task(
            self._keep_alive(), name=f"lls-keepalive-{masked(self.token)}"
        )

    async def close(self) -> None:
        """Stop the keep-alive and deactivate; raises what deactivate raised (once only)."""
        if self._closed:
            return
        self._closed = True
        await self._stop_keep_alive()
        await self.client.deactivate(self.token, self.auth_context)

    async def _stop_keep_alive(self) -> None:
        task = self._task
        # From inside on_lost the keep-alive is the caller: it ends by itself.
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            # wait(), not await: the task's CancelledError is not ours to raise.
            await asyncio.wait([task])

    async def borrow(
        self,
        device: OfflineDevice | None = None,
        *,
        days: float | None = None,
        seconds: int | None = None,
    ) -> Lease:
        """Take this seat along for the road (LLS): the session becomes a borrowed seat.

        The lease (at most the license's `borrowMaxSeconds`, never past its end) is
        stored with `device` (default: the one given to `client.session(device=…)`);
        `device.check()` then works with no network until it ends. The keep-alive
        stops and leaving the `async with` no longer deactivates: the seat stays taken
        on the server until the lease ends or `client.return_borrow(device)` gives it back.
        """
        target = device or self.device
        if target is None:
            raise ValueError("borrow needs an OfflineDevice: borrow(device) or session(device=…)")
        if (days is None) == (seconds is None):
            raise ValueError("give borrow either days or seconds")
        wanted = int(seconds if seconds is not None else round((days or 0) * DAY_S))
        if wanted < 1:
            raise ValueError("a borrow lasts at least one second")
        if self._task is None or self._closed:
            raise RuntimeError("borrow from a started session")
        # No extend may race the borrow (it would find the session gone and call it lost).
        await self._stop_keep_alive()
        try:
            lease = await self.client.borrow(
                self.token,
                self.product_codes,
                target,
                seconds=wanted,
                auth_context=self.auth_context,
            )
        except BaseException:
            self._start_keep_alive()  # refused or failed: the session is held as before
            raise
        self._borrowed = lease
        self._closed = True  # the server ended the session: nothing to deactivate
        return lease

    @property
    def borrowed(self) -> Lease | None:
        """The lease this session was borrowed as, or None."""
        return self._borrowed

    # --- what the application looks at ----------------------------------------

    @property
    def result(self) -> ValidationResult:
        """The answer of the last successful activate or extend."""
        if self._result is None:
            raise RuntimeError("the session has not been started")
        return self._result

    @property
    def window_s(self) -> float:
        """The session window as measured from the server's last answer."""
        return self._window_s

    @property
    def lost(self) -> bool:
        """True once the session is known to be gone on the server."""
        return self._lost.is_set()

    @property
    def lost_reason(self) -> str | None:
        """Why the session was lost (a reason code), or None while it is held."""
        return self._lost_reason

    def raise_if_lost(self) -> None:
        """Raise SessionLost if the session is gone: a cheap check for the application's loop."""
        if self._lost_reason is not None:
            raise SessionLost(self._lost_reason, self._lost_message)

    async def wait_lost(self) -> str:
        """Wait until the session is lost; return the reason."""
        await self._lost.wait()
        assert self._lost_reason is not None  # set before the event
        return self._lost_reason

    def feature(self, code: str, quantity: int = 1) -> FeatureCheckout:
        """Feature units held for an `async with` body: checked out on enter, returned on exit."""
        return FeatureCheckout(self, code, quantity)

    async def checkout(self, code: str, quantity: int = 1) -> FeatureResult:
        """Check feature units out to this session (LicenseRefused when refused)."""
        return await self.client.checkout(self.token, self.auth_context, code, quantity)

    async def return_(self, code: str, quantity: int = 1) -> FeatureResult:
        """Return feature units held by this session."""
        return await self.client.return_(self.token, self.auth_context, code, quantity)

    # --- keep-alive ------------------------------------------------------------

    def _accept(self, result: ValidationResult, server_now: float | None, sent: float) -> None:
        """Record a successful answer and re-measure the window from it.

        The window is `sessionExpiresAt` minus the server's own `Date`, not our
        clock: machines in an air-gapped network often disagree on the time,
        and only the server's clock decides when the session ends.
        """
        self._result = result
        self._last_ok = sent
        expires = result.session_expires_at
        if expires is not None:
            now = server_now if server_now is not None else time.time()
            self._window_s = max(MIN_DELAY_S, expires.timestamp() - now)

    def _next_delay(self) -> float:
        if self._extend_every is not None:
            return self._extend_every
        return keepalive_delay(self._window_s)

    async def _keep_alive(self) -> None:
        try:
            while await self._beat():
                pass
        except Exception as exc:  # a bug here must not leave the app believing it holds a seat
            log.exception("license keep-alive failed unexpectedly")
            await self._mark_lost("CLIENT_ERROR", repr(exc))

    async def _beat(self) -> bool:
        """Sleep, then extend, retrying transient failures until the window has passed."""
        await asyncio.sleep(self._next_delay())
        backoff = RETRY_FIRST_S
        while True:
            sent = time.monotonic()
            try:
                result, server_now = await self.client._session_call(
                    "extend", self.token, self.product_codes, self.auth_context
                )
            except LicenseRefused as exc:
                await self._mark_lost(exc.reason, exc.message)
                return False
            except RequestRejected as exc:
                if exc.status != 429:  # the same request will never be accepted
                    await self._mark_lost(exc.code, exc.error)
                    return False
                wait = max(backoff, exc.retry_after or 0.0)
                failure: LicenseClientError = exc
            except (ServerUnreachable, ServerError) as exc:
                wait = backoff
                failure = exc
            else:
                self._accept(result, server_now, sent)
                return True
            left = self._last_ok + self._window_s - time.monotonic()
            if left <= 0:
                await self._mark_lost(Reason.SERVER_UNREACHABLE.value, str(failure))
                return False
            log.warning("license extend failed, retrying (%.0f s left): %s", left, failure)
            await asyncio.sleep(min(wait, left))
            backoff = min(backoff * 2, max(RETRY_FIRST_S, self._window_s / 8))

    async def _mark_lost(self, reason: str, message: str) -> None:
        if self._lost.is_set():
            return
        self._lost_reason = reason
        self._lost_message = message
        self._lost.set()
        log.warning("license session %s lost: %s %s", masked(self.token), reason, message)
        if self._on_lost is None:
            return
        try:
            outcome = self._on_lost(reason)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # the callback's failure must not hide the loss itself
            log.exception("on_lost callback failed")


class FeatureCheckout:
    """Units of one feature held for an `async with` body (made by `LicenseSession.feature`).

    Entering checks out (LicenseRefused when refused); exiting returns them.
    Consumption features cannot be returned — the server says
    FEATURE_NOT_RETURNABLE, which is the expected end here. On a lost session
    nothing is returned: the server gave the units back when it ended the session.
    """

    def __init__(self, session: LicenseSession, code: str, quantity: int) -> None:
        self.session = session
        self.code = code
        self.quantity = quantity
        self.result: FeatureResult | None = None
        self._released = False

    async def __aenter__(self) -> FeatureCheckout:
        self.result = await self.session.checkout(self.code, self.quantity)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.release()
        except LicenseClientError as error:
            log.warning("feature %s: return on exit failed: %s", self.code, error)

    async def release(self) -> FeatureResult | None:
        """Return the units now (once); None when there was nothing to give back."""
        if self._released or self.result is None:
            return None
        self._released = True
        if self.session.lost:
            return None
        try:
            return await self.session.return_(self.code, self.quantity)
        except LicenseRefused as exc:
            if exc.reason == Reason.FEATURE_NOT_RETURNABLE:
                return None
            raise
