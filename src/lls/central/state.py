"""The vendor workspace's memory (`state.json`): registered instances and their sequence numbers.

Besides the sequence numbers, each instance record remembers where its audit
hash chain stood in the usage files this vendor accepted, so that the next file
can be checked to continue that chain (tamper evidence, sync-format.md §3):

- `chainPoints`: {event id: hash} at the last event of every file accepted since
  the acknowledged point, and at the acknowledged point itself (event 0 is always
  the genesis hash and is not stored);
- `usageFiles`: per accepted usage seq since the acknowledged one, its digest,
  event range and chain head, to tell a file read again from a different file
  carrying the same seq (two copies of one instance);
- `ackedUsageSeq` / `ackedEventId`: the `ackUsageSeq` of the last pool written and
  the event the instance prunes up to once it imports that pool. Older points and
  files are forgotten when such a pool is written, so the record stays small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from lls.errors import Refused
from lls.sealed import PublicKeys, write_atomic

STATE_FORMAT = 1


class UsageFileRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One accepted usage file, as much as is needed to recognise it (or a fork of it) later."""

    digest: str  # SHA-256 (hex) of the signed payload: the same file read again has the same one
    iat: int
    first: int | None  # its eventRange
    last: int | None
    chainHead: str | None


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
    ackedUsageSeq: int = 0  # ackUsageSeq of the last pool written for it
    ackedEventId: int = 0  # the event the instance prunes up to once it imports that pool
    chainPoints: dict[int, str] = {}  # known {event id: hash} from the acknowledged point on
    usageFiles: dict[int, UsageFileRecord] = {}  # accepted usage files from the acknowledged one
    nodes: list[dict[str, str]] = []  # the nodes of a pair: {hostname, fingerprint}, as registered

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
