"""Shared fixtures: a real vendor key pair, a real instance data directory, a real server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from lls.app.wiring import build_app
from lls.clock import FakeClock
from lls.config.settings import Config
from lls.domain.service import Licensing
from lls.http.keys import LICENSING
from lls.instance import Instance, init_instance
from lls.sealed import KeyPair
from tests.pg import fresh_database
from tests.pools import PRODUCT, VendorKeys, grant, make_pool

TESTS = Path(__file__).resolve().parent
# Folders whose every test runs lls (a daemon, the CLI, the bundle, a browser) in processes of
# its own, or needs root: the `e2e` marker that `make test-fast` leaves out.
E2E_FOLDERS = frozenset({"e2e", "faults"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(TESTS).parts[0] in E2E_FOLDERS:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def vendor() -> VendorKeys:
    return VendorKeys(keys=KeyPair.generate())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def instance(tmp_path: Path, data_dir: Path, vendor: VendorKeys) -> Instance:
    return init_instance(data_dir, vendor.write_jwks(tmp_path / "vendor.jwks"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=float(int(time.time())))


DEFAULT_LICENSES = [
    grant("LIC-ONE", seats=1),
    grant("LIC-THREE", seats=3),
    grant("LIC-TRIAL", isTrial=True, validUntil="2099-01-01T00:00:00Z"),
]


@dataclass
class Server:
    """A real LLS app on a real port with its real SQLite file, plus test conveniences."""

    client: TestClient[web.Request, web.Application]
    instance: Instance
    clock: FakeClock
    vendor: VendorKeys
    seq: int = 1

    @property
    def licensing(self) -> Licensing:
        return self.client.app[LICENSING]

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.instance.admin_token}"}

    async def call(self, endpoint: str, **body: Any) -> tuple[int, Any]:
        resp = await self.client.post(f"/licensing/{endpoint}", json=body)
        data = await resp.json() if resp.status != 204 else None
        return resp.status, data

    async def activate(self, token: str, ctx: str, products: list[str] | None = None) -> Any:
        status, data = await self.call(
            "activate", licenseToken=token, productCodes=products or [PRODUCT], authContext=ctx
        )
        assert status == 200, data
        return data

    async def import_pool(self, licenses: list[dict[str, Any]], **kw: Any) -> tuple[int, Any]:
        self.seq = kw.pop("seq", self.seq + 1)
        raw = make_pool(self.vendor, self.instance, licenses, seq=self.seq, **kw)
        resp = await self.client.post("/admin/v1/pool", data=raw, headers=self.admin_headers)
        return resp.status, await resp.json()


ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
def store_backend() -> str:
    """Which store the `server` fixtures use; a module runs on both by overriding it with
    `both_backends` (`store_backend = both_backends` at module level)."""
    return "sqlite"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def both_backends(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_server(
    aiohttp_client: Any,
    instance: Instance,
    clock: FakeClock,
    vendor: VendorKeys,
    store_backend: str,
) -> AsyncIterator[ServerFactory]:
    clients: list[Any] = []
    database: list[str] = []  # one PostgreSQL database a test: a "restart" finds its state
    async with contextlib.AsyncExitStack() as stack:

        async def factory(licenses: list[dict[str, Any]] | None = None, **config: Any) -> Server:
            # One port serves both APIs here (admin.port 0, the shared mode): the test client
            # talks to one listener. tests/http/test_admin_listener.py covers the default,
            # a listener of its own.
            config.setdefault("admin_port", 0)
            if store_backend == "postgres":
                if not database:
                    database.append(await stack.enter_async_context(fresh_database()))
                config["store_url"] = database[0]
            app = build_app(
                Config(data_dir=instance.data_dir, **config),
                instance=instance,
                clock=clock,
                run_jobs=False,
                lock_timing=(0.05, 0.3),
            )
            client = await aiohttp_client(app)
            clients.append(client)
            if store_backend == "postgres":  # the only node: it leads once its lease begins
                store = client.server.app[LICENSING].store
                assert await store.wait_writable(10.0), "the only node never led"
            return await _filled(client, licenses)

        async def _filled(client: Any, licenses: list[dict[str, Any]] | None) -> Server:
            server = Server(client=client, instance=instance, clock=clock, vendor=vendor, seq=0)
            if licenses is not None:
                status, body = await server.import_pool(licenses, iat=clock.now())
                assert status == 200, body
            return server

        try:
            yield factory
        finally:  # the servers stop before their database is dropped
            for client in clients:
                await client.close()


@pytest.fixture
async def server(make_server: ServerFactory) -> Server:
    return await make_server(DEFAULT_LICENSES)
