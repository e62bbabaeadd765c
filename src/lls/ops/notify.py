"""The systemd notification protocol (sd_notify(3)), spoken directly: no library needed.

systemd passes `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket) to a
`Type=notify` service; we send `READY=1` once serving, `WATCHDOG=1` at half of
`WATCHDOG_USEC`, `STOPPING=1` on the way out. Outside systemd every call is a no-op.
These variables are systemd's protocol, not settings, so they are read here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Notifier:
    """Where to send notifications (None: not under systemd) and the watchdog period."""

    address: str | None = None
    watchdog_usec: int = 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec = 0
        pid = env.get("WATCHDOG_PID")
        if not pid or pid == str(os.getpid()):  # the watchdog is meant for this process
            try:
                usec = max(0, int(env.get("WATCHDOG_USEC", "0")))
            except ValueError:
                usec = 0
        return cls(address=address, watchdog_usec=usec)

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to ping: half of WatchdogSec, as sd_watchdog_enabled(3) advises."""
        if self.address is None or self.watchdog_usec <= 0:
            return None
        return self.watchdog_usec / 2_000_000

    def notify(self, *lines: str) -> bool:
        """Send `lines` as one datagram; False (never an exception) if it could not be sent."""
        if self.address is None:
            return False
        target = self.address
        if target.startswith("@"):  # abstract namespace: a leading NUL instead of '@'
            target = "\0" + target[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(target)
                sock.sendall("\n".join(lines).encode())
        except OSError as exc:
            log.warning("cannot notify systemd at %s: %s", self.address, exc)
            return False
        return True

    async def watchdog(self) -> None:
        """Ping systemd's watchdog until cancelled; a stuck event loop stops the pings."""
        interval = self.watchdog_interval_s
        if interval is None:
            return
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(interval)
