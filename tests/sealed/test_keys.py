"""Key pairs, JWKS import/export, key ids and private key files."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from lls.errors import LLSError, SealedFileError
from lls.sealed import KeyPair, PublicKeys, kid_of, load_private_jwks, write_private_jwks

# RFC 8037 appendix A.1 (key) and A.3 (its RFC 7638 thumbprint).
RFC8037_ED25519 = {
    "kty": "OKP",
    "crv": "Ed25519",
    "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
# RFC 8037 appendix A.6: Bob's X25519 public key.
RFC8037_X25519 = {"kty": "OKP", "crv": "X25519", "x": "3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08"}


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 by hand: required members, sorted, no spaces, SHA-256, base64url."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def bad_keys(jwks: Any, cls: type[PublicKeys] | type[KeyPair] = PublicKeys) -> str:
    with pytest.raises(SealedFileError) as caught:
        cls.from_jwks(jwks)
    return caught.value.code


def test_kid_is_rfc7638_thumbprint_of_rfc8037_vector() -> None:
    keys = PublicKeys.from_jwks({"keys": [RFC8037_ED25519, RFC8037_X25519]})

    assert kid_of(keys.verify) == RFC8037_THUMBPRINT
    assert kid_of(keys.encrypt) == thumbprint(RFC8037_X25519)


def test_to_jwks_labels_each_key_with_kid_use_alg(instance_pair: KeyPair) -> None:
    sig, enc = instance_pair.public().to_jwks()["keys"]

    assert (sig["crv"], sig["use"], sig["alg"], sig["kid"]) == (
        "Ed25519",
        "sig",
        "Ed25519",
        thumbprint(sig),
    )
    assert (enc["crv"], enc["use"], enc["alg"], enc["kid"]) == (
        "X25519",
        "enc",
        "ECDH-ES",
        thumbprint(enc),
    )
    assert "d" not in sig and "d" not in enc


def test_public_from_private_jwks_drops_private_parts(instance_pair: KeyPair) -> None:
    public = PublicKeys.from_jwks(instance_pair.private_jwks())

    assert all("d" not in jwk for jwk in public.to_jwks()["keys"])
    assert public.kids == instance_pair.public().kids


def test_from_jwks_foreign_labels_replaced(instance_pair: KeyPair) -> None:
    sig, enc = instance_pair.public().to_jwks()["keys"]
    foreign = {
        "keys": [
            {**sig, "kid": "mine", "alg": "EdDSA"},
            {**enc, "kid": "x", "alg": "ECDH-ES+A256KW", "use": "sig"},
        ]
    }

    assert PublicKeys.from_jwks(foreign).to_jwks() == instance_pair.public().to_jwks()


def test_key_pair_jwks_round_trip(instance_pair: KeyPair) -> None:
    again = KeyPair.from_jwks(instance_pair.private_jwks())

    assert again.private_jwks() == instance_pair.private_jwks()


@pytest.mark.parametrize(
    "jwks",
    [
        {},
        {"keys": "no"},
        {"keys": [RFC8037_ED25519]},
        {"keys": [RFC8037_X25519]},
        {"keys": [RFC8037_ED25519, RFC8037_ED25519, RFC8037_X25519]},
        {"keys": [{**RFC8037_ED25519, "kty": "EC"}, RFC8037_X25519]},
        {"keys": [{**RFC8037_ED25519, "x": "short"}, RFC8037_X25519]},
        {"keys": [RFC8037_ED25519, RFC8037_X25519, 7]},
        [],
    ],
)
def test_public_from_jwks_missing_or_wrong_refused(jwks: Any) -> None:
    assert bad_keys(jwks) == "BAD_KEYS"


def test_key_pair_from_public_jwks_refused(instance_pair: KeyPair) -> None:
    assert bad_keys(instance_pair.public().to_jwks(), KeyPair) == "BAD_KEYS"


def test_key_pair_mismatched_public_part_refused(instance_pair: KeyPair) -> None:
    sig, enc = instance_pair.private_jwks()["keys"]
    forged = {"keys": [{**sig, "x": RFC8037_ED25519["x"]}, enc]}

    assert bad_keys(forged, KeyPair) == "BAD_KEYS"


def test_write_private_jwks_file_is_0600(instance_pair: KeyPair, tmp_path: Path) -> None:
    path = tmp_path / "instance.key"

    write_private_jwks(path, instance_pair)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_private_jwks_existing_file_not_overwritten(
    instance_pair: KeyPair, tmp_path: Path
) -> None:
    path = tmp_path / "instance.key"
    path.write_text("precious")

    with pytest.raises(LLSError) as caught:
        write_private_jwks(path, instance_pair)

    assert caught.value.code == "KEY_FILE_EXISTS" and path.read_text() == "precious"


def test_load_private_jwks_reads_what_was_written(instance_pair: KeyPair, tmp_path: Path) -> None:
    path = tmp_path / "instance.key"
    write_private_jwks(path, instance_pair)

    assert load_private_jwks(path).private_jwks() == instance_pair.private_jwks()


def test_load_private_jwks_missing_file_refused(tmp_path: Path) -> None:
    with pytest.raises(LLSError) as caught:
        load_private_jwks(tmp_path / "nope.key")

    assert caught.value.code == "KEY_FILE_MISSING" and "nope.key" in caught.value.message


def test_load_private_jwks_not_json_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("not json")

    with pytest.raises(LLSError) as caught:
        load_private_jwks(path)

    assert caught.value.code == "BAD_KEYS"
