"""Throttles clients that guess license tokens: too many unknown-token lookups → 429.

Only the guessing is throttled: the guard is consulted when a token turned out
to be unknown, never before a lookup, so a valid token is answered whatever
else came from its address (terminal servers and NAT gateways put many users
behind one). The price: an address over its limit can still tell a valid token
from an unknown one (an answer, not a 429), so the guard slows no one who holds
a list of candidates; tokens need entropy, and a burst of LICENSE_NOT_FOUND is
what to alert on (`lls_denials_total`, the `lls.refusals` log).
"""

from __future__ import annotations

import logging
import math

from lls.clock import Clock
from lls.errors import TooManyRequests

log = logging.getLogger(__name__)

MAX_TRACKED_CLIENTS = 100_000  # bounds memory when many addresses probe at once


class TokenGuessGuard:
    """Counts unknown-token lookups per client address in fixed windows."""

    def __init__(self, clock: Clock, *, limit: int = 30, window_s: float = 60.0) -> None:
        self._clock = clock
        self._limit = limit
        self._window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, failures)

    def note_unknown(self, address: str) -> None:
        """Count one unknown-token lookup from `address`; raise TooManyRequests past the limit."""
        now = self._clock.now()
        start, count = self._windows.get(address, (now, 0))
        if now - start >= self._window_s:
            start, count = now, 0
        if count >= self._limit:
            retry = start + self._window_s - now
            raise TooManyRequests(
                "too many lookups of unknown license tokens from this address; try again later",
                retry_after_s=max(1, math.ceil(retry)),
            )
        if len(self._windows) >= MAX_TRACKED_CLIENTS and address not in self._windows:
            self._windows.clear()
        self._windows[address] = (start, count + 1)
        if count + 1 == self._limit:
            log.warning(
                "%s looked up %d unknown license tokens within %.0f s: further unknown tokens"
                " from it get 429 until the window ends (valid ones are still answered)",
                address,
                self._limit,
                self._window_s,
            )
