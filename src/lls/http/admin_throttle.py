"""Throttles addresses that send wrong admin tokens: 429 with Retry-After, audited sparingly.

An address may send `limit` wrong tokens per window (fixed windows, like the
unknown-token guard); beyond that every admin request from it is 429 until the
window ends, whatever token it carries, so the token cannot be guessed at line
rate. The right token clears the address's count.

Auditing: one `admin.throttled` event per throttling episode per address (the
request that crossed the limit), and at most `AUDITS_PER_WINDOW` such events
per window over all addresses, so a flood from many addresses cannot turn into
a write per request that fills the disk. Episodes beyond that bound are counted
and the next event written carries how many were left out (`unaudited`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lls.clock import Clock
from lls.errors import TooManyRequests

MAX_TRACKED_ADDRESSES = 100_000  # bounds memory when many addresses probe at once
AUDITS_PER_WINDOW = 20


@dataclass(frozen=True, slots=True)
class Episode:
    """An address just crossed the limit; what the audit event says."""

    address: str
    failures: int
    window_s: float
    unaudited: int  # episodes of other addresses not audited since the last event


class AdminTokenThrottle:
    """Counts wrong admin tokens per client address in fixed windows."""

    def __init__(self, clock: Clock, *, limit: int = 20, window_s: float = 60.0) -> None:
        self._clock = clock
        self._limit = limit
        self._window_s = window_s
        self._windows: dict[str, tuple[float, int]] = {}  # address -> (window start, failures)
        self._audit_window = (0.0, 0)  # (start, events written in it)
        self._unaudited = 0

    def check(self, address: str) -> None:
        """Raise TooManyRequests while `address` is over its limit in the current window."""
        entry = self._windows.get(address)
        if entry is None or entry[1] < self._limit:
            return
        retry = entry[0] + self._window_s - self._clock.now()
        if retry <= 0:
            del self._windows[address]
            return
        raise TooManyRequests(
            "too many wrong admin tokens from this address; try again later",
            retry_after_s=max(1, math.ceil(retry)),
        )

    def succeeded(self, address: str) -> None:
        """The right token: forget the address's failures (a dict lookup on the admin path)."""
        if address in self._windows:
            del self._windows[address]

    def failed(self, address: str) -> Episode | None:
        """Count one wrong token; an Episode when this one starts throttling the address
        and the audit bound of the window allows writing it, else None."""
        now = self._clock.now()
        start, count = self._windows.get(address, (now, 0))
        if now - start >= self._window_s:
            start, count = now, 0
        if len(self._windows) >= MAX_TRACKED_ADDRESSES and address not in self._windows:
            self._windows.clear()
        count += 1
        self._windows[address] = (start, count)
        if count != self._limit:
            return None
        return self._episode(address, count, now)

    def _episode(self, address: str, failures: int, now: float) -> Episode | None:
        start, written = self._audit_window
        if now - start >= self._window_s:
            start, written = now, 0
        if written >= AUDITS_PER_WINDOW:
            self._audit_window = (start, written)
            self._unaudited += 1
            return None
        self._audit_window = (start, written + 1)
        episode = Episode(address, failures, self._window_s, self._unaudited)
        self._unaudited = 0
        return episode
