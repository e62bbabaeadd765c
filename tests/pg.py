"""A throwaway PostgreSQL database per test, on the server the test machine runs (127.0.0.1)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

# The maintenance database on the local server; CI starts it (.ci/run).
ADMIN_URL = os.environ.get("LLS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def admin() -> asyncpg.Connection:
    """A connection to the maintenance database; skips (fails on CI) when there is none."""
    try:
        return await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"no PostgreSQL at {ADMIN_URL} ({exc}); start it or set LLS_TEST_PG"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped afterwards whatever happened."""
    conn = await admin()
    name = f"lls_test_{uuid.uuid4().hex[:16]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
