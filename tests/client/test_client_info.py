"""The SDK tells the server who holds a seat (`clientInfo`) unless told otherwise."""

from __future__ import annotations

import asyncio
import getpass
import socket
from typing import Any

import pytest

from lls.client import ClientInfo, LicenseClient, SyncLicenseClient, default_client_info
from tests.client.conftest import base_url
from tests.conftest import Server
from tests.pools import PRODUCT


async def holder(server: Server) -> dict[str, Any]:
    resp = await server.client.get("/admin/v1/sessions", headers=server.admin_headers)
    [doc] = (await resp.json())["sessions"]
    return dict(doc["clientInfo"])


async def test_activate_sends_host_user_and_the_application_named_by_the_app(
    server: Server,
) -> None:
    async with LicenseClient(base_url(server), application="AcmeCAD", version="5.2.1") as client:
        await client.activate("LIC-ONE", PRODUCT, "host-a")
    assert await holder(server) == {
        "hostname": socket.gethostname(),
        "user": getpass.getuser(),
        "application": "AcmeCAD",
        "version": "5.2.1",
    }


async def test_a_given_client_info_replaces_the_default(server: Server) -> None:
    info = ClientInfo(hostname="kiosk-3", application="Kiosk")
    client = LicenseClient(base_url(server), client_info=info)
    async with client, client.session("LIC-ONE", PRODUCT, "host-a", extend_every=3600):
        shown = await holder(server)
    assert shown == {"hostname": "kiosk-3", "user": None, "application": "Kiosk", "version": None}


async def test_send_client_info_false_sends_none(server: Server) -> None:
    async with LicenseClient(base_url(server), send_client_info=False) as client:
        await client.activate("LIC-ONE", PRODUCT, "host-a")
    assert set((await holder(server)).values()) == {None}


async def test_overlong_values_are_cut_so_activation_never_fails_for_them(server: Server) -> None:
    info = ClientInfo(hostname="h" * 300, version="v" * 129)
    async with LicenseClient(base_url(server), client_info=info) as client:
        result = await client.activate("LIC-ONE", PRODUCT, "host-a")
    shown = await holder(server)
    assert result.ok
    assert (len(shown["hostname"]), len(shown["version"])) == (128, 128)


async def test_the_sync_client_passes_the_application_through(server: Server) -> None:
    def run() -> None:
        with SyncLicenseClient(base_url(server), application="Batch", version="1") as client:
            client.activate("LIC-ONE", PRODUCT, "host-a")

    await asyncio.to_thread(run)
    shown = await holder(server)
    assert (shown["application"], shown["version"]) == ("Batch", "1")


def test_default_application_is_the_program_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/opt/acme/bin/acmecad", "--open", "x.dwg"])
    info = default_client_info(version="5")
    assert (info.application, info.version, info.hostname) == ("acmecad", "5", socket.gethostname())
