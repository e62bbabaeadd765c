"""Building this instance's registration file for the vendor (sync-format.md §6)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec

from lls import __version__
from lls.instance import Instance
from lls.protocol.machine import fingerprint, hostname
from lls.protocol.shapes import Jwks
from lls.sealed import seal
from lls.sealed.payloads import TYP_REGISTRATION, RegistrationNode, RegistrationPayload


def build_registration(
    instance: Instance,
    *,
    now: float | None = None,
    nodes: Sequence[tuple[str, str]] = (),
) -> tuple[str, int]:
    """The sealed registration (signed by the instance, encrypted to the vendor) and its iat;
    `nodes`: (hostname, fingerprint) of each node of a high-availability pair."""
    iat = int(time.time() if now is None else now)
    payload = RegistrationPayload(
        iss=instance.instance_id,
        aud=instance.vendor_id,
        iat=iat,
        keys=Jwks(keys=instance.keys.public().to_jwks()["keys"]),
        hostname=hostname(),
        fingerprint=instance.fingerprint or fingerprint(),
        version=__version__,
        nodes=tuple(RegistrationNode(hostname=h, fingerprint=f) for h, f in nodes),
    )
    token = seal(
        msgspec.json.encode(payload),
        typ=TYP_REGISTRATION,
        signer=instance.keys,
        recipient=instance.vendor_keys,
    )
    return token, iat
