"""The envelope refuses everything sync-format.md §1 says a reader must refuse, with its code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from joserfc import jwe
from joserfc.jwk import OctKey

from lls.errors import SealedFileError
from lls.sealed import (
    MAX_FILE_BYTES,
    KeyPair,
    PublicKeys,
    decode_payload,
    kid_of,
    open_sealed,
    open_sealed_detail,
    read_sealed_file,
    read_sealed_text,
    seal,
    write_sealed_file,
)
from lls.sealed.payloads import TYP_POOL, TYP_USAGE, Org

PAYLOAD = b'{"iss":"vendor:test","aud":"inst-1","seq":1}'


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_jws(header: dict[str, Any], payload: bytes, signer: KeyPair | None) -> str:
    """A compact JWS built by hand, so a test can put anything in its header."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    if header["alg"] == "HS256":
        signature = hmac.new(b"k" * 32, signing_input.encode(), hashlib.sha256).digest()
    elif signer is None:
        signature = b""
    else:
        signature = signer.signing.private_key.sign(signing_input.encode())  # type: ignore[union-attr]
    return f"{signing_input}.{b64(signature)}"


def encrypt(inner: str, recipient: PublicKeys, alg: str = "ECDH-ES", enc: str = "A256GCM") -> str:
    return jwe.encrypt_compact(
        {"alg": alg, "enc": enc}, inner, recipient.encrypt, algorithms=[alg, enc]
    )


def refusal(
    token: str | bytes, recipient: KeyPair, trusted: list[PublicKeys], typ: str = TYP_POOL
) -> str:
    with pytest.raises(SealedFileError) as caught:
        open_sealed(token, typ=typ, recipient=recipient, trusted=trusted)
    return caught.value.code


