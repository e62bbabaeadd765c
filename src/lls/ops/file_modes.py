"""Every file in the data directory is readable by the service user only (0600, dirs 0700).

The database holds license tokens, the data directory the instance keys and the
admin token: a backup or a copy keeps a file's mode, so a loose mode leaks the
file wherever it goes. Processes that write into the data directory set the
umask to 0o077 first (`private_umask`), and the daemon tightens, at start, any
file an older version or a hand copy left looser (`tighten_data_dir`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Make every file this process creates from now on private to its user; the old umask."""
    return os.umask(PRIVATE_UMASK)


def tighten_data_dir(data_dir: Path) -> list[str]:
    """chmod 0600 every regular file (0700 every directory) under `data_dir` that is looser;
    symlinks are neither followed nor changed. Returns the paths changed, for the log."""
    changed: list[str] = []
    for folder, dirs, files in os.walk(data_dir):
        base = Path(folder)
        _tighten(base, DIR_MODE, changed)
        for name in files:
            _tighten(base / name, FILE_MODE, changed)
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
    if changed:
        log.warning(
            "tightened the mode of %d path(s) in %s to owner-only: %s",
            len(changed),
            data_dir,
            ", ".join(changed),
        )
    return changed


def _tighten(path: Path, mode: int, changed: list[str]) -> None:
    try:
        info = path.lstat()
    except OSError:
        return  # gone meanwhile (a -shm file, a temporary file)
    if stat.S_ISLNK(info.st_mode) or not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        return
    if stat.S_IMODE(info.st_mode) & ~mode:
        try:
            path.chmod(stat.S_IMODE(info.st_mode) & mode)
        except OSError as exc:
            log.warning("cannot tighten the mode of %s: %s", path, exc.strerror)
            return
        changed.append(str(path))
