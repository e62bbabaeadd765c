"""`lls serve` as an operator runs it: SIGTERM under load, systemd notify and watchdog, one
daemon per data directory, TLS, a separate admin listener, logs without tokens."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from lls.instance import load_instance
from lls.ops.labels import LicenseLabels, label_secret
from tests.e2e.conftest import Daemon, free_port, lls
from tests.pools import PRODUCT, grant
from tests.tls import self_signed

SECRET = "TOKEN-SECRET-b7e3c2d9"  # distinctive: any leak into a log is a plain substring


def spawn(daemon: Daemon, log: Path, env: dict[str, str] | None = None) -> Any:
    """`daemon`'s command with `env` added, logging to `log` (the test watches the process)."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            daemon.argv,
            env={**daemon.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )


def wait_ok(url: str, proc: Any, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "lls serve exited"
        try:
            with urllib.request.urlopen(url, timeout=1, context=context):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer")


def stop(proc: Any) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return int(proc.wait(30))


def post(url: str, body: dict[str, Any], context: ssl.SSLContext | None = None) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def get_status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5):
            return 200
    except urllib.error.HTTPError as exc:
        return exc.code


def activate_body(ctx: str, token: str = "BIG") -> dict[str, Any]:
    return {"licenseToken": token, "productCodes": [PRODUCT], "authContext": ctx}


# -- SIGTERM ------------------------------------------------------------------------------


def test_sigterm_under_concurrent_load_loses_nothing_acknowledged(
    daemon: Daemon, pool_file: Any
) -> None:
    lls(
        "pool",
        "import",
        str(pool_file([grant("BIG", seats=5000)])),
        "--data-dir",
        str(daemon.data_dir),
    )
    daemon.start()
    acked: list[str] = []
    started = threading.Event()

    def hammer(worker: int) -> None:
        for i in range(100_000):
            ctx = f"w{worker}-{i}"
            try:
                body = post(daemon.url + "/licensing/activate", activate_body(ctx))
            except OSError:
                return  # the server stopped listening: nothing more is acknowledged
            assert body["authStatus"] == "Success"
            acked.append(ctx)
            if len(acked) > 100:
                started.set()

    with ThreadPoolExecutor(12) as pool:
        workers = [pool.submit(hammer, w) for w in range(12)]
        assert started.wait(30)
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGTERM)
        for w in workers:
            w.result()
    assert daemon.proc.wait(30) == 0
    assert not (daemon.data_dir / "server.json").exists()

    daemon.start()
    for ctx in acked:  # extend never revives: Success means the session was durable
        body = post(daemon.url + "/licensing/extend", activate_body(ctx))
        assert body["authStatus"] == "Success", (ctx, body)


# -- systemd notify and watchdog ------------------------------------------------------------


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_serve_notifies_ready_pings_the_watchdog_and_says_stopping(
    daemon: Daemon, tmp_path: Path, abstract: bool
) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = f"@lls-test-{os.getpid()}-{daemon.port}" if abstract else str(tmp_path / "notify")
    sock.bind("\0" + address[1:] if abstract else address)
    sock.settimeout(10)
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "200000"}  # ping every 0.1 s
    proc = spawn(daemon, tmp_path / "serve.log", env)
    try:
        first = sock.recv(4096).decode()
        assert first.startswith("READY=1\nSTATUS=serving on http://")
        assert get_status(daemon.url + "/healthz") == 200  # READY came once it listened
        pings, t0 = 0, time.monotonic()
        while pings < 5:
            assert sock.recv(4096) == b"WATCHDOG=1"
            pings += 1
        assert time.monotonic() - t0 < 3  # about every 0.1 s, not every WatchdogSec
        proc.send_signal(signal.SIGTERM)
        messages: list[str] = []
        while not any(m.startswith("STOPPING=1") for m in messages):
            messages.append(sock.recv(4096).decode())
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()


# -- one daemon per data directory ------------------------------------------------------------


def test_second_server_on_the_same_data_dir_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    daemon.start()
    other = spawn(Daemon(daemon.data_dir, free_port()), tmp_path / "second.log")
    assert other.wait(20) == 1
    assert "in use by a running `lls serve`" in (tmp_path / "second.log").read_text()
    assert get_status(daemon.url + "/healthz") == 200


# -- separate admin listener ------------------------------------------------------------------


def test_admin_listener_of_its_own_by_default_serves_admin_only_there(
    daemon: Daemon, pool_file: Any
) -> None:
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", str(daemon.data_dir))
    daemon.start()  # no admin setting but the port: admin.host defaults to 127.0.0.1
    admin = daemon.admin_url
    auth = {"Authorization": f"Bearer {(daemon.data_dir / 'admin.token').read_text().strip()}"}
    assert get_status(daemon.url + "/admin/v1/status", auth) == 404
    assert get_status(daemon.url + "/admin/v1/status") == 404  # 404 before any token check
    assert get_status(admin + "/admin/v1/status", auth) == 200
    assert get_status(admin + "/admin/v1/status") == 401
    for path in ("/healthz", "/readyz", "/metrics"):
        assert get_status(daemon.url + path) == get_status(admin + path) == 200
    assert post(daemon.url + "/licensing/activate", activate_body("pc"))["authStatus"] == "Success"
    assert json.loads((daemon.data_dir / "server.json").read_text())["url"] == admin
    out = lls("sessions", "--data-dir", str(daemon.data_dir)).stdout  # the CLI finds it
    assert "pc" in out


