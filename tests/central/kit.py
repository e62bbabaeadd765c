"""What the vendor-side tests share: the vendor and the time they work at, the example
grants file, and an instance's registration file sealed to a vendor workspace."""

from __future__ import annotations

from pathlib import Path

import msgspec

from lls.protocol.shapes import Jwks
from lls.sealed import KeyPair, PublicKeys, seal
from lls.sealed.payloads import TYP_REGISTRATION, RegistrationPayload

NOW = 1_795_000_000
VENDOR_ID = "vendor:test"
EXAMPLE_GRANTS = Path(__file__).parents[2] / "config" / "grants.example.yaml"


def registration(
    signer: KeyPair,
    vendor: PublicKeys,
    *,
    iss: str = "inst-1",
    aud: str = VENDOR_ID,
    carried: KeyPair | None = None,
) -> str:
    """The registration token of instance `iss`, signed by `signer` and sealed to `vendor`;
    it carries `carried`'s public keys (default: the signer's own)."""
    keys = (carried or signer).public().to_jwks()["keys"]
    payload = RegistrationPayload(
        iss=iss,
        aud=aud,
        iat=NOW,
        keys=Jwks(keys=keys),
        hostname="lls.lan",
        fingerprint="ab" * 32,
        version="0.1.0",
    )
    return seal(msgspec.json.encode(payload), typ=TYP_REGISTRATION, signer=signer, recipient=vendor)
