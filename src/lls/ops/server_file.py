"""server.json: where the CLI finds the running server of a data directory.

It is a convenience for the CLI, never a condition for serving: a restart while the
data directory's disk is full must still serve the licenses (reads answer, writes get
503 until space returns), so a server file that cannot be written is retried in the
background instead of stopping the daemon. Until it is written the CLI answers "no
running server" (or takes `--url`), and a stale file from a killed daemon is removed
so that the CLI never talks to another process that took its old port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path

from lls.ops.file_modes import FILE_MODE

log = logging.getLogger(__name__)

RETRY_S = 2.0  # how often a server file that could not be written is tried again


def write_server_file(path: Path, url: str, cafile: str | None = None) -> None:
    """Write `path` atomically (a temporary file renamed over it), 0600, never through a
    symlink; raises OSError (and leaves no temporary file) when the disk refuses."""
    tmp = path.with_suffix(".tmp")
    info: dict[str, object] = {"pid": os.getpid(), "url": url}
    if cafile:  # the CLI pins this certificate when it calls the admin API over TLS
        info["cafile"] = str(Path(cafile).resolve())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, FILE_MODE)
            handle.write(json.dumps(info))
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class ServerFile:
    """The server file of one running daemon: written at start (or as soon as the disk
    takes it), removed at stop."""

    def __init__(self, path: Path, url: str, cafile: str | None = None) -> None:
        self.path = path
        self._url = url
        self._cafile = cafile
        self._retry: asyncio.Task[None] | None = None

    @property
    def written(self) -> bool:
        return self._retry is None or self._retry.done()

    def start(self) -> None:
        """Write it now; when the disk refuses, say so once and keep trying in the background."""
        try:
            write_server_file(self.path, self._url, self._cafile)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.unlink()  # a killed daemon's file names a process that is gone
            log.warning(
                "cannot write %s (%s); serving anyway, and trying again every %.0f s —"
                " until then the CLI needs --url",
                self.path,
                exc.strerror or exc,
                RETRY_S,
            )
            self._retry = asyncio.create_task(self._keep_trying())

    async def _keep_trying(self) -> None:
        while True:
            await asyncio.sleep(RETRY_S)
            try:
                write_server_file(self.path, self._url, self._cafile)
            except OSError:
                continue
            log.warning("wrote %s: the CLI finds this server again", self.path)
            return

    async def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        self.path.unlink(missing_ok=True)
