"""An exclusive lock on a data directory, held by `lls serve` for its whole life.

Two daemons on one database would each keep their own in-memory seat counts,
and `lls restore` must never swap the database under a running daemon: both
take this lock (flock, released by the kernel however the process ends).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from lls.errors import Refused

LOCK_FILE = "lls.lock"


class DataDirLock:
    """`with DataDirLock(data_dir, purpose):` — refuses (Refused) while another holder has it."""

    def __init__(self, data_dir: Path, purpose: str) -> None:
        self.path = data_dir / LOCK_FILE
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Refused(
                f"{self.path.parent} is in use by a running `lls serve`;"
                f" stop it before {self.purpose}",
                code="DATA_DIR_IN_USE",
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
