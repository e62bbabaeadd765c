"""Drop folders for admins who sync by USB stick or one-way data diode.

Pool files dropped into the inbox are imported (then moved to `done/`, or to
`refused/` beside a `.reason` file that says why); fresh usage files are
written to the outbox. Files still being copied are left alone until they
have not changed for `settle_s` seconds.

The inbox is hostile input: whoever can write to it (an import station, a
diode) must not be able to make the service write anywhere else or stall it.
So `done/` and `refused/` must be real directories owned by the service user
(else nothing is imported and the log says why); they are opened once per scan
and every move and reason file goes through those descriptors, never through a
path that could be swapped for a symlink. Only regular files are read
(O_NOFOLLOW, non-blocking, checked with fstat); anything else dropped in — a
symlink, a FIFO, a device — is moved to `refused/` unread, with its reason.
Reason files are created O_CREAT|O_EXCL|O_NOFOLLOW: never followed, never
overwritten. A file that fails for any reason, even one nobody foresaw, is
refused and the scan goes on with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from lls.domain.service import Licensing
from lls.errors import LLSError, StorageError
from lls.sealed import read_sealed_file, write_atomic
from lls.sealed.files import file_kind
from lls.sealed.usage_codec import usage_file_text

log = logging.getLogger(__name__)

DONE = "done"
REFUSED = "refused"
MAX_SAME_NAME = 10_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_REASON_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeDropFolder(LLSError):
    """`done/` or `refused/` cannot be trusted: the scan imports nothing."""


@dataclass(frozen=True, slots=True)
class Dropped:
    """One entry of the inbox to handle; `kind` is set when it is not a regular file."""

    name: str
    mtime: float
    kind: str | None = None


@dataclass(slots=True)
class _Folders:
    """Open descriptors of the inbox and its two sub-folders, for one scan."""

    inbox: int
    done: int
    refused: int

    def close(self) -> None:
        for fd in (self.inbox, self.done, self.refused):
            os.close(fd)


def _open_trusted_dir(inbox_fd: int, name: str, inbox: Path) -> int:
    """Open (creating it 0700 if missing) a sub-folder that must be a real directory
    owned by the user this service runs as; refuse with the reason otherwise."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o700, dir_fd=inbox_fd)
    where = inbox / name
    try:
        fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=inbox_fd)
    except OSError as exc:
        info = _lstat(name, inbox_fd)
        kind = file_kind(info.st_mode) if info is not None else "missing"
        raise UnsafeDropFolder(
            f"{where} is {kind}, not a directory ({exc.strerror}); move it away"
            " and the next scan creates a fresh one",
            code="DROP_FOLDER_UNSAFE",
        ) from None
    owner = os.fstat(fd).st_uid
    if owner != os.geteuid():
        os.close(fd)
        raise UnsafeDropFolder(
            f"{where} belongs to uid {owner}, not to the service user (uid {os.geteuid()});"
            f" fix it with: chown {os.geteuid()} {where}",
            code="DROP_FOLDER_UNSAFE",
        )
    return fd


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return None


def _open_folders(inbox: Path) -> _Folders:
    inbox_fd = os.open(inbox, _DIR_FLAGS)  # the inbox itself is the admin's choice
    try:
        done = _open_trusted_dir(inbox_fd, DONE, inbox)
        try:
            refused = _open_trusted_dir(inbox_fd, REFUSED, inbox)
        except BaseException:
            os.close(done)
            raise
    except BaseException:
        os.close(inbox_fd)
        raise
    return _Folders(inbox_fd, done, refused)


def _ready_entries(folders: _Folders, settle_s: float) -> list[Dropped]:
    """Visible entries not modified for `settle_s`, oldest first; sub-folders are left be."""
    cutoff = time.time() - settle_s
    found: list[Dropped] = []
    with os.scandir(folders.inbox) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden: a copy in progress, or not ours
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode) or info.st_mtime > cutoff:
                continue
            kind = None if stat.S_ISREG(info.st_mode) else file_kind(info.st_mode)
            found.append(Dropped(entry.name, info.st_mtime, kind))
    return sorted(found, key=lambda d: (d.mtime, d.name))


def _free_name(folder_fd: int, name: str) -> str:
    """`name`, or `name.N`, such that neither it nor its `.reason` exists in the folder."""
    for n in range(MAX_SAME_NAME):
        candidate = name if n == 0 else f"{name}.{n}"
        if all(_lstat(n, folder_fd) is None for n in (candidate, candidate + ".reason")):
            return candidate
    raise LLSError(f"too many files named {name} already handled")


