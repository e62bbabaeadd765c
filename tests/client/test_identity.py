"""default_auth_context: explicit beats environment beats machine; the derivation is stable."""

from __future__ import annotations

from lls.client import AUTH_CONTEXT_ENV, auth_context_from, default_auth_context


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
