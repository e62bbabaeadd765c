"""Misuse detection also watches the authContexts that call validate (the vendor's rule).

validate only notes a context in memory; the scheduled misuse job persists what
was noted (one write per run, never one per validate) and locks the license.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from lls.domain.records import Record
from tests.conftest import ServerFactory
from tests.pools import grant


@pytest.fixture
def store_backend(both_backends: str) -> str:
    """Every test here runs on SQLite and on PostgreSQL (the store contract, end to end)."""
    return both_backends


MISUSE_3 = {"maxAuthContexts": 3, "windowSeconds": 3600}


async def test_six_contexts_validating_get_a_limit_3_license_locked_by_the_job(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("SHARE", seats=1, misuse=MISUSE_3)])
    for i in range(6):
        _, body = await server.call("validate", licenseToken="SHARE", authContext=f"pc-{i}")
        assert body["authStatus"] == "Success"
    locked = await server.licensing.upkeep.detect_misuse()
    _, body = await server.call("validate", licenseToken="SHARE", authContext="pc-0")
    assert locked == ["SHARE"]
    assert (body["authStatus"], body["reason"]) == ("Locked", "LICENSE_LOCKED")


async def test_validate_notes_contexts_without_writing_anything(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("SHARE", seats=1, misuse=MISUSE_3)])
    store = server.licensing.store
    before = await store.audit(after=0, limit=1000)
    commits: list[int] = []
    real_commit = store.commit

    async def counting_commit(records: Sequence[Record]) -> None:
        commits.append(len(records))
        await real_commit(records)

    store.commit = counting_commit  # type: ignore[method-assign]
    for i in range(6):
        await server.call("validate", licenseToken="SHARE", authContext=f"pc-{i}")
    assert commits == []
    assert await store.audit(after=0, limit=1000) == before


async def test_validate_without_context_counts_nothing(make_server: ServerFactory) -> None:
    server = await make_server([grant("SHARE", seats=1, misuse=MISUSE_3)])
    for _ in range(6):
        await server.call("validate", licenseToken="SHARE")
    assert await server.licensing.upkeep.detect_misuse() == []


async def test_contexts_outside_the_window_do_not_lock(make_server: ServerFactory) -> None:
    server = await make_server(
        [grant("SHARE", seats=1, misuse={"maxAuthContexts": 2, "windowSeconds": 600})]
    )
    for i in range(5):
        await server.call("validate", licenseToken="SHARE", authContext=f"pc-{i}")
        assert await server.licensing.upkeep.detect_misuse() == []
        server.clock.advance(601)


async def test_validate_contexts_and_activate_contexts_count_together(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("SHARE", seats=5, misuse=MISUSE_3)])
    for i in range(3):
        await server.call("validate", licenseToken="SHARE", authContext=f"pc-{i}")
    await server.licensing.upkeep.detect_misuse()
    locked = await server.activate("SHARE", "pc-3")
    assert (locked["authStatus"], locked["reason"]) == ("Locked", "LICENSE_LOCKED")


async def test_noted_contexts_survive_a_restart_once_the_job_persisted_them(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("SHARE", seats=1, misuse=MISUSE_3)])
    for i in range(3):
        await server.call("validate", licenseToken="SHARE", authContext=f"pc-{i}")
    assert await server.licensing.upkeep.detect_misuse() == []  # at the limit, not over it
    await server.client.close()
    restarted = await make_server()
    await restarted.call("validate", licenseToken="SHARE", authContext="pc-3")
    assert await restarted.licensing.upkeep.detect_misuse() == ["SHARE"]


async def test_a_flood_of_contexts_keeps_memory_bounded_and_still_locks(
    make_server: ServerFactory,
) -> None:
    server = await make_server([grant("SHARE", seats=1, misuse=MISUSE_3)])
    for i in range(50):
        await server.call("validate", licenseToken="SHARE", authContext=f"pc-{i}")
    state = server.licensing.state.licenses["SHARE"]
    assert len(state.noted) <= MISUSE_3["maxAuthContexts"] + 1
    assert await server.licensing.upkeep.detect_misuse() == ["SHARE"]


async def test_unlock_makes_the_job_count_afresh(make_server: ServerFactory) -> None:
    server = await make_server([grant("SHARE", seats=5)])
    for i in range(4):
        await server.activate("SHARE", f"pc-{i}")
    await server.import_pool([grant("SHARE", seats=5, misuse=MISUSE_3)], iat=server.clock.now())
    for i in range(4, 8):
        await server.call("validate", licenseToken="SHARE", authContext=f"pc-{i}")
    assert await server.licensing.upkeep.detect_misuse() == ["SHARE"]
    resp = await server.client.post("/admin/v1/licenses/SHARE/unlock", headers=server.admin_headers)
    assert resp.status == 200
    relocked = await server.licensing.upkeep.detect_misuse()
    _, body = await server.call("validate", licenseToken="SHARE", authContext="pc-0")
    assert relocked == []
    assert body["authStatus"] == "Success"


async def test_many_noted_contexts_are_written_in_bounded_batches(
    make_server: ServerFactory,
) -> None:
    misuse = {"maxAuthContexts": 10, "windowSeconds": 3600}
    server = await make_server([grant(f"L-{i}", misuse=misuse) for i in range(300)])
    for i in range(300):  # 300 licenses x 5 contexts = 1,500 rows: two batches
        for ctx in range(5):
            server.licensing.state.licenses[f"L-{i}"].noted[f"pc-{ctx}"] = server.clock.now()
    batches: list[int] = []
    real_commit = server.licensing.store.commit

    async def counting_commit(records: Sequence[Record]) -> None:
        batches.append(sum(len(r.seen) for r in records if hasattr(r, "seen")))
        await real_commit(records)

    server.licensing.store.commit = counting_commit  # type: ignore[method-assign]
    assert await server.licensing.upkeep.detect_misuse() == []
    seen = await server.licensing.store.contexts_seen(since=0)
    assert batches == [1000, 500]
    assert sum(len(c) for c in seen.values()) == 1500