def test_open_sealed_round_trip_returns_payload(
    vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    token = seal(PAYLOAD, typ=TYP_POOL, signer=vendor_pair, recipient=instance_pair.public())

    opened = open_sealed(
        token, typ=TYP_POOL, recipient=instance_pair, trusted=[vendor_pair.public()]
    )

    assert opened == PAYLOAD


def test_seal_headers_are_exactly_the_contract(
    vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    token = seal(PAYLOAD, typ=TYP_POOL, signer=vendor_pair, recipient=instance_pair.public())

    outer = json.loads(unb64(token.split(".")[0]))
    inner_token = jwe.decrypt_compact(token, instance_pair.encryption).plaintext
    assert inner_token is not None
    inner = json.loads(unb64(inner_token.decode().split(".")[0]))
    assert {k: outer[k] for k in ("alg", "enc", "cty", "kid")} == {
        "alg": "ECDH-ES",
        "enc": "A256GCM",
        "cty": "JWT",
        "kid": kid_of(instance_pair.encryption),
    }
    assert set(outer) == {"alg", "enc", "cty", "kid", "epk"}
    assert inner == {"alg": "Ed25519", "kid": kid_of(vendor_pair.signing), "typ": TYP_POOL}


def test_open_sealed_wrong_typ_refused(vendor_pair: KeyPair, instance_pair: KeyPair) -> None:
    token = seal(PAYLOAD, typ=TYP_USAGE, signer=vendor_pair, recipient=instance_pair.public())

    assert refusal(token, instance_pair, [vendor_pair.public()]) == "WRONG_TYP"


def test_open_sealed_tampered_ciphertext_refused(
    vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    parts = seal(PAYLOAD, typ=TYP_POOL, signer=vendor_pair, recipient=instance_pair.public()).split(
        "."
    )
    ciphertext = bytearray(unb64(parts[3]))
    ciphertext[0] ^= 1
    parts[3] = b64(bytes(ciphertext))

    assert (
        refusal(".".join(parts), instance_pair, [vendor_pair.public()]) == "NOT_FOR_THIS_RECIPIENT"
    )


def test_open_sealed_untrusted_signer_refused(
    stranger_pair: KeyPair, vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    token = seal(PAYLOAD, typ=TYP_POOL, signer=stranger_pair, recipient=instance_pair.public())

    assert refusal(token, instance_pair, [vendor_pair.public()]) == "BAD_SIGNATURE"


def test_open_sealed_other_recipient_refused(
    stranger_pair: KeyPair, vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    token = seal(PAYLOAD, typ=TYP_POOL, signer=vendor_pair, recipient=stranger_pair.public())

    assert refusal(token, instance_pair, [vendor_pair.public()]) == "NOT_FOR_THIS_RECIPIENT"


@pytest.mark.parametrize("alg", ["none", "HS256", "ES256", "RS256"])
def test_open_sealed_inner_alg_outside_allow_list_refused(
    alg: str, vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    inner = raw_jws({"alg": alg, "typ": TYP_POOL}, PAYLOAD, None)
    token = encrypt(inner, instance_pair.public())

    assert refusal(token, instance_pair, [vendor_pair.public()]) == "ALGORITHM_NOT_ALLOWED"


def test_open_sealed_inner_eddsa_name_with_ed25519_key_accepted(
    vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    header = {"alg": "EdDSA", "kid": kid_of(vendor_pair.signing), "typ": TYP_POOL}
    token = encrypt(raw_jws(header, PAYLOAD, vendor_pair), instance_pair.public())

    assert (
        open_sealed(token, typ=TYP_POOL, recipient=instance_pair, trusted=[vendor_pair.public()])
        == PAYLOAD
    )


def test_open_sealed_key_embedded_in_header_is_not_trusted(
    stranger_pair: KeyPair, vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    header = {
        "alg": "Ed25519",
        "typ": TYP_POOL,
        "jwk": stranger_pair.public().verify.as_dict(private=False),
    }
    token = encrypt(raw_jws(header, PAYLOAD, stranger_pair), instance_pair.public())

    assert refusal(token, instance_pair, [vendor_pair.public()]) in {
        "BAD_ENVELOPE",
        "BAD_SIGNATURE",
    }


def test_open_sealed_without_kid_tries_each_trusted_key(
    stranger_pair: KeyPair, vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    token = encrypt(
        raw_jws({"alg": "Ed25519", "typ": TYP_POOL}, PAYLOAD, vendor_pair), instance_pair.public()
    )

    opened = open_sealed_detail(
        token,
        typ=TYP_POOL,
        recipient=instance_pair,
        trusted=[stranger_pair.public(), vendor_pair.public()],
    )

    assert opened.signer.kids == vendor_pair.public().kids


@pytest.mark.parametrize(
    ("alg", "enc"),
    [("ECDH-ES+A128KW", "A256GCM"), ("ECDH-ES", "A128GCM"), ("ECDH-ES", "A256CBC-HS512")],
)
def test_open_sealed_outer_alg_outside_allow_list_refused(
    alg: str, enc: str, vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    inner = raw_jws({"alg": "Ed25519", "typ": TYP_POOL}, PAYLOAD, vendor_pair)
    token = encrypt(inner, instance_pair.public(), alg=alg, enc=enc)

    assert refusal(token, instance_pair, [vendor_pair.public()]) == "ALGORITHM_NOT_ALLOWED"


def test_open_sealed_direct_encryption_refused(
    vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    inner = raw_jws({"alg": "Ed25519", "typ": TYP_POOL}, PAYLOAD, vendor_pair)
    token = jwe.encrypt_compact(
        {"alg": "dir", "enc": "A256GCM"},
        inner,
        OctKey.generate_key(256),
        algorithms=["dir", "A256GCM"],
    )

    assert refusal(token, instance_pair, [vendor_pair.public()]) == "ALGORITHM_NOT_ALLOWED"


@pytest.mark.parametrize(
    "garbage",
    ["", "hello", "a.b.c.d.e", "....", "eyJhbGciOiJub25lIn0.e30.", b"\xff\xfe.\x00.a.b.c"],
)
def test_open_sealed_garbage_refused(
    garbage: str | bytes, instance_pair: KeyPair, vendor_pair: KeyPair
) -> None:
    assert refusal(garbage, instance_pair, [vendor_pair.public()]) == "BAD_ENVELOPE"


def test_open_sealed_over_limit_refused_before_decrypting(
    vendor_pair: KeyPair, instance_pair: KeyPair
) -> None:
    # Garbage of the wrong size: had it been decrypted first it would say BAD_ENVELOPE.
    oversized = b"A" * (MAX_FILE_BYTES + 1)

    assert refusal(oversized, instance_pair, [vendor_pair.public()]) == "FILE_TOO_LARGE"


def test_read_sealed_file_over_limit_refused_from_size_alone(tmp_path: Path) -> None:
    path = tmp_path / "huge.pool"
    with path.open("wb") as handle:  # sparse: costs no disk and no time
        handle.truncate(MAX_FILE_BYTES + 1)

    with pytest.raises(SealedFileError) as caught:
        read_sealed_file(path)

    assert caught.value.code == "FILE_TOO_LARGE"


def test_big_file_round_trips(vendor_pair: KeyPair, instance_pair: KeyPair, tmp_path: Path) -> None:
    licenses = [
        {"token": f"ACME-{i:08d}", "productCodes": ["ACME_PRO"], "seats": 5} for i in range(200_000)
    ]
    payload = json.dumps({"licenses": licenses}).encode()
    assert len(payload) > 12 * 1024 * 1024
    path = tmp_path / "big.pool"
    write_sealed_file(
        path,
        seal(payload, typ=TYP_POOL, signer=vendor_pair, recipient=instance_pair.public()),
        {"kind": "pool"},
    )

    opened = open_sealed(
        read_sealed_file(path),
        typ=TYP_POOL,
        recipient=instance_pair,
        trusted=[vendor_pair.public()],
    )

    assert opened == payload


def test_sealed_file_comment_lines_ignored(
    vendor_pair: KeyPair, instance_pair: KeyPair, tmp_path: Path
) -> None:
    token = seal(PAYLOAD, typ=TYP_POOL, signer=vendor_pair, recipient=instance_pair.public())
    path = tmp_path / "x.pool"
    write_sealed_file(path, token, {"kind": "pool", "note": "two\nlines"})

    text = path.read_text()

    assert text.count("\n") == 3 and text.startswith("# kind: pool\n# note: two lines\n")
    assert read_sealed_file(path) == token


def test_read_sealed_text_skips_blank_and_comment_lines() -> None:
    assert read_sealed_text(b"# kind: pool\n\n  # seq: 3\r\nTOKEN.a.b.c.d\n\n") == "TOKEN.a.b.c.d"


def test_read_sealed_text_two_tokens_refused() -> None:
    with pytest.raises(SealedFileError) as caught:
        read_sealed_text("# c\nA.b.c.d.e\nF.g.h.i.j\n")

    assert caught.value.code == "BAD_ENVELOPE"


def test_decode_payload_wrong_shape_refused() -> None:
    with pytest.raises(SealedFileError) as caught:
        decode_payload(b'{"name": "no id"}', Org)

    assert caught.value.code == "BAD_PAYLOAD" and "id" in caught.value.message


def test_decode_payload_valid_document_parsed() -> None:
    assert decode_payload(msgspec.json.encode(Org(id="org-1", name="A")), Org) == Org(
        id="org-1", name="A"
    )
