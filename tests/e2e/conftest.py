"""End-to-end fixtures: `lls` run as a real process on a free loopback port."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lls.instance import Instance
from lls.sealed import write_sealed_file
from tests.pools import VendorKeys, make_pool

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def in_netns(name: str, action: Callable[[], T]) -> T:
    """Run `action` on a thread that entered network namespace `name` (/run/netns/NAME):
    its sockets, and so its 127.0.0.1, are that namespace's."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with Path(f"/run/netns/{name}").open("rb") as handle:
                if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {name} failed")
            box["value"] = action()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lls(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the `lls` command line as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "lls", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=check,
    )


@dataclass
class Daemon:
    """A running `lls serve` process: the client API on `port`, the admin API on its own
    listener on `admin_port` (a free port of its own, so daemons never share 8081).

    Every test that runs `lls serve` goes through here: `env` adds settings, `wrap`
    prefixes its command line (e.g. `ip netns exec NAME`, `prlimit --nofile=1024:1024`),
    `netns` names the network namespace its HTTP helpers call into (the one it was
    started in), and `get`/`post`/`admin` send /admin/* paths to the admin listener,
    everything else to the client listener.
    """

    data_dir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    wrap: tuple[str, ...] = ()
    netns: str | None = None
    config: Path | None = None  # `--config FILE`: then the log level is the file's
    admin_port: int = field(default_factory=lambda: free_port())

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"serve-{self.port}.log"

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def _open(self, request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
        def call() -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as resp:
                    return resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read()

        return call() if self.netns is None else in_netns(self.netns, call)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def url_for(self, path: str) -> str:
        """Where `path` is served: /admin/* on the admin listener, the rest on the client's."""
        return (self.admin_url if path.startswith("/admin/") else self.url) + path

    @property
    def argv(self) -> list[str]:
        argv = [*self.wrap, sys.executable, "-m", "lls", "serve"]
        argv += ["--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        return argv

    @property
    def environ(self) -> dict[str, str]:
        """The process environment `start` uses: quiet logs (unless a config file sets the
        level), and this daemon's admin port (a variable: it wins over a config file)."""
        quiet = {} if self.config is not None else {"LLS_LOG_LEVEL": "WARNING"}
        return {**os.environ, **quiet, "LLS_ADMIN_PORT": str(self.admin_port), **self.env}

    def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(
                self.argv, env=self.environ, stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"lls serve exited: {self.log_path.read_text()}")
            try:
                self._open(urllib.request.Request(self.url + "/healthz"), timeout=1)
            except OSError:
                time.sleep(0.05)
                continue
            self._await_server_file()
            return
        raise AssertionError("lls serve did not come up")

    def _await_server_file(self, timeout_s: float = 5.0) -> None:
        """The server writes server.json (how the CLI finds it) just after its listeners open,
        so /healthz can answer a moment before it exists; under load that moment grows. Wait
        for it a little, without failing: a full disk may delay it (tests/faults)."""
        deadline = time.monotonic() + timeout_s
        while not (self.data_dir / "server.json").exists() and time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return
            time.sleep(0.02)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        """Wait until the server's log holds `text`; returns the log."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log_path.read_text(errors="replace")
            if text in log:
                return log
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the log:\n{log}")
            time.sleep(0.05)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(20)
        return self.proc.returncode

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, raw = self._open(urllib.request.Request(self.url_for(path), headers=headers), 10)
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def admin(self, path: str) -> tuple[int, Any]:
        """GET an admin API path with this instance's token."""
        return self.get(path, self.admin_token)

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url_for(path),
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        status, raw = self._open(request, 10)
        if status >= 400:
            raise urllib.error.HTTPError(self.url_for(path), status, raw.decode(), {}, None)  # type: ignore[arg-type]
        return status, json.loads(raw) if raw else None


@pytest.fixture
def pool_file(tmp_path: Path, vendor: VendorKeys, instance: Instance) -> Any:
    def write(licenses: list[dict[str, Any]], seq: int = 1) -> Path:
        path = tmp_path / f"pool-{seq}.lls"
        write_sealed_file(path, make_pool(vendor, instance, licenses, seq=seq), {"kind": "pool"})
        return path

    return write


@pytest.fixture
def daemon(instance: Instance) -> Iterator[Daemon]:
    d = Daemon(data_dir=instance.data_dir, port=free_port())
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.proc.kill()
        d.proc.wait(10)
