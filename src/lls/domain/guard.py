"""Throttles clients that guess license tokens: too many unknown-token lookups → 429."""

from __future__ import annotations

import math

from lls.clock import Clock
from lls.errors import TooManyRequests

MAX_TRACKED_CLIENTS = 100_000  # bounds memory when many addresses probe at once


class TokenGuessGuard:
    """Counts unknown-token lookups per client address in fixed windows."""

    def __init__(self, clock: Clock, *, limit: int = 30, window_s: float = 60.0) -> None:
        self._clock = clock
        self._limit = limit
        self._window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, failures)

    def check(self, address: str) -> None:
        """Raise TooManyRequests while `address` is over its limit in the current window."""
        entry = self._windows.get(address)
        if entry is None or entry[1] < self._limit:
            return
        start, _ = entry
        retry = start + self._window_s - self._clock.now()
        if retry <= 0:
            del self._windows[address]
            return
        raise TooManyRequests(
            "too many lookups of unknown license tokens from this address; try again later",
            retry_after_s=max(1, math.ceil(retry)),
        )

    def record_failure(self, address: str) -> None:
        """Count one unknown-token lookup from `address`."""
        now = self._clock.now()
        start, count = self._windows.get(address, (now, 0))
        if now - start >= self._window_s:
            start, count = now, 0
        if len(self._windows) >= MAX_TRACKED_CLIENTS and address not in self._windows:
            self._windows.clear()
        self._windows[address] = (start, count + 1)