# -- TLS ----------------------------------------------------------------------------------------


def test_tls_serves_the_client_api_to_a_client_trusting_the_certificate(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    lls("pool", "import", str(pool_file([grant("BIG")])), "--data-dir", str(daemon.data_dir))
    cert, key = self_signed(tmp_path)
    env = {"LLS_TLS_CERT": str(cert), "LLS_TLS_KEY": str(key)}
    proc = spawn(daemon, tmp_path / "tls.log", env)
    base = f"https://127.0.0.1:{daemon.port}"
    trusting = ssl.create_default_context(cafile=str(cert))
    try:
        wait_ok(base + "/healthz", proc, trusting)

        async def client_calls() -> tuple[Any, int]:
            async with aiohttp.ClientSession() as session:
                async with session.post(
                    base + "/licensing/activate", json=activate_body("pc-tls"), ssl=trusting
                ) as resp:
                    body = await resp.json()
                try:
                    async with session.get(base + "/healthz", ssl=ssl.create_default_context()):
                        pass
                except aiohttp.ClientConnectorCertificateError:
                    return body, 1  # a client that does not trust it refuses
                return body, 0

        body, untrusted_refused = asyncio.run(client_calls())
        assert body["authStatus"] == "Success"
        with (
            socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as raw,
            trusting.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in {"TLSv1.2", "TLSv1.3"}
            peer = tls.getpeercert()
            assert peer is not None and peer["subject"] == ((("commonName", "lls.test"),),)
        assert untrusted_refused == 1
        with pytest.raises(OSError):  # plain HTTP on the TLS port gets no answer
            urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/healthz", timeout=5)
        server_json = json.loads((daemon.data_dir / "server.json").read_text())
        admin_base = f"https://127.0.0.1:{daemon.admin_port}"
        assert server_json["url"] == admin_base and server_json["cafile"] == str(cert.resolve())
        out = lls("sessions", "--data-dir", str(daemon.data_dir)).stdout  # CLI pins the cert
        assert "pc-tls" in out
    finally:
        assert stop(proc) == 0


def test_tls_with_an_unreadable_key_fails_at_start_with_one_line(
    daemon: Daemon, tmp_path: Path
) -> None:
    cert, _ = self_signed(tmp_path)
    env = {"LLS_TLS_CERT": str(cert), "LLS_TLS_KEY": str(tmp_path / "missing.pem")}
    proc = spawn(daemon, tmp_path / "bad.log", env)
    assert proc.wait(20) == 1
    assert "lls: cannot load tls.cert" in (tmp_path / "bad.log").read_text()


# -- logs ---------------------------------------------------------------------------------------


def test_logs_of_a_session_with_refusals_never_show_a_license_token(
    daemon: Daemon, pool_file: Any, tmp_path: Path
) -> None:
    lls(
        "pool",
        "import",
        str(pool_file([grant(SECRET, seats=1)])),
        "--data-dir",
        str(daemon.data_dir),
    )
    log = tmp_path / "serve.log"
    env = {"LLS_LOG_LEVEL": "DEBUG", "LLS_LOG_FORMAT": "json", "LLS_ACCESS_LOG": "true"}
    proc = spawn(daemon, log, env)
    try:
        wait_ok(daemon.url + "/healthz", proc)
        url = daemon.url + "/licensing/"
        assert post(url + "activate", activate_body("pc-1", SECRET))["authStatus"] == "Success"
        assert (
            post(url + "activate", activate_body("pc-2", SECRET))["reason"]
            == "SESSION_LIMIT_REACHED"
        )
        assert post(url + "extend", activate_body("pc-3", SECRET))["reason"] == "NO_ACTIVE_SESSION"
        assert (
            post(url + "validate", {"licenseToken": SECRET + "X"})["reason"] == "LICENSE_NOT_FOUND"
        )
        post(url + "deactivate", {"licenseToken": SECRET, "authContext": "pc-1"})
        token = (daemon.data_dir / "admin.token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        assert get_status(f"{daemon.admin_url}/admin/v1/licenses/{SECRET}", auth) == 200
        assert get_status(f"{daemon.admin_url}/admin/v1/licenses/{SECRET}") == 401
    finally:
        assert stop(proc) == 0
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    refusals = [d for d in lines if d["logger"] == "lls.refusals"]
    assert [d["reason"] for d in refusals] == [
        "SESSION_LIMIT_REACHED",
        "NO_ACTIVE_SESSION",
        "LICENSE_NOT_FOUND",
    ]
    instance = load_instance(daemon.data_dir)
    labels = LicenseLabels(label_secret(instance.keys, instance.instance_id))
    assert refusals[0]["license"] == labels.of_token(SECRET)
    assert any(d["logger"] == "lls.access" for d in lines)  # access lines were written too
    assert SECRET not in text
    assert token not in text
