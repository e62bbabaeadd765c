"""The audit chain: each event carries the hash of the one before it (tamper evidence).

Both the instance (when it appends) and the vendor (when it reads a usage
file) compute the hash with this one function, so they cannot disagree.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from lls.clock import rfc3339

GENESIS_HASH = "0" * 64


def chain_hash(
    *,
    prev_hash: str,
    event_id: int,
    at: float,
    type: str,
    license: str | None,
    auth_context: str | None,
    data: dict[str, Any],
) -> str:
    """SHA-256 over the canonical JSON of an event and its predecessor's hash."""
    doc = {
        "id": event_id,
        "at": rfc3339(at),
        "type": type,
        "license": license,
        "authContext": auth_context,
        "data": data,
        "prevHash": prev_hash,
    }
    digest = _SHA256.copy()  # a copy skips OpenSSL's lookup of the algorithm by name
    digest.update(_canonical.encode(doc))
    return digest.hexdigest()


# Canonical JSON: keys sorted at every level, no spaces, UTF-8 (non-ASCII not escaped);
# event data holds strings, integers, booleans and null only (no floats, whose text
# differs between JSON libraries).
# A test pins it to `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
# so any JSON library on the vendor's side can recompute the hash.
_canonical = msgspec.json.Encoder(order="sorted")
# Every audit event is hashed on the write path: `hashlib.sha256()` fetches the algorithm
# from OpenSSL by name on each call, a copy of this empty one does not (bench/instructions.py).
_SHA256 = hashlib.sha256()
