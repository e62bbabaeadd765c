"""The sign-then-encrypt envelope of every file that crosses the air gap (sync-format.md §1)."""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from joserfc import jwe, jws
from joserfc.errors import ExceededSizeError, JoseError, UnsupportedAlgorithmError
from joserfc.jws import CompactSignature, JWSRegistry
from joserfc.registry import JWS_HEADER_REGISTRY
from joserfc.util import urlsafe_b64decode

from lls.errors import SealedFileError
from lls.protocol.json_depth import depth_message, too_deep
from lls.sealed.files import MAX_FILE_BYTES as MAX_FILE_BYTES
from lls.sealed.files import read_sealed_file as read_sealed_file
from lls.sealed.files import read_sealed_text as read_sealed_text
from lls.sealed.files import write_sealed_file as write_sealed_file
from lls.sealed.keys import KeyPair, PublicKeys, kid_of

T = TypeVar("T")

JWS_ALG = "Ed25519"
JWE_ALG = "ECDH-ES"
JWE_ENC = "A256GCM"
# "EdDSA" is the older, curve-agnostic name of the same signature; we accept it
# from other writers but only ever with an Ed25519 key, and never write it.
_ACCEPTED_JWS_ALGS = frozenset({"Ed25519", "EdDSA"})
# Inner header members a reader accepts; anything else ("b64", "crit", "jwk",
# "jku", "x5c"…) would change how the token is read or where its key comes from.
_INNER_HEADER = ("alg", "kid", "typ", "cty")


class _JWSLimits(JWSRegistry):
    """joserfc's JWS registry with the payload bound raised to our file bound."""

    max_payload_length = MAX_FILE_BYTES


class _JWELimits(jwe.JWERegistry):
    """joserfc's JWE registry with the ciphertext bound raised to our file bound.

    Its defaults (64 KB) would refuse any real pool; the 64 MiB bound is checked
    on the whole file before this registry ever sees it.
    """

    max_ciphertext_length = MAX_FILE_BYTES


_JWS = _JWSLimits(algorithms=[JWS_ALG], strict_check_header=True)
_JWS.header_registry = {k: JWS_HEADER_REGISTRY[k] for k in _INNER_HEADER}
_JWE = _JWELimits(algorithms=[JWE_ALG, JWE_ENC], strict_check_header=True)
# The one verifier for both accepted names, so "EdDSA" never reaches joserfc's
# deprecated EdDSA model (and its warning); the key curve is checked before use.
_ED25519 = JWSRegistry.algorithms[JWS_ALG]


@dataclass(frozen=True, slots=True)
class Opened:
    """What open_sealed learned: the verified payload, who signed it, and the inner header."""

    payload: bytes
    signer: PublicKeys
    header: Mapping[str, Any]


def _fail(code: str, message: str) -> SealedFileError:
    return SealedFileError(message, code=code)


def _check_size(length: int) -> None:
    if length > MAX_FILE_BYTES:
        raise _fail(
            "FILE_TOO_LARGE", f"the file is {length} bytes, over the {MAX_FILE_BYTES}-byte limit"
        )


def seal(payload: bytes, *, typ: str, signer: KeyPair, recipient: PublicKeys) -> str:
    """Sign `payload` as `typ` with the signer's Ed25519 key, then encrypt it to the recipient."""
    inner = jws.serialize_compact(
        {"alg": JWS_ALG, "kid": kid_of(signer.signing), "typ": typ},
        payload,
        signer.signing,
        registry=_JWS,
    )
    outer = jwe.encrypt_compact(
        {"alg": JWE_ALG, "enc": JWE_ENC, "cty": "JWT", "kid": kid_of(recipient.encrypt)},
        inner,
        recipient.encrypt,
        registry=_JWE,
    )
    _check_size(len(outer))
    return outer


def open_sealed(
    token: str | bytes, *, typ: str, recipient: KeyPair, trusted: Sequence[PublicKeys]
) -> bytes:
    """Decrypt, verify against keys we already trust, check `typ`; return the raw payload."""
    return open_sealed_detail(token, typ=typ, recipient=recipient, trusted=trusted).payload


def open_sealed_detail(
    token: str | bytes, *, typ: str, recipient: KeyPair, trusted: Sequence[PublicKeys]
) -> Opened:
    """As open_sealed, and also say which trusted party signed (to bind it to the payload's iss)."""
    inner = _decrypt(token, recipient)
    signer = _verify(inner, trusted)
    return _checked(inner, signer, typ)


def open_self_signed(
    token: str | bytes,
    *,
    typ: str,
    recipient: KeyPair,
    claimed_keys: Callable[[bytes], PublicKeys],
) -> Opened:
    """Open a file whose signer is not yet trusted, as proof it holds the keys it presents.

    Only for registration: `claimed_keys` reads the signer's keys out of the still
    unverified payload, and the signature is then checked against them. That proves
    possession of the private key, not identity: trust in a registration comes from
    the admin who carried the file to the vendor, never from the file itself.
    """
    inner = _decrypt(token, recipient)
    signer = _verify(inner, [claimed_keys(inner.payload)])
    return _checked(inner, signer, typ)


