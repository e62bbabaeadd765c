"""Key pairs of every party (Ed25519 signs, X25519 receives) as JWKs, and their key files."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from lls.errors import Refused, SealedFileError

SIGNING_CURVE = "Ed25519"
ENCRYPTION_CURVE = "X25519"
KEY_FILE_MODE = 0o600

_Curve = Literal["Ed25519", "X25519"]
# The JWK members that hold key material; everything else is re-derived on import
# so a foreign file's "alg"/"use"/"kid" can never steer how we use a key.
_MATERIAL = ("kty", "crv", "x", "d")
_USAGE: dict[str, dict[str, str]] = {
    SIGNING_CURVE: {"use": "sig", "alg": "Ed25519"},
    ENCRYPTION_CURVE: {"use": "enc", "alg": "ECDH-ES"},
}


def kid_of(key: OKPKey) -> str:
    """The key id every party uses: the RFC 7638 SHA-256 thumbprint of the public key."""
    return key.thumbprint()


def _bad_keys(message: str) -> SealedFileError:
    return SealedFileError(message, code="BAD_KEYS")


def _normalise(jwk: Mapping[str, Any], *, private: bool) -> OKPKey:
    """Import one JWK from its material only, then label it with our kid, use and alg."""
    material = {k: jwk[k] for k in _MATERIAL if k in jwk}
    if material.get("kty") != "OKP":
        raise _bad_keys(f"key of type {material.get('kty')!r} is not an OKP key")
    if private and "d" not in material:
        raise _bad_keys(f"the {material.get('crv')} key has no private part ('d')")
    if not private:
        material.pop("d", None)
    try:
        imported = OKPKey.import_key(material)
        native = imported.private_key if private else imported.public_key
        if native is None:
            raise _bad_keys(f"the {material.get('crv')} key has no private part")
        bare = OKPKey.import_key(native)
        if private and bare.as_dict(private=False)["x"] != material.get("x", bare["x"]):
            raise _bad_keys(f"the {material['crv']} key's public part does not match its private")
        labels = {"kid": kid_of(bare), **_USAGE[str(material["crv"])]}
        return OKPKey.import_key(native, parameters=labels)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise _bad_keys(f"unreadable {material.get('crv')} key: {exc}") from exc


def _pick(jwks: Mapping[str, Any], *, private: bool) -> dict[str, OKPKey]:
    """One key per curve we use, from a `{"keys": [...]}` object; other curves are ignored."""
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise _bad_keys('not a JWKS: expected an object with a "keys" list')
    found: dict[str, OKPKey] = {}
    for jwk in keys:
        if not isinstance(jwk, Mapping):
            raise _bad_keys("a JWKS entry is not an object")
        crv = jwk.get("crv")
        if crv not in _USAGE:
            continue
        if crv in found:
            raise _bad_keys(f"the JWKS holds more than one {crv} key")
        found[crv] = _normalise(jwk, private=private)
    for crv in _USAGE:
        if crv not in found:
            raise _bad_keys(f"the JWKS has no {crv} key")
    return found


@dataclass(frozen=True, slots=True)
class PublicKeys:
    """A party's public keys: what others pin to verify it and to encrypt to it."""

    verify: OKPKey
    encrypt: OKPKey

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> PublicKeys:
        """Read the Ed25519 and X25519 public keys out of a JWKS (private parts dropped)."""
        found = _pick(jwks, private=False)
        return cls(verify=found[SIGNING_CURVE], encrypt=found[ENCRYPTION_CURVE])

    def to_jwks(self) -> dict[str, Any]:
        """The public JWKS, each key with its thumbprint kid, use and alg."""
        return {"keys": [self.verify.as_dict(private=False), self.encrypt.as_dict(private=False)]}

    @property
    def kids(self) -> tuple[str, str]:
        """(signing kid, encryption kid): identity of this party's keys for comparisons."""
        return (kid_of(self.verify), kid_of(self.encrypt))


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A party's private keys: one to sign what it sends, one to open what it receives."""

    signing: OKPKey
    encryption: OKPKey

    @classmethod
    def generate(cls) -> KeyPair:
        """Fresh Ed25519 + X25519 private keys."""
        return cls(
            signing=_normalise(_jwk_of(Ed25519PrivateKey.generate()), private=True),
            encryption=_normalise(_jwk_of(X25519PrivateKey.generate()), private=True),
        )

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeyPair:
        """Read both private keys out of a private JWKS."""
        found = _pick(jwks, private=True)
        return cls(signing=found[SIGNING_CURVE], encryption=found[ENCRYPTION_CURVE])

    def private_jwks(self) -> dict[str, Any]:
        """The private JWKS, as stored in a 0600 key file."""
        return {"keys": [self.signing.as_dict(private=True), self.encryption.as_dict(private=True)]}

    def derive_secret(self, *, info: bytes, salt: bytes, length: int = 32) -> bytes:
        """A secret for one purpose (`info`) derived from the signing key with HKDF-SHA256.

        The output reveals nothing about the key (HKDF is one-way), a different `info`
        gives an unrelated secret, and it is the same for as long as the key file is.
        """
        native = self.signing.private_key
        if not isinstance(native, Ed25519PrivateKey):  # pragma: no cover - _normalise ensures it
            raise _bad_keys("the signing key is not an Ed25519 private key")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info)
        return hkdf.derive(native.private_bytes_raw())

    def public(self) -> PublicKeys:
        """The public half, to hand to the other parties."""
        return PublicKeys(
            verify=_normalise(self.signing.as_dict(private=False), private=False),
            encrypt=_normalise(self.encryption.as_dict(private=False), private=False),
        )


def _jwk_of(native: Ed25519PrivateKey | X25519PrivateKey) -> dict[str, Any]:
    return dict(OKPKey.import_key(native).as_dict(private=True))


def write_private_jwks(path: Path, pair: KeyPair) -> None:
    """Create a private key file readable by its owner only, never even briefly wider.

    The file is created 0600 in the same call that creates it (O_EXCL), so no
    other user can open it between creation and a later chmod; an existing file
    is never overwritten, because losing a private key orphans every pool and
    registration made for it.
    """
    data = (json.dumps(pair.private_jwks(), indent=2) + "\n").encode()
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, KEY_FILE_MODE)
    except FileExistsError as exc:
        raise Refused(
            f"key file {path} already exists; refusing to overwrite it", code="KEY_FILE_EXISTS"
        ) from exc
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # a restrictive umask may have removed owner bits
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_jwks(path: Path) -> KeyPair:
    """Read a private key file written by write_private_jwks."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise Refused(f"key file {path} does not exist", code="KEY_FILE_MISSING") from exc
    except OSError as exc:
        raise Refused(
            f"key file {path} cannot be read: {exc.strerror}", code="KEY_FILE_UNREADABLE"
        ) from exc
    try:
        jwks = json.loads(raw)
    except ValueError as exc:
        raise _bad_keys(f"key file {path} is not JSON") from exc
    return KeyPair.from_jwks(jwks)
