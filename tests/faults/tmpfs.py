"""A real tmpfs of a fixed size, filled to the last byte and freed again (needs root).

Used by the disk-full fault test and by bench/soak.py; plain code, no pytest.
"""

from __future__ import annotations

import errno
import subprocess
import time
from pathlib import Path


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


class Tmpfs:
    """Mounted at `path` on creation; `unmount()` it when done (also after a failure)."""

    def __init__(self, path: Path, size_mib: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0700", "tmpfs", str(path))
        self.filler = path / "filler"

    def fill(self) -> int:
        """Write until the disk says ENOSPC (in smaller and smaller pieces); bytes written."""
        written = 0
        with self.filler.open("ab", buffering=0) as handle:
            for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
                block = b"\0" * chunk
                for _ in range(1 << 16):  # bounded: 64 Ki chunks at most per size
                    try:
                        written += handle.write(block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        for _ in range(50):  # a process we killed may hold it a moment longer
            if subprocess.run(["umount", str(self.path)], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