def _file_away(folders: _Folders, name: str, reason: str | None = None) -> str:
    """Move an inbox entry into done/ (or refused/ with a `.reason` beside it); the new name."""
    target_fd = folders.done if reason is None else folders.refused
    target = _free_name(target_fd, name)
    os.rename(name, target, src_dir_fd=folders.inbox, dst_dir_fd=target_fd)
    if reason is not None:
        _write_reason(target_fd, target + ".reason", reason)
    return target


def _write_reason(folder_fd: int, name: str, reason: str) -> None:
    try:
        fd = os.open(name, _REASON_FLAGS, 0o600, dir_fd=folder_fd)
    except OSError as exc:  # raced into existence: never follow or overwrite it
        log.warning("drop folder: cannot write %s (%s); the file is refused", name, exc.strerror)
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(reason)


def _read(folders: _Folders, entry: Dropped) -> str:
    return read_sealed_file(entry.name, dir_fd=folders.inbox, follow_symlinks=False)


async def _handle(licensing: Licensing, folders: _Folders, entry: Dropped) -> str:
    """Import one entry or refuse it; never raises for the entry's own fault."""
    try:
        if entry.kind is not None:
            raise LLSError(
                f"{entry.name} is {entry.kind}; only regular files are read",
                code="NOT_A_REGULAR_FILE",
            )
        raw = await asyncio.to_thread(_read, folders, entry)
        summary = await licensing.import_pool(raw)
    except StorageError:
        raise  # not the file's fault: it stays in the inbox (import_dropped_pools)
    except LLSError as error:
        reason = f"{error.code}: {error.message}\n"
        code = error.code
    except Exception as exc:  # a failure nobody foresaw must not block the folder
        log.error("drop folder: unexpected failure on %s", entry.name, exc_info=True)
        reason = f"INTERNAL_ERROR: unexpected {type(exc).__name__} while importing: {exc}\n"
        code = "INTERNAL_ERROR"
    else:
        await asyncio.to_thread(_file_away, folders, entry.name)
        return f"{entry.name}: imported pool seq {summary.seq}"
    moved = await asyncio.to_thread(_file_away, folders, entry.name, reason)
    return f"{entry.name}: refused ({code}), moved to {REFUSED}/{moved}"


async def import_dropped_pools(licensing: Licensing, inbox: Path, *, settle_s: float) -> list[str]:
    """Import every settled file in `inbox`; returns a line per file for the log.

    Raises UnsafeDropFolder, having touched nothing, when done/ or refused/
    cannot be trusted.
    """
    folders = await asyncio.to_thread(_open_folders, inbox)
    try:
        results: list[str] = []
        for entry in await asyncio.to_thread(_ready_entries, folders, settle_s):
            try:
                results.append(await _handle(licensing, folders, entry))
            except StorageError as error:  # the disk's fault, not the file's: retried next run
                results.append(f"{entry.name}: left in the inbox ({error.code}: {error.message})")
                break
            except OSError as exc:  # the move itself failed: say so, go on with the next
                log.warning("drop folder: cannot move %s: %s", entry.name, exc.strerror or exc)
        return results
    finally:
        folders.close()


def _write_usage(outbox: Path, name: str, text: str) -> Path:
    outbox.mkdir(parents=True, exist_ok=True)
    write_atomic(outbox / name, text.encode(), mode=0o600)
    return outbox / name


async def write_usage_to_outbox(licensing: Licensing, outbox: Path) -> Path:
    """Write the next usage file into `outbox` (hidden while written, then renamed)."""
    report, token = await licensing.export_usage()
    name = f"usage-{licensing.instance_id}-{report.seq:06d}.lls"
    text = usage_file_text(licensing.instance_id, report.seq, report.issued_at, token)
    return await asyncio.to_thread(_write_usage, outbox, name, text)


async def sync_inbox(licensing: Licensing, inbox: Path, settle_s: float) -> None:
    """The scheduled scan: one log line per file, or one saying why nothing was imported."""
    try:
        lines = await import_dropped_pools(licensing, inbox, settle_s=settle_s)
    except UnsafeDropFolder as error:
        log.warning("drop folder: importing nothing: %s", error.message)
        return
    except OSError as exc:
        log.warning("drop folder: cannot scan %s: %s", inbox, exc.strerror or exc)
        return
    for line in lines:
        log.info("drop folder: %s", line)


async def sync_outbox(licensing: Licensing, outbox: Path) -> None:
    try:
        path = await write_usage_to_outbox(licensing, outbox)
    except StorageError:  # nothing was exported: the next run writes the next file
        log.warning("drop folder: no usage file written, the database refuses writes")
        return
    log.info("drop folder: wrote %s", path.name)
