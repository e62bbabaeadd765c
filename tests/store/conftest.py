"""Store fixtures: a real PostgreSQL database per test, and one store fixture for both backends.

`backend_store` is parametrised over SQLite and PostgreSQL so that a test written once
holds both stores to the same contract; the PostgreSQL case carries the `postgres` mark.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from lls.store import SqliteStore
from lls.store.postgres import PostgresStore
from tests.pg import fresh_database

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
INSTANCE_ID = "inst-test"
# Quick hand-overs for tests; the lease still outlasts a busy shared machine's stalls.
LOCK_INTERVAL_S = 0.05
LEASE_S = 0.5


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


@asynccontextmanager
async def open_store(backend: str, tmp_path: Path, url: str | None = None) -> AsyncIterator[Any]:
    """An open, writable store of `backend` (for PostgreSQL: leading, on database `url`)."""
    if backend == "sqlite":
        store: Any = SqliteStore(tmp_path / "lls.db")
        await store.open()
    else:
        assert url is not None
        store = PostgresStore(url, INSTANCE_ID, lock_interval=LOCK_INTERVAL_S, lease=LEASE_S)
        await store.open()
        assert await store.wait_writable(5.0), "the only node never became leader"
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=BACKENDS)
async def backend_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """An open store of each backend in turn."""
    if request.param == "sqlite":
        async with open_store("sqlite", tmp_path) as store:
            yield store
        return
    async with fresh_database() as url, open_store("postgres", tmp_path, url) as store:
        yield store
