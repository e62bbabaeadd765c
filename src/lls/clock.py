"""Where time comes from: the wall clock in production, a hand-moved clock in tests."""

from __future__ import annotations

import functools
import time
from typing import Protocol


class Clock(Protocol):
    """The one source of 'now' (epoch seconds); injected so tests move time instead of sleeping."""

    def now(self) -> float: ...


class SystemClock:
    """The machine's wall clock (the clock-rollback rules judge it, never trust it blindly)."""

    def now(self) -> float:
        return time.time()


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, when: float) -> None:
        self._now = when


def rfc3339(ts: float) -> str:
    """Format epoch seconds as the wire's RFC 3339 UTC form, whole seconds (`…T10:00:00Z`)."""
    return _rfc3339_second(int(ts // 1))


@functools.lru_cache(maxsize=4096)
def _rfc3339_second(second: int) -> str:
    # Cached: under load most answers name the same few seconds (now + window).
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp (with `Z` or an offset) to epoch seconds."""
    from datetime import datetime

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return value.timestamp()
