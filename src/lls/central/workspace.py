"""The vendor's workspace folder: its keys, the instances it trusts, and the files it exchanges.

V/vendor.key    the vendor's private JWKS (0600)
V/vendor.jwks   its public keys plus "vendorId": what an LLS admin pins at `lls init`
V/state.json    registered instances and their sequence numbers (written atomically)
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from lls.central.grants import parse_grants
from lls.central.state import InstanceRecord, VendorState, load_state, save_state
from lls.central.usage import UsageFile, UsageFlagged, UsageSummary, acknowledged, judge, recorded
from lls.clock import rfc3339
from lls.errors import NotFound, Refused, SealedFileError
from lls.progress import ProgressHook, quiet
from lls.sealed import (
    KeyPair,
    PublicKeys,
    decode_payload,
    load_private_jwks,
    open_sealed_detail,
    open_self_signed,
    seal,
    write_atomic,
    write_private_jwks,
    write_sealed_file,
)
from lls.sealed.payloads import (
    TYP_POOL,
    TYP_REGISTRATION,
    TYP_USAGE,
    PoolPayload,
    RegistrationPayload,
    UsagePayload,
)

KEY_FILE = "vendor.key"
PUBLIC_FILE = "vendor.jwks"
STATE_FILE = "state.json"
DEFAULT_VENDOR_ID = "vendor:demo"
DAY_S = 86_400


class VendorWorkspace:
    """The central side's reference tooling: register instances, issue pools, read usage."""

    def __init__(self, directory: Path, keys: KeyPair, state: VendorState) -> None:
        self.directory = directory
        self.keys = keys
        self._state = state

    @property
    def vendor_id(self) -> str:
        return self._state.vendorId

    @property
    def instances(self) -> Mapping[str, InstanceRecord]:
        return dict(self._state.instances)

    @classmethod
    def init(cls, directory: Path, vendor_id: str = DEFAULT_VENDOR_ID) -> VendorWorkspace:
        """Create a workspace with a fresh key pair; refuse to touch an existing one."""
        if not vendor_id or vendor_id != vendor_id.strip() or len(vendor_id) > 128:
            raise Refused(
                f"vendor id {vendor_id!r} must be 1–128 characters without surrounding spaces",
                code="BAD_VENDOR_ID",
            )
        if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
            raise Refused(
                f"{directory} already exists and is not empty; refusing to "
                "overwrite a vendor workspace",
                code="WORKSPACE_EXISTS",
            )
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys = KeyPair.generate()
        write_private_jwks(directory / KEY_FILE, keys)
        public = {"vendorId": vendor_id, **keys.public().to_jwks()}
        write_atomic(directory / PUBLIC_FILE, (json.dumps(public, indent=2) + "\n").encode())
        state = VendorState(vendorId=vendor_id)
        save_state(directory / STATE_FILE, state)
        return cls(directory, keys, state)

    @classmethod
    def open(cls, directory: Path) -> VendorWorkspace:
        """Open a workspace made by `init`."""
        state = load_state(directory / STATE_FILE)
        return cls(directory, load_private_jwks(directory / KEY_FILE), state)

    def instance(self, instance_id: str) -> InstanceRecord:
        """The registered instance `instance_id`, or a refusal that lists the known ones."""
        record = self._state.instances.get(instance_id)
        if record is None:
            known = ", ".join(sorted(self._state.instances)) or "none"
            raise NotFound(
                f"instance {instance_id!r} is not registered (registered: {known})",
                code="UNKNOWN_INSTANCE",
            )
        return record

    def register(
        self, registration_token: str, *, force: bool = False, now: int | None = None
    ) -> InstanceRecord:
        """Trust the instance that a registration file introduces.

        The vendor has no prior trust in a new instance, so the signature is checked
        against the keys the registration itself carries: that proves the sender holds
        those private keys, nothing more. Trust in *who* it is comes from the admin who
        carried the file from the customer's site; from then on every usage file must
        be signed by exactly these keys. Registering the same id with the same keys
        again changes nothing; with other keys it is refused unless `force` (a
        reinstalled instance), which keeps the pool seq rising and restarts usage.
        """
        opened = open_self_signed(
            registration_token,
            typ=TYP_REGISTRATION,
            recipient=self.keys,
            claimed_keys=_registration_keys,
        )
        reg = decode_payload(opened.payload, RegistrationPayload)
        if reg.aud != self.vendor_id:
            raise Refused(
                f"the registration is addressed to {reg.aud!r}, not to this vendor "
                f"({self.vendor_id})",
                code="WRONG_AUDIENCE",
            )
        if not reg.iss.strip():
            raise SealedFileError("the registration has no instance id (iss)", code="BAD_PAYLOAD")
        existing = self._state.instances.get(reg.iss)
        nodes = [{"hostname": n.hostname, "fingerprint": n.fingerprint} for n in reg.nodes]
        if existing is not None and existing.public_keys().kids == opened.signer.kids:
            if existing.nodes != nodes:  # a node joined the pair (or left it)
                existing = msgspec.structs.replace(existing, nodes=nodes)
                self._put(existing)
            return existing
        if existing is not None and not force:
            raise Refused(
                f"instance {reg.iss} is already registered with other keys; "
                "re-register with --force if it was reinstalled",
                code="INSTANCE_KEYS_CHANGED",
            )
        record = InstanceRecord(
            id=reg.iss,
            keys=opened.signer.to_jwks(),
            hostname=reg.hostname,
            fingerprint=reg.fingerprint,
            version=reg.version,
            nodes=nodes,
            registeredAt=int(time.time()) if now is None else now,
            lastSeq=existing.lastSeq if existing is not None else 0,
            orgId=existing.orgId if existing is not None else None,
        )
        self._put(record)
        return record

    def issue(
        self,
        instance_id: str,
        grants: Mapping[str, Any],
        now: int,
        *,
        progress: ProgressHook = quiet,
    ) -> tuple[str, PoolPayload]:
        """Seal the next pool for an instance; nothing is recorded until `record_issued`.

        The seq is only consumed once the caller has written the file, so a failed
        write never leaves a gap the instance would never see filled.
        """
        record = self.instance(instance_id)
        count = len(grants.get("licenses") or ()) if isinstance(grants, Mapping) else 0
        progress(f"checking {count} licenses", 0, None)
        granted = parse_grants(grants)
        if record.orgId is not None and granted.org.id != record.orgId:
            raise Refused(
                f"instance {instance_id} belongs to org {record.orgId}, not "
                f"{granted.org.id}: an instance has one owner for life",
                code="ORG_CHANGED",
            )
        pool = PoolPayload(
            iss=self.vendor_id,
            aud=instance_id,
            iat=now,
            exp=now + granted.validDays * DAY_S,
            seq=record.lastSeq + 1,
            org=granted.org,
            licenses=granted.licenses,
            ackUsageSeq=record.ackUsageSeq,
        )
        progress("signing and encrypting the pool", 0, None)
        token = seal(
            msgspec.json.encode(pool),
            typ=TYP_POOL,
            signer=self.keys,
            recipient=record.public_keys(),
        )
        return token, pool

    def record_issued(self, pool: PoolPayload) -> None:
        """Remember that `pool` was written: the next one gets a higher seq.

        Its `ackUsageSeq` lets the instance prune events up to that usage file, so the
        chain points and usage files below it are no longer needed (see `acknowledged`).
        """
        record = acknowledged(self.instance(pool.aud), pool)
        self._put(
            msgspec.structs.replace(
                record, lastSeq=max(record.lastSeq, pool.seq), orgId=pool.org.id
            )
        )

    def issue_to_file(
        self,
        instance_id: str,
        grants: Mapping[str, Any],
        now: int,
        out: Path,
        *,
        progress: ProgressHook = quiet,
    ) -> PoolPayload:
        """Issue the next pool, write it to `out`, then record it."""
        token, pool = self.issue(instance_id, grants, now, progress=progress)
        progress(f"writing {out.name}", 0, None)
        write_sealed_file(
            out,
            token,
            {
                "kind": TYP_POOL,
                "vendor": self.vendor_id,
                "instance": instance_id,
                "seq": str(pool.seq),
                "issued at": rfc3339(pool.iat),
                "expires at": rfc3339(pool.exp),
                "licenses": str(len(pool.licenses)),
            },
        )
        self.record_issued(pool)
        return pool

    def read_usage(self, token: str) -> UsageSummary:
        """Verify a usage file against the registered instances' keys, check it, record it.

        Returns the summary of an accepted file (verdict `ok`, recorded: the next pool
        acknowledges it) or of the very file read before (`duplicate`, nothing changes).
        A file that cannot be opened or trusted raises a refusal; a verified file that
        breaks its hash chain, forks or regresses raises `UsageFlagged`, whose summary
        says why in plain words, and records nothing (usage.py).
        """
        by_kids = {rec.public_keys().kids: rec for rec in self._state.instances.values()}
        if not by_kids:
            raise SealedFileError(
                "no instance is registered, so no usage file can be trusted", code="BAD_SIGNATURE"
            )
        opened = open_sealed_detail(
            token,
            typ=TYP_USAGE,
            recipient=self.keys,
            trusted=[rec.public_keys() for rec in by_kids.values()],
        )
        signer = by_kids[opened.signer.kids]
        usage = decode_payload(opened.payload, UsagePayload)
        if usage.iss != signer.id:
            raise Refused(
                f"the usage file claims to come from {usage.iss!r} but is signed by "
                f"instance {signer.id}",
                code="ISSUER_MISMATCH",
            )
        if usage.aud != self.vendor_id:
            raise Refused(
                f"the usage file is addressed to {usage.aud!r}, not to this vendor "
                f"({self.vendor_id})",
                code="WRONG_AUDIENCE",
            )
        file = UsageFile.of(opened.payload, usage)
        summary = judge(signer, file)
        if summary.problems:
            raise UsageFlagged(summary)
        if summary.recorded:
            self._put(recorded(signer, file))
        return summary

    def _put(self, record: InstanceRecord) -> None:
        instances = {**self._state.instances, record.id: record}
        state = msgspec.structs.replace(self._state, instances=instances)
        save_state(self.directory / STATE_FILE, state)
        self._state = state


def _registration_keys(payload: bytes) -> PublicKeys:
    """The keys a (not yet verified) registration presents, to check it was signed with them."""
    reg = decode_payload(payload, RegistrationPayload)
    return PublicKeys.from_jwks(msgspec.to_builtins(reg.keys))
