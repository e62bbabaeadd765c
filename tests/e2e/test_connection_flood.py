"""Point 4 of issue 10 under a real descriptor limit: half-open connections from one LAN host
cannot starve the daemon's other clients.

`lls serve` runs under `prlimit --nofile=1024:1024` (the kernel's default soft limit, which
the unit now raises): 1,100 connections from 127.0.0.2 send half a request and stall, and
reconnect whenever the server closes them, for 30 s. Meanwhile a normal client on 127.0.0.1
must get every answer. Without the per-address cap and the header deadline the daemon ran
out of descriptors and refused everyone.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import shutil
import socket
import threading
import time
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import Daemon, lls
from tests.pools import grant

ATTACKERS = 1100
DURATION_S = 30.0
HALF_REQUEST = b"POST /licensing/validate HTTP/1.1\r\nHost: lls\r\nContent-Type: applic"


class HalfOpenFlood:
    """Keeps `count` half-open connections from `source` to the port, reopening closed ones
    (at most `reopen_per_s` a second, so the flood is of descriptors, not of CPU)."""

    def __init__(self, port: int, source: str, count: int, reopen_per_s: int = 200) -> None:
        self.port, self.source, self.count, self.reopen_per_s = port, source, count, reopen_per_s
        self.stop = threading.Event()
        self.opened = self.closed_by_server = self.refused_503 = 0
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open_one(self) -> None:
        sock = socket.socket()
        sock.bind((self.source, 0))
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", self.port))
            sock.sendall(HALF_REQUEST)
        except OSError:
            sock.close()
            return
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)
        self.opened += 1

    def _run(self) -> None:
        for _ in range(self.count):
            if self.stop.is_set():
                break
            self._open_one()
        missing = 0
        while not self.stop.is_set():
            for key, _ in self._selector.select(timeout=0.1):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = sock.recv(4096)
                except OSError:
                    data = b""
                if data.startswith(b"HTTP/1.1 503"):
                    self.refused_503 += 1
                self._selector.unregister(sock)
                sock.close()
                self.closed_by_server += 1
                missing += 1
            budget = min(missing, max(1, self.reopen_per_s // 10))
            for _ in range(budget):
                self._open_one()
            missing -= budget

    def __enter__(self) -> HalfOpenFlood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)
        for key in list(self._selector.get_map().values()):
            with contextlib.suppress(OSError):
                key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()


def _validate(daemon: Daemon) -> int:
    request = urllib.request.Request(
        daemon.url + "/licensing/validate",
        data=json.dumps({"licenseToken": "A"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        body: Any = json.loads(resp.read())
        assert body["authStatus"] == "Success"
        return int(resp.status)


def test_1100_half_open_connections_from_one_host_leave_other_clients_served(
    daemon: Daemon, pool_file: Any
) -> None:
    if shutil.which("prlimit") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prlimit (util-linux) is missing on CI")
        pytest.skip("prlimit is not installed (util-linux)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = ATTACKERS + 512  # this test process holds the attacker's sockets
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"this process may open only {hard} files; the flood needs {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    lls("pool", "import", str(pool_file([grant("A", seats=5)])), "--data-dir", str(daemon.data_dir))
    daemon.wrap = ("prlimit", "--nofile=1024:1024", "--")
    daemon.start()
    answered = failed = 0
    errors: list[str] = []

    with HalfOpenFlood(daemon.port, "127.0.0.2", ATTACKERS) as flood:
        deadline = time.monotonic() + DURATION_S
        while time.monotonic() < deadline:
            try:
                assert _validate(daemon) == 200
                answered += 1
            except (OSError, AssertionError) as exc:
                failed += 1
                errors.append(repr(exc))
            time.sleep(0.1)
        held = flood.opened - flood.closed_by_server

    assert daemon.proc is not None and daemon.proc.poll() is None, daemon.log_path.read_text()
    assert failed == 0, errors[:5]
    assert answered >= 100
    assert flood.opened >= ATTACKERS  # the flood really was there
    assert flood.refused_503 > 0  # the cap answered the connections beyond 256
    assert held <= ATTACKERS
