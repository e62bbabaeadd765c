"""End-to-end fixtures: `lls` run as a real process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lls.instance import Instance
from lls.sealed import write_sealed_file
from tests.pools import VendorKeys, make_pool


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
    """A running `lls serve` process."""

    data_dir: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    config: Path | None = None  # `--config FILE`: then the log level is the file's

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "lls", "serve", "--data-dir", str(self.data_dir)]
        argv += ["--port", str(self.port)]
        quiet = {} if self.config is not None else {"LLS_LOG_LEVEL": "WARNING"}
        if self.config is not None:
            argv += ["--config", str(self.config)]
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen(
                argv,
                env={**os.environ, **quiet, **self.env},
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"lls serve exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("lls serve did not come up")

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
        request = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None


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
