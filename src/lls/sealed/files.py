"""Sealed files on disk: the size bound, `#` comment lines, and atomic writes."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from lls.errors import SealedFileError

# The largest file a reader accepts (sync-format.md §1): a pool of 100,000+
# licenses or months of usage events, with room to spare.
MAX_FILE_BYTES = 64 * 1024 * 1024


def _too_large(length: int) -> SealedFileError:
    return SealedFileError(
        f"the file is {length} bytes, over the {MAX_FILE_BYTES}-byte limit", code="FILE_TOO_LARGE"
    )


def read_sealed_text(data: bytes | str) -> str:
    """The one compact JWE line of a sealed file, skipping `#` comments and blank lines."""
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(len(data))
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SealedFileError("not a sealed file: it is not text", code="BAD_ENVELOPE") from exc
    lines = [line.strip() for line in data.splitlines()]
    tokens = [line for line in lines if line and not line.startswith("#")]
    if len(tokens) != 1:
        raise SealedFileError(
            f"not a sealed file: expected one token line besides comments, found {len(tokens)}",
            code="BAD_ENVELOPE",
        )
    return tokens[0]


def read_sealed_file(
    path: Path | str, *, dir_fd: int | None = None, follow_symlinks: bool = True
) -> str:
    """Read a sealed file, refusing an oversized one from its size alone, before reading it.

    Only a regular file is read: it is opened non-blocking and checked with
    fstat on the open descriptor, so a FIFO or a device is refused, never waited
    on or read from. With `follow_symlinks=False` (the drop folder) a symbolic
    link is refused too (O_NOFOLLOW); `dir_fd` names `path` relative to an
    already opened directory.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks:
            raise _not_regular(path, "a symbolic link") from None
        raise SealedFileError(
            f"cannot read {path}: {exc.strerror or exc}", code="FILE_UNREADABLE"
        ) from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, file_kind(info.st_mode))
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(info.st_size)
        try:
            # Bounded read: the file may have grown since fstat.
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise SealedFileError(
                f"cannot read {path}: {exc.strerror or exc}", code="FILE_UNREADABLE"
            ) from exc
    return read_sealed_text(data)


def file_kind(mode: int) -> str:
    """What a non-regular directory entry is, in words, for a refusal reason."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((words for test, words in kinds if test(mode)), "not a regular file")


def _not_regular(path: Path | str, kind: str) -> SealedFileError:
    return SealedFileError(
        f"{path} is {kind}; only regular files are read", code="NOT_A_REGULAR_FILE"
    )


def sealed_file_text(token: str, comments: Mapping[str, str]) -> str:
    """A file's text: `# key: value` comment lines for humans, then the token on one line."""
    lines = [f"# {_one_line(key)}: {_one_line(value)}" for key, value in comments.items()]
    return "\n".join([*lines, token]) + "\n"


def write_sealed_file(path: Path, token: str, comments: Mapping[str, str]) -> None:
    """Write a sealed file (comment lines, then the token), atomically."""
    write_atomic(path, sealed_file_text(token, comments).encode("utf-8"))


def _one_line(text: str) -> str:
    # A newline inside a comment would start a line that is not a comment.
    return " ".join(str(text).split())


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never half.

    Written to a temporary file in the same directory, flushed to disk, renamed
    over the target, and the directory entry flushed too, so a crash at any point
    leaves one whole file.
    """
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - some platforms cannot open directories
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
