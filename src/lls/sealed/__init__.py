"""The JOSE envelope and payload schemas of every file that crosses the air gap."""

from __future__ import annotations

from lls.sealed.envelope import (
    decode_payload,
    open_sealed,
    open_sealed_detail,
    open_self_signed,
    seal,
)
from lls.sealed.files import (
    MAX_FILE_BYTES,
    read_sealed_file,
    read_sealed_text,
    write_atomic,
    write_sealed_file,
)
from lls.sealed.keys import (
    KeyPair,
    PublicKeys,
    kid_of,
    load_private_jwks,
    write_private_jwks,
)

__all__ = [
    "MAX_FILE_BYTES",
    "KeyPair",
    "PublicKeys",
    "decode_payload",
    "kid_of",
    "load_private_jwks",
    "open_sealed",
    "open_sealed_detail",
    "open_self_signed",
    "read_sealed_file",
    "read_sealed_text",
    "seal",
    "write_atomic",
    "write_private_jwks",
    "write_sealed_file",
]
