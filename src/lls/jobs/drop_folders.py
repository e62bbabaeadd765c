"""Drop folders for admins who sync by USB stick or one-way data diode.

Pool files dropped into the inbox are imported (then moved to `done/`, or to
`refused/` beside a `.reason` file that says why); fresh usage files are
written to the outbox. Files still being copied are left alone until they
have not changed for `settle_s` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from lls.domain.service import Licensing
from lls.errors import LLSError, StorageError
from lls.sealed import read_sealed_file, write_atomic
from lls.sealed.usage_codec import usage_file_text

log = logging.getLogger(__name__)

DONE = "done"
REFUSED = "refused"


def _unique(target: Path) -> Path:
    """`target`, or `target` with a numeric suffix if a file of that name is already there."""
    if not target.exists():
        return target
    for n in range(1, 10_000):
        candidate = target.with_name(f"{target.name}.{n}")
        if not candidate.exists():
            return candidate
    raise LLSError(f"too many files named {target.name} in {target.parent}")


def _ready_files(inbox: Path, settle_s: float) -> list[Path]:
    """Regular, visible files not modified for `settle_s`, oldest first."""
    cutoff = time.time() - settle_s
    files = [
        p
        for p in inbox.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.stat().st_mtime <= cutoff
    ]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _file_away(path: Path, folder: Path, reason: str | None = None) -> None:
    """Move a handled file out of the inbox; a refused one gets a `.reason` file beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = _unique(folder / path.name)
    path.replace(target)
    if reason is not None:
        target.with_name(target.name + ".reason").write_text(reason, encoding="utf-8")


async def import_dropped_pools(licensing: Licensing, inbox: Path, *, settle_s: float) -> list[str]:
    """Import every settled file in `inbox`; returns a line per file for the log."""
    results: list[str] = []
    for path in await asyncio.to_thread(_ready_files, inbox, settle_s):
        try:
            raw = await asyncio.to_thread(read_sealed_file, path)
            summary = await licensing.import_pool(raw)
        except StorageError as error:  # the disk's fault, not the file's: retried next run
            results.append(f"{path.name}: left in the inbox ({error.code}: {error.message})")
            break
        except LLSError as error:
            reason = f"{error.code}: {error.message}\n"
            await asyncio.to_thread(_file_away, path, inbox / REFUSED, reason)
            results.append(f"{path.name}: refused ({error.code})")
            continue
        await asyncio.to_thread(_file_away, path, inbox / DONE)
        results.append(f"{path.name}: imported pool seq {summary.seq}")
    return results


def _write_usage(outbox: Path, name: str, text: str) -> Path:
    outbox.mkdir(parents=True, exist_ok=True)
    write_atomic(outbox / name, text.encode(), mode=0o644)
    return outbox / name


async def write_usage_to_outbox(licensing: Licensing, outbox: Path) -> Path:
    """Write the next usage file into `outbox` (hidden while written, then renamed)."""
    report, token = await licensing.export_usage()
    name = f"usage-{licensing.instance_id}-{report.seq:06d}.lls"
    text = usage_file_text(licensing.instance_id, report.seq, report.issued_at, token)
    return await asyncio.to_thread(_write_usage, outbox, name, text)


async def sync_inbox(licensing: Licensing, inbox: Path, settle_s: float) -> None:
    for line in await import_dropped_pools(licensing, inbox, settle_s=settle_s):
        log.info("drop folder: %s", line)


async def sync_outbox(licensing: Licensing, outbox: Path) -> None:
    try:
        path = await write_usage_to_outbox(licensing, outbox)
    except StorageError:  # nothing was exported: the next run writes the next file
        log.warning("drop folder: no usage file written, the database refuses writes")
        return
    log.info("drop folder: wrote %s", path.name)
