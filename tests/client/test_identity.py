"""default_auth_context: explicit beats environment beats machine; the derivation is stable."""

from __future__ import annotations

from pathlib import Path

from lls.client import AUTH_CONTEXT_ENV, auth_context_from, default_auth_context
from lls.protocol.machine import fingerprint, read_material
from tests.test_machine import ETH0, MACHINE_ID, FakeMachine


def test_explicit_value_wins_over_environment() -> None:
    assert default_auth_context("host-7", environ={AUTH_CONTEXT_ENV: "env-ctx"}) == "host-7"


def test_environment_wins_over_machine() -> None:
    assert default_auth_context(environ={AUTH_CONTEXT_ENV: " env-ctx "}) == "env-ctx"


def test_machine_value_is_stable_short_and_opaque() -> None:
    first = default_auth_context(environ={})
    assert first == default_auth_context(environ={})
    assert first.startswith("mid-") and len(first) == 36
    assert 1 <= len(first) <= 256  # api.md §1 bounds


def test_derivation_ignores_mac_order_case_and_null_macs() -> None:
    a = auth_context_from("abc", ["02:42:AC:11:00:02", "00:00:00:00:00:00", "aa:bb:cc:dd:ee:ff"])
    b = auth_context_from("abc\n", ["aa:bb:cc:dd:ee:ff\n", "02:42:ac:11:00:02"])
    assert a == b


def test_derivation_tells_machines_apart() -> None:
    assert auth_context_from("abc", ["aa:bb:cc:dd:ee:ff"]) != auth_context_from(
        "abc", ["aa:bb:cc:dd:ee:00"]
    )
    assert auth_context_from("abc", []) != auth_context_from("abd", [])


def test_bare_machine_falls_back_to_hostname() -> None:
    assert auth_context_from("", [], "box-1") != auth_context_from("", [], "box-2")
    assert auth_context_from("id", [], "box-1") == auth_context_from("id", [], "box-2")


def test_default_reads_the_machine_as_the_server_fingerprint_does(tmp_path: Path) -> None:
    """One reader of the machine (lls.protocol.machine): a randomised MAC on a real card, a
    tap device or a veth pair that come and go never move the default authContext."""
    machine = FakeMachine(tmp_path / "m")
    machine.add("eth0", ETH0)
    before = default_auth_context(environ={}, sources=machine.sources)
    machine.add("veth1a2b", "be:ef:00:00:00:01", device=False)
    machine.add("wlan0", "de:ad:be:ef:00:01", assign="3")
    machine.add("tap0", "11:22:33:44:55:66")

    assert default_auth_context(environ={}, sources=machine.sources) == before
    assert before == auth_context_from(MACHINE_ID, [ETH0])
    assert before.removeprefix("mid-") not in fingerprint(material=read_material(machine.sources))
