"""sd_notify over a real unix datagram socket bound by the test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lls.ops.notify import Notifier


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify.sock")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


def test_notify_sends_one_datagram_to_a_path_socket(
    listener: tuple[socket.socket, str],
) -> None:
    sock, path = listener
    assert Notifier(address=path).notify("READY=1", "STATUS=serving") is True
    assert sock.recv(4096) == b"READY=1\nSTATUS=serving"


def test_notify_reaches_an_abstract_socket_named_with_at() -> None:
    name = f"lls-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier(address="@" + name).notify("WATCHDOG=1") is True
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_notify_without_socket_or_to_a_dead_one_is_false_not_an_error(tmp_path: Path) -> None:
    assert Notifier.from_environ({}).notify("READY=1") is False
    assert Notifier(address=str(tmp_path / "nobody.sock")).notify("READY=1") is False


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_pid_only() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "30000000"}
    assert Notifier.from_environ(env).watchdog_interval_s == 15.0
    mine = Notifier.from_environ({**env, "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval_s == 15.0
    other = Notifier.from_environ({**env, "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other.watchdog_interval_s is None
    assert Notifier.from_environ({"WATCHDOG_USEC": "30000000"}).watchdog_interval_s is None
