"""The vendor workspace's memory (`state.json`): registered instances and their sequence numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from lls.errors import Refused
from lls.sealed import PublicKeys, write_atomic

STATE_FORMAT = 1


class InstanceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One registered instance: its keys (pinned at registration) and where its files stand."""

    id: str
    keys: dict[str, Any]  # public JWKS, as registered
    hostname: str
    fingerprint: str
    version: str
    registeredAt: int
    lastSeq: int = 0  # seq of the last pool file written for it
    ackUsageSeq: int = 0  # usage seq the next pool acknowledges (instance prunes up to it)
    lastUsageSeq: int = 0  # seq of the last usage file read from it
    lastChainHead: str | None = None  # hash-chain head of the last usage file read
    lastEventId: int | None = None  # id of the last event in the last usage file read
    orgId: str | None = None  # the org of its pools: an instance has one owner for life

    def public_keys(self) -> PublicKeys:
        """The instance's keys, as the vendor pinned them at registration."""
        return PublicKeys.from_jwks(self.keys)


class VendorState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything `state.json` holds."""

    vendorId: str
    instances: dict[str, InstanceRecord] = {}
    format: int = STATE_FORMAT


def load_state(path: Path) -> VendorState:
    """Read state.json; a missing or damaged file is a refusal that says which."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise Refused(
            f"{path.parent} is not a vendor workspace (no {path.name}); "
            "run `lls vendor init --dir` first",
            code="NO_WORKSPACE",
        ) from exc
    except OSError as exc:
        raise Refused(f"cannot read {path}: {exc.strerror or exc}", code="BAD_STATE") from exc
    try:
        state = msgspec.json.decode(raw, type=VendorState)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise Refused(f"{path} is damaged: {exc}", code="BAD_STATE") from exc
    if state.format != STATE_FORMAT:
        raise Refused(
            f"{path} has format {state.format}; this version reads {STATE_FORMAT}", code="BAD_STATE"
        )
    return state


def save_state(path: Path, state: VendorState) -> None:
    """Replace state.json atomically, so a crash never leaves half a registry."""
    write_atomic(
        path, msgspec.json.format(msgspec.json.encode(state), indent=2) + b"\n", mode=0o600
    )
