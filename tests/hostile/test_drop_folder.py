"""Points 2 and 3 of issue 10: whoever writes to the inbox cannot block it or write elsewhere."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import stat
import time
from pathlib import Path

import pytest

from lls.errors import SealedFileError
from lls.jobs.drop_folders import UnsafeDropFolder, import_dropped_pools, sync_inbox
from lls.sealed import read_sealed_file
from tests.conftest import Server
from tests.pools import grant, make_pool

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true",
    reason="needs root (chown to another user, mknod)",
)
POISON = ".".join(
    [base64.urlsafe_b64encode(b"[" * 100_000).rstrip(b"=").decode(), "AAAA", "AAAA", "AAAA", "AAAA"]
)


def _age(path: Path, age_s: float) -> None:
    past = time.time() - age_s
    os.utime(path, (past, past), follow_symlinks=False)


def _drop(inbox: Path, name: str, text: str, age_s: float = 60) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(text)
    _age(path, age_s)
    return path


def _good_pool(server: Server, seq: int = 2) -> str:
    return make_pool(
        server.vendor, server.instance, [grant("NEW")], seq=seq, iat=server.clock.now()
    )


async def _scan(server: Server, inbox: Path) -> list[str]:
    return await asyncio.wait_for(
        import_dropped_pools(server.licensing, inbox, settle_s=5), timeout=20
    )


async def test_poison_file_is_refused_and_the_valid_pool_behind_it_imported(
    server: Server, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    _drop(inbox, "a-poison.lls", POISON, age_s=90)
    _drop(inbox, "b-good.lls", _good_pool(server), age_s=80)

    lines = await _scan(server, inbox)

    assert len(lines) == 2
    assert (inbox / "refused" / "a-poison.lls.reason").read_text().startswith("BAD_ENVELOPE:")
    assert [p.name for p in (inbox / "done").iterdir()] == ["b-good.lls"]
    assert set(server.licensing.state.licenses) == {"NEW"}


async def test_reason_file_symlink_is_never_followed_or_overwritten(
    server: Server, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (inbox / "refused").mkdir(parents=True)
    (inbox / "refused" / "evil.lls.reason").symlink_to(outside)
    _drop(inbox, "evil.lls", "garbage")

    await _scan(server, inbox)

    assert outside.read_text() == "keep me"
    assert (inbox / "refused" / "evil.lls.reason").is_symlink()
    reason = inbox / "refused" / "evil.lls.1.reason"
    assert reason.read_text().startswith("BAD_ENVELOPE:")
    assert not reason.is_symlink()
    assert stat.S_IMODE(reason.stat().st_mode) == 0o600
    assert (inbox / "refused" / "evil.lls.1").read_text() == "garbage"


@pytest.mark.parametrize("folder", ["refused", "done"])
async def test_sub_folder_that_is_a_symlink_stops_the_scan_and_nothing_moves(
    server: Server, tmp_path: Path, folder: str, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = tmp_path / "inbox"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inbox.mkdir()
    (inbox / folder).symlink_to(elsewhere, target_is_directory=True)
    _drop(inbox, "a-garbage.lls", "garbage", age_s=90)
    _drop(inbox, "b-good.lls", _good_pool(server), age_s=80)
    caplog.set_level(logging.WARNING, logger="lls.jobs.drop_folders")

    await sync_inbox(server.licensing, inbox, 5)

    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["a-garbage.lls", "b-good.lls"]
    assert "NEW" not in server.licensing.state.licenses
    (record,) = [r for r in caplog.records if r.name == "lls.jobs.drop_folders"]
    assert "importing nothing" in record.getMessage()
    assert f"{inbox / folder} is a symbolic link" in record.getMessage()


async def test_sub_folder_that_is_a_file_stops_the_scan(server: Server, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    _drop(inbox, "refused", "not a folder")
    _drop(inbox, "good.lls", _good_pool(server))

    with pytest.raises(UnsafeDropFolder, match="is a regular file"):
        await _scan(server, inbox)

    assert (inbox / "good.lls").exists()


@NEEDS_ROOT
@pytest.mark.parametrize("folder", ["refused", "done"])
async def test_sub_folder_owned_by_another_user_stops_the_scan(
    server: Server, tmp_path: Path, folder: str
) -> None:
    inbox = tmp_path / "inbox"
    (inbox / folder).mkdir(parents=True)
    os.chown(inbox / folder, 65534, 65534)
    _drop(inbox, "good.lls", _good_pool(server))

    with pytest.raises(UnsafeDropFolder, match="belongs to uid 65534"):
        await _scan(server, inbox)

    assert (inbox / "good.lls").exists()
    assert list((inbox / folder).iterdir()) == []


async def test_symlink_dropped_in_is_refused_unread_and_its_target_untouched(
    server: Server, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    target = tmp_path / "real-pool.lls"
    target.write_text(_good_pool(server))
    (inbox / "link.lls").symlink_to(target)
    _age(inbox / "link.lls", 60)

    await _scan(server, inbox)

    assert "NEW" not in server.licensing.state.licenses
    assert (inbox / "refused" / "link.lls").is_symlink()
    reason = (inbox / "refused" / "link.lls.reason").read_text()
    assert reason.startswith("NOT_A_REGULAR_FILE:") and "symbolic link" in reason
    assert target.is_file() and not target.is_symlink()


async def test_fifo_dropped_in_does_not_hang_the_scan_and_is_refused(
    server: Server, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.mkfifo(inbox / "a-pipe.lls")
    _age(inbox / "a-pipe.lls", 90)
    _drop(inbox, "b-good.lls", _good_pool(server), age_s=80)

    await _scan(server, inbox)

    assert stat.S_ISFIFO(os.lstat(inbox / "refused" / "a-pipe.lls").st_mode)
    assert "a FIFO" in (inbox / "refused" / "a-pipe.lls.reason").read_text()
    assert "NEW" in server.licensing.state.licenses


@NEEDS_ROOT
async def test_device_node_dropped_in_is_refused_unread(server: Server, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.mknod(inbox / "zero.lls", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    _age(inbox / "zero.lls", 60)

    await _scan(server, inbox)

    assert "character device" in (inbox / "refused" / "zero.lls.reason").read_text()


async def test_unforeseen_exception_refuses_that_file_and_the_scan_goes_on(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    buggy = _good_pool(server, seq=2)
    _drop(inbox, "a-trips-a-bug.lls", buggy, age_s=90)
    _drop(inbox, "b-good.lls", _good_pool(server, seq=3), age_s=80)
    real_read = server.licensing.reader.read

    def read(raw: str):  # type: ignore[no-untyped-def]
        if raw == buggy:
            raise ZeroDivisionError("a bug nobody foresaw")
        return real_read(raw)

    monkeypatch.setattr(server.licensing.reader, "read", read)

    lines = await _scan(server, inbox)

    assert len(lines) == 2
    reason = (inbox / "refused" / "a-trips-a-bug.lls.reason").read_text()
    assert reason.startswith("INTERNAL_ERROR:") and "ZeroDivisionError" in reason
    assert [p.name for p in (inbox / "done").iterdir()] == ["b-good.lls"]
    assert server.licensing.state.pool is not None and server.licensing.state.pool.seq == 3


def test_reading_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")

    with pytest.raises(SealedFileError) as caught:
        read_sealed_file(tmp_path / "pipe")

    assert caught.value.code == "NOT_A_REGULAR_FILE"


def test_reading_through_a_symlink_without_following_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")

    with pytest.raises(SealedFileError) as caught:
        read_sealed_file(tmp_path / "link", follow_symlinks=False)

    assert caught.value.code == "NOT_A_REGULAR_FILE"
