"""Who is signed in to the dashboard: roles, server-side sessions, CSRF tokens, sign-in throttle.

Sessions live in memory only: a restart of the daemon signs everyone out, which is
the safe direction (no session store on disk to steal). The cookie carries a random
id; the server keeps only its SHA-256, so neither a memory dump's keys nor a
dictionary lookup's timing give a live cookie away.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

SESSION_MAX_S = 12 * 3600  # signed in at most this long, however busy
MAX_SESSIONS = 1000  # beyond this the least recently used session is dropped
SIGN_IN_WINDOW_S = 300.0
MAX_THROTTLED_ADDRESSES = 10_000

Now = Callable[[], float]


class Role(enum.StrEnum):
    ADMIN = "admin"  # the admin token: sees and changes everything
    VIEWER = "viewer"  # viewer.token: sees everything, changes nothing


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).digest()


class Tokens:
    """The two tokens one may sign in with, compared in constant time (as digests, so the
    comparison does not even depend on the length of what was typed)."""

    def __init__(self, admin: str, viewer: str | None) -> None:
        self._admin = _digest(admin)
        self._viewer = _digest(viewer) if viewer else None

    @property
    def has_viewer(self) -> bool:
        return self._viewer is not None

    def role_for(self, offered: str) -> Role | None:
        given = _digest(offered.strip())
        is_admin = hmac.compare_digest(given, self._admin)
        is_viewer = self._viewer is not None and hmac.compare_digest(given, self._viewer)
        if is_admin:
            return Role.ADMIN
        return Role.VIEWER if is_viewer else None


@dataclass(slots=True)
class UISession:
    """One signed-in browser."""

    role: Role
    csrf: str  # every state-changing form of this session carries it
    started: float
    seen: float
    flash: str | None = None  # a one-time message for the next page (after a redirect)
    flash_kind: str = "ok"

    @property
    def can_change(self) -> bool:
        return self.role is Role.ADMIN

    def say(self, message: str, kind: str = "ok") -> None:
        self.flash, self.flash_kind = message, kind

    def take_flash(self) -> tuple[str, str] | None:
        if self.flash is None:
            return None
        said = (self.flash, self.flash_kind)
        self.flash = None
        return said


class SessionBook:
    """Server-side sessions by cookie digest, ended after `idle_s` without a page view."""

    def __init__(self, idle_s: float, *, now: Now = time.monotonic) -> None:
        self.idle_s = idle_s
        self._now = now
        self._sessions: dict[bytes, UISession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def open(self, role: Role) -> tuple[str, UISession]:
        """A new session (always a new id: a sign-in never reuses one) and its cookie value."""
        now = self._now()
        self._purge(now)
        while len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions, key=lambda k: self._sessions[k].seen)
            del self._sessions[oldest]
        cookie = secrets.token_urlsafe(32)
        session = UISession(role, secrets.token_urlsafe(32), now, now)
        self._sessions[_digest(cookie)] = session
        return cookie, session

    def find(self, cookie: str | None, *, touch: bool = True) -> UISession | None:
        """The live session of `cookie`; `touch` counts this as activity (a page view does,
        the overview's polling does not: an unattended tab still times out)."""
        if not cookie or len(cookie) > 128:
            return None
        key = _digest(cookie)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._now()
        if now - session.seen > self.idle_s or now - session.started > SESSION_MAX_S:
            del self._sessions[key]
            return None
        if touch:
            session.seen = now
        return session

    def close(self, cookie: str | None) -> None:
        if cookie:
            self._sessions.pop(_digest(cookie), None)

    def _purge(self, now: float) -> None:
        dead = [
            k
            for k, s in self._sessions.items()
            if now - s.seen > self.idle_s or now - s.started > SESSION_MAX_S
        ]
        for key in dead:
            del self._sessions[key]


def same_token(given: str | None, expected: str) -> bool:
    """A form's CSRF token against the session's, in constant time."""
    if not given:
        return False
    return hmac.compare_digest(_digest(given), _digest(expected))


class SignInThrottle:
    """Wrong sign-ins per address: after `limit` within the window, that address must wait
    (even with the right token) until its oldest failure leaves the window."""

    def __init__(
        self, limit: int, window_s: float = SIGN_IN_WINDOW_S, *, now: Now = time.monotonic
    ):
        self.limit = limit
        self.window_s = window_s
        self._now = now
        self._failures: dict[str, list[float]] = {}

    def wait_s(self, address: str) -> int:
        """Seconds `address` must wait before its next try; 0 when it may try now."""
        recent = self._recent(address)
        if len(recent) < self.limit:
            return 0
        return max(1, int(recent[0] + self.window_s - self._now()) + 1)

    def failed(self, address: str) -> None:
        recent = self._recent(address)
        recent.append(self._now())
        self._failures.pop(address, None)
        self._failures[address] = recent[-self.limit :]  # most recent last (eviction order)
        while len(self._failures) > MAX_THROTTLED_ADDRESSES:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str) -> list[float]:
        cutoff = self._now() - self.window_s
        return [t for t in self._failures.get(address, ()) if t > cutoff]
