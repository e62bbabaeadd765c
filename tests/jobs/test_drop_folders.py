"""Drop folders: pool files dropped into the inbox are imported or refused with a reason."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from lls.jobs.drop_folders import import_dropped_pools, write_usage_to_outbox
from lls.sealed import read_sealed_file
from tests.conftest import DEFAULT_LICENSES, Server
from tests.pools import grant, make_pool


def _drop(inbox: Path, name: str, text: str, age_s: float = 60) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(text)
    past = time.time() - age_s
    os.utime(path, (past, past))
    return path


async def test_good_tampered_and_replayed_pools_land_in_done_or_refused(
    server: Server, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    good = make_pool(server.vendor, server.instance, [grant("NEW")], seq=2, iat=server.clock.now())
    _drop(inbox, "a-good.lls", good, age_s=90)
    _drop(inbox, "b-replayed.lls", good, age_s=80)
    _drop(
        inbox,
        "c-tampered.lls",
        good[:-20] + ("A" * 20 if not good.endswith("A" * 20) else "B" * 20),
        age_s=70,
    )
    lines = await import_dropped_pools(server.licensing, inbox, settle_s=5)
    assert len(lines) == 3
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a-good.lls"]
    refused = sorted(p.name for p in (inbox / "refused").iterdir())
    assert refused == [
        "b-replayed.lls",
        "b-replayed.lls.reason",
        "c-tampered.lls",
        "c-tampered.lls.reason",
    ]
    assert (inbox / "refused" / "b-replayed.lls.reason").read_text().startswith("POOL_NOT_NEWER:")
    assert "NOT_FOR_THIS_RECIPIENT" in (inbox / "refused" / "c-tampered.lls.reason").read_text()
    assert set(server.licensing.state.licenses) == {"NEW"}
    assert [p.name for p in inbox.iterdir() if p.is_file()] == []


async def test_file_still_being_copied_is_left_alone(server: Server, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    pool = make_pool(
        server.vendor, server.instance, DEFAULT_LICENSES, seq=2, iat=server.clock.now()
    )
    _drop(inbox, "fresh.lls", pool, age_s=0)
    assert await import_dropped_pools(server.licensing, inbox, settle_s=30) == []
    assert (inbox / "fresh.lls").exists()


async def test_usage_file_is_written_to_the_outbox(server: Server, tmp_path: Path) -> None:
    await server.activate("LIC-ONE", "h1")
    first = await write_usage_to_outbox(server.licensing, tmp_path / "outbox")
    second = await write_usage_to_outbox(server.licensing, tmp_path / "outbox")
    assert first.name.endswith("000001.lls") and second.name.endswith("000002.lls")
    assert read_sealed_file(second).count(".") == 4  # one compact JWE
    assert [p.name for p in (tmp_path / "outbox").iterdir() if p.name.startswith(".")] == []


async def test_pool_dropped_while_the_disk_refuses_writes_stays_in_the_inbox(
    server: Server, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    good = make_pool(server.vendor, server.instance, [grant("NEW")], seq=2, iat=server.clock.now())
    _drop(inbox, "a-good.lls", good)
    db = sqlite3.connect(server.instance.db_path)
    db.execute("CREATE TRIGGER full BEFORE INSERT ON pools BEGIN SELECT RAISE(ABORT, 'full'); END")
    db.commit()
    lines = await import_dropped_pools(server.licensing, inbox, settle_s=5)
    db.execute("DROP TRIGGER full")
    db.commit()
    db.close()
    assert [p.name for p in inbox.iterdir() if p.is_file()] == ["a-good.lls"]
    assert list((inbox / "refused").iterdir()) == []  # not refused: the file is good
    assert "STORAGE_ERROR" in lines[0]
    assert set(server.licensing.state.licenses) == {t["token"] for t in DEFAULT_LICENSES}
