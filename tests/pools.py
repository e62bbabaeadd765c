"""Building real, signed and encrypted pool files for tests (as the vendor would)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from lls.instance import Instance
from lls.sealed import KeyPair, PublicKeys, seal
from lls.sealed.payloads import TYP_POOL

VENDOR_ID = "vendor:test"
PRODUCT = "ACME_PRO"


@dataclass(frozen=True)
class VendorKeys:
    keys: KeyPair
    vendor_id: str = VENDOR_ID

    def write_jwks(self, path: Path) -> Path:
        doc = {"vendorId": self.vendor_id, "keys": self.keys.public().to_jwks()["keys"]}
        path.write_text(json.dumps(doc), encoding="utf-8")
        return path


def grant(token: str, **fields: Any) -> dict[str, Any]:
    """A license grant with sensible defaults; keyword arguments use the wire names."""
    doc: dict[str, Any] = {
        "token": token,
        "productCodes": [PRODUCT],
        "type": "floating",
        "seats": 1,
        "status": "active",
        "validFrom": "2020-01-01T00:00:00Z",
        "validUntil": "2099-01-01T00:00:00Z",
        "isTrial": False,
        "sessionWindowSeconds": 600,
        "contact": {"firstName": "John", "lastName": "Doe", "email": "john@example.com"},
        "companyName": "Acme Trading Corp",
    }
    doc.update(fields)
    return doc


def pool_payload(
    instance: Instance,
    licenses: list[dict[str, Any]],
    *,
    seq: int = 1,
    iat: float | None = None,
    exp: float | None = None,
    org: str = "org-42",
    ack: int = 0,
    aud: str | None = None,
    vendor_id: str = VENDOR_ID,
) -> dict[str, Any]:
    now = time.time() if iat is None else iat
    return {
        "iss": vendor_id,
        "aud": instance.instance_id if aud is None else aud,
        "iat": int(now),
        "exp": int(now + 365 * 86400) if exp is None else int(exp),
        "seq": seq,
        "ackUsageSeq": ack,
        "org": {"id": org, "name": "Acme Trading Corp"},
        "licenses": licenses,
    }


def seal_doc(
    doc: Any,
    *,
    signer: KeyPair,
    recipient: PublicKeys,
    typ: str = TYP_POOL,
) -> str:
    return seal(msgspec.json.encode(doc), typ=typ, signer=signer, recipient=recipient)


def make_pool(
    vendor: VendorKeys, instance: Instance, licenses: list[dict[str, Any]], **kw: Any
) -> str:
    return seal_doc(
        pool_payload(instance, licenses, **kw), signer=vendor.keys, recipient=instance.keys.public()
    )
