"""The whole offline round trip between an OfflineDevice and the real server's admin endpoints."""

from __future__ import annotations

from pathlib import Path

from lls.client import LicenseClient, OfflineDevice
from tests.conftest import Server
from tests.pools import PRODUCT


async def test_offline_activate_refresh_deactivate_round_trip(
    server: Server, client: LicenseClient, tmp_path: Path
) -> None:
    device = OfflineDevice(tmp_path / "device.jwks")
    device.pin_server(await client.instance())
    headers = server.admin_headers

    request = device.offline_request("LIC-THREE", [PRODUCT], "dev-off")
    resp = await server.client.post(
        "/admin/v1/offline/activate", json={"token": request}, headers=headers
    )
    assert resp.status == 200, await resp.text()
    granted = await resp.json()
    lease = device.apply_response(granted["token"])
    assert lease.activation_id == granted["activationId"]
    assert device.has_valid_lease()

    resp = await server.client.post(
        "/admin/v1/offline/refresh", json={"activationId": lease.activation_id}, headers=headers
    )
    assert resp.status == 200, await resp.text()
    assert device.apply_refresh((await resp.json())["token"]).activation_id == lease.activation_id

    resp = await server.client.post(
        "/admin/v1/offline/deactivate", json={"token": device.deactivation_token()}, headers=headers
    )
    assert resp.status == 204, await resp.text()
    assert not device.has_valid_lease()
    listed = await (await server.client.get("/admin/v1/offline", headers=headers)).json()
    assert [a["live"] for a in listed["activations"]] == [False]
