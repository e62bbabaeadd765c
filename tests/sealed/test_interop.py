"""Contract with an independent JOSE library (jwcrypto): any vendor language reads our files."""

from __future__ import annotations

import json

import pytest
from jwcrypto import jwe, jwk, jws
from jwcrypto.common import json_encode

from lls.sealed import KeyPair, kid_of, open_sealed, seal
from lls.sealed.payloads import TYP_POOL, TYP_USAGE

PAYLOAD = b'{"iss":"inst-1","aud":"vendor:test","seq":5}'


def test_jwcrypto_opens_and_verifies_our_file(vendor_pair: KeyPair, instance_pair: KeyPair) -> None:
    token = seal(PAYLOAD, typ=TYP_POOL, signer=vendor_pair, recipient=instance_pair.public())
    outer = jwe.JWE()
    outer.deserialize(token, key=jwk.JWK(**instance_pair.encryption.as_dict(private=True)))
    inner = jws.JWS()
    inner.allowed_algs = ["Ed25519"]
    inner.deserialize(outer.payload.decode())

    inner.verify(jwk.JWK(**vendor_pair.public().verify.as_dict()), alg="Ed25519")

    assert {k: outer.jose_header[k] for k in ("alg", "enc", "cty", "kid")} == {
        "alg": "ECDH-ES",
        "enc": "A256GCM",
        "cty": "JWT",
        "kid": kid_of(instance_pair.encryption),
    }
    assert inner.jose_header == {
        "alg": "Ed25519",
        "kid": kid_of(vendor_pair.signing),
        "typ": TYP_POOL,
    }
    assert json.loads(inner.payload) == json.loads(PAYLOAD)


@pytest.mark.parametrize("alg", ["Ed25519", "EdDSA"])
def test_file_made_by_jwcrypto_opens(
    alg: str, vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    signer = jwk.JWK(**instance_pair.signing.as_dict(private=True))
    inner = jws.JWS(PAYLOAD)
    inner.allowed_algs = [alg]
    inner.add_signature(
        signer,
        alg=alg,
        protected=json_encode({"alg": alg, "kid": signer.thumbprint(), "typ": TYP_USAGE}),
    )
    outer = jwe.JWE(
        inner.serialize(compact=True).encode(),
        protected=json_encode({"alg": "ECDH-ES", "enc": "A256GCM", "cty": "JWT"}),
    )
    outer.add_recipient(jwk.JWK(**vendor_pair.public().encrypt.as_dict()))
    token = outer.serialize(compact=True)

    opened = open_sealed(
        token, typ=TYP_USAGE, recipient=vendor_pair, trusted=[instance_pair.public()]
    )

    assert opened == PAYLOAD
