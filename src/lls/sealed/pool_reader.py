"""Reads a sealed pool file into the domain's `Pool`: verify first, then parse, then convert."""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from lls.clock import parse_rfc3339
from lls.domain.models import License, Misuse, Pool
from lls.errors import SealedFileError
from lls.sealed.envelope import decode_payload, open_sealed
from lls.sealed.files import read_sealed_text
from lls.sealed.keys import KeyPair, PublicKeys
from lls.sealed.payloads import TYP_POOL, LicenseGrant, PoolPayload


class SealedPoolReader:
    """The domain's `PoolReader` port, with this instance's keys and the pinned vendor's."""

    def __init__(self, recipient: KeyPair, trusted: Sequence[PublicKeys]) -> None:
        self._recipient = recipient
        self._trusted = tuple(trusted)

    def read(self, raw: str) -> Pool:
        token = read_sealed_text(raw)
        payload = open_sealed(token, typ=TYP_POOL, recipient=self._recipient, trusted=self._trusted)
        try:
            doc = decode_payload(payload, PoolPayload)
        except SealedFileError as error:
            raise _naming_the_license(error, payload) from None
        return to_pool(doc)


_LICENSE_AT = re.compile(r"\$\.licenses\[(\d+)\]")


class _TokenOnly(msgspec.Struct):
    token: object = None


class _TokensOnly(msgspec.Struct):
    licenses: list[_TokenOnly]


def _naming_the_license(error: SealedFileError, payload: bytes) -> SealedFileError:
    """A field error inside `licenses[i]` says which license it is, not only its index
    (e.g. a sessionWindowSeconds outside 10 – 2,592,000)."""
    found = _LICENSE_AT.search(error.message)
    if found is None:
        return error
    index = int(found.group(1))
    try:
        token = msgspec.json.decode(payload, type=_TokensOnly).licenses[index].token
    except (msgspec.MsgspecError, IndexError, RecursionError):
        return error
    if not isinstance(token, str):
        return error
    return SealedFileError(f"license {token} (licenses[{index}]): {error.message}", code=error.code)


def _time(value: str | None, where: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise SealedFileError(
            f"{where} is not an RFC 3339 time: {value!r}", code="BAD_PAYLOAD"
        ) from None


def to_license(grant: LicenseGrant, default_org: str) -> License:
    for f in grant.features:
        if f.type != "boolean" and f.count is None:
            raise SealedFileError(
                f"feature {f.code} of license {grant.token} has no count", code="BAD_PAYLOAD"
            )
    if grant.type == "temporary" and grant.temporaryDays is None:
        raise SealedFileError(
            f"temporary license {grant.token} has no temporaryDays", code="BAD_PAYLOAD"
        )
    return License(
        token=grant.token,
        product_codes=tuple(grant.productCodes),
        type=grant.type,
        seats=grant.seats,
        status=grant.status,
        valid_from=_time(grant.validFrom, f"validFrom of {grant.token}"),
        valid_until=_time(grant.validUntil, f"validUntil of {grant.token}"),
        is_trial=grant.isTrial,
        temporary_days=grant.temporaryDays,
        session_window_s=grant.sessionWindowSeconds,
        offline_lease_s=grant.offlineLeaseSeconds,
        contact=grant.contact,
        company_name=grant.companyName,
        org_id=grant.orgId or default_org,
        misuse=Misuse(grant.misuse.maxAuthContexts, grant.misuse.windowSeconds)
        if grant.misuse
        else None,
        features=tuple(grant.features),  # the decoded grants are the domain's (protocol.shapes)
        id=grant.id,
        borrow_max_s=grant.borrowMaxSeconds,
    )


def to_pool(doc: PoolPayload) -> Pool:
    return Pool(
        iss=doc.iss,
        aud=doc.aud,
        iat=doc.iat,
        exp=doc.exp,
        seq=doc.seq,
        ack_usage_seq=doc.ackUsageSeq,
        org_id=doc.org.id,
        org_name=doc.org.name,
        licenses=tuple(to_license(g, doc.org.id) for g in doc.licenses),
    )