def _decrypt(token: str | bytes, recipient: KeyPair) -> CompactSignature:
    """Outer JWE → inner JWS (parsed, header checked, signature not yet verified)."""
    _check_size(len(token))
    raw = token.encode("ascii", "replace") if isinstance(token, str) else token
    parts = raw.strip().split(b".")
    if len(parts) != 5:
        raise _fail("BAD_ENVELOPE", "not a sealed file: expected a compact JWE (five parts)")
    header = _read_header(parts[0], "JWE header", _JWE.max_protected_header_length)
    if not isinstance(header, dict):
        raise _fail("BAD_ENVELOPE", "not a sealed file: the JWE header is not an object")
    if header.get("alg") != JWE_ALG or header.get("enc") != JWE_ENC or "zip" in header:
        raise _fail(
            "ALGORITHM_NOT_ALLOWED",
            f"encryption {header.get('alg')!r}/{header.get('enc')!r} is not allowed; "
            f"only {JWE_ALG}/{JWE_ENC}",
        )
    own_kid = kid_of(recipient.encryption)
    try:
        plaintext = jwe.decrypt_compact(
            b".".join(parts), recipient.encryption, registry=_JWE
        ).plaintext
    except ExceededSizeError as exc:
        raise _fail("FILE_TOO_LARGE", f"the file exceeds a size limit: {exc}") from exc
    except UnsupportedAlgorithmError as exc:
        raise _fail("ALGORITHM_NOT_ALLOWED", f"the file uses a refused algorithm: {exc}") from exc
    except (JoseError, ValueError, TypeError) as exc:
        kid = header.get("kid")
        why = (
            f"it was encrypted to key {kid}, this side's key is {own_kid}"
            if kid is not None and kid != own_kid
            else "it was made for another recipient or has been altered"
        )
        raise _fail("NOT_FOR_THIS_RECIPIENT", f"the file cannot be decrypted: {why}") from exc
    if plaintext is None:  # pragma: no cover - joserfc always sets it on success
        raise _fail("BAD_ENVELOPE", "the file decrypted to nothing")
    return _parse_inner(plaintext)


def _read_header(segment: bytes, what: str, max_length: int) -> Any:
    """A protected header (base64url JSON), refused with a reason however hostile it is:
    oversized, not base64url, not JSON, or nested deep enough to exhaust a parser."""
    if len(segment) > max_length:
        raise _fail("BAD_ENVELOPE", f"not a sealed file: the {what} is over {max_length} bytes")
    try:
        text = urlsafe_b64decode(segment)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise _fail("BAD_ENVELOPE", f"not a sealed file: the {what} is not base64url") from exc
    if too_deep(text):
        raise _fail("BAD_ENVELOPE", f"not a sealed file: {depth_message(f'the {what}')}")
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError) as exc:
        raise _fail("BAD_ENVELOPE", f"not a sealed file: unreadable {what}") from exc


def _parse_inner(plaintext: bytes) -> CompactSignature:
    # The plaintext is hostile until verified (anyone can encrypt to our public key):
    # its header is read by our own bounded reader before joserfc parses it.
    _read_header(plaintext.split(b".", 1)[0], "JWS header", _JWS.max_header_length)
    try:
        inner = jws.extract_compact(plaintext, registry=_JWS)
    except ExceededSizeError as exc:
        raise _fail("FILE_TOO_LARGE", f"the signed content exceeds a size limit: {exc}") from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise _fail("BAD_ENVELOPE", "the encrypted content is not a compact JWS") from exc
    alg = inner.headers().get("alg")
    if alg not in _ACCEPTED_JWS_ALGS:
        raise _fail(
            "ALGORITHM_NOT_ALLOWED",
            f"signature algorithm {alg!r} is not allowed; only Ed25519 (or EdDSA)",
        )
    try:
        _JWS.check_header(inner.headers())
    except JoseError as exc:
        raise _fail("BAD_ENVELOPE", f"the signature header is not acceptable: {exc}") from exc
    return inner


def _verify(inner: CompactSignature, trusted: Sequence[PublicKeys]) -> PublicKeys:
    """The trusted party whose Ed25519 key verifies the inner JWS; the file's kid only orders."""
    kid = inner.headers().get("kid")
    named = [party for party in trusted if kid is not None and kid_of(party.verify) == kid]
    signing_input = inner.segments["header"] + b"." + inner.segments["payload"]
    try:
        signature = urlsafe_b64decode(inner.segments["signature"])
    except (ValueError, TypeError) as exc:
        raise _fail("BAD_SIGNATURE", "the signature is not readable") from exc
    for party in named or trusted:
        try:
            _ED25519.check_key(party.verify)
            if _ED25519.verify(signing_input, signature, party.verify):
                return party
        except (JoseError, ValueError):
            continue
    raise _fail("BAD_SIGNATURE", "the file is not signed by a trusted key")


def _checked(inner: CompactSignature, signer: PublicKeys, typ: str) -> Opened:
    header = inner.headers()
    if header.get("typ") != typ:
        raise _fail("WRONG_TYP", f"the file is a {header.get('typ')!r}, expected {typ!r}")
    return Opened(payload=inner.payload, signer=signer, header=header)


def decode_payload(payload: bytes, schema: type[T]) -> T:
    """Parse a verified payload into its schema; field-level errors become BAD_PAYLOAD,
    and so does a payload nested too deep to parse (checked before msgspec recurses)."""
    name = getattr(schema, "__name__", str(schema))
    if too_deep(payload):
        raise _fail("BAD_PAYLOAD", depth_message(f"the {name} document"))
    try:
        return msgspec.json.decode(payload, type=schema)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _fail("BAD_PAYLOAD", f"the {name} document is not valid: {exc}") from exc
    except RecursionError as exc:
        raise _fail("BAD_PAYLOAD", depth_message(f"the {name} document")) from exc
