"""The device side of offline activation (sync-format.md §4): for machines off the LLS network.

The flow, with an admin carrying each token across:

    device = OfflineDevice(Path("~/.acme/lls-device.jwks").expanduser())
    device.pin_server(instance_doc)        # GET /licensing/instance, or a file from the admin
    request = device.offline_request(token, ["ACME_PRO"])      # → admin → LLS
    device.apply_response(response_token)                      # ← LLS ← admin
    device.has_valid_lease()                                   # the app's check, offline
    device.apply_refresh(refresh_token)                        # a later, longer lease
    token = device.deactivation_token()    # lease dropped now; the token frees the seat on the LLS

The device owns an Ed25519 + X25519 key pair in a 0600 key file (created on
first use) and keeps its state — the pinned LLS keys, the outstanding request
nonces, the applied lease — in `<key file stem>.state.json` beside it.

Trust: a response or refresh is accepted only when signed by the pinned LLS
keys, never by a key inside the token, and a response only when it echoes the
nonce of a request this device made. Lease expiry is judged by this machine's
clock, as the server judges it by its own.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from lls.client.errors import OfflineError
from lls.client.identity import default_auth_context
from lls.client.models import AuthStatus, InstanceInfo
from lls.client.offline_docs import STATE_VERSION, DeviceState, Lease, PendingRequest
from lls.errors import LLSError
from lls.protocol.json_depth import depth_message, too_deep
from lls.protocol.offline import (
    TYP_OFFLINE_DEACTIVATION,
    TYP_OFFLINE_REFRESH,
    TYP_OFFLINE_REQUEST,
    TYP_OFFLINE_RESPONSE,
    OfflineDeactivationPayload,
    OfflineRefreshPayload,
    OfflineRequestPayload,
    OfflineResponsePayload,
)
from lls.protocol.shapes import Jwks
from lls.sealed import (
    KeyPair,
    PublicKeys,
    decode_payload,
    kid_of,
    load_private_jwks,
    open_sealed,
    read_sealed_file,
    read_sealed_text,
    seal,
    write_atomic,
    write_private_jwks,
)

__all__ = ["Lease", "OfflineDevice"]

T = TypeVar("T")

STATE_FILE_MODE = 0o600  # it holds the license token
# Requests the device remembers: it may make a new one each time the admin
# asks, and any of them may come back answered; older ones are forgotten.
MAX_PENDING = 16


def _fail(message: str, code: str) -> OfflineError:
    return OfflineError(message, code=code)


class OfflineDevice:
    """This device's offline identity (keys), its pinned LLS, and its lease.

    `path` is the private key file; it is created 0600 when missing and never
    overwritten. Not safe for two processes writing at once: one device, one owner.
    """

    def __init__(self, path: Path | str) -> None:
        self.key_path = Path(path)
        self.state_path = self.key_path.with_name(self.key_path.stem + ".state.json")
        self.keys = self._load_or_create_keys()
        self._state = self._load_state()

    # --- identity and the pinned server ---------------------------------------

    @property
    def device_id(self) -> str:
        """The device's id (`iss` of what it sends): the kid of its signing key."""
        return kid_of(self.keys.signing)

    @property
    def public_keys(self) -> PublicKeys:
        return self.keys.public()

    @property
    def instance_id(self) -> str | None:
        """The id of the pinned LLS, or None before pin_server."""
        return self._state.server.instance_id if self._state.server else None

    def pin_server(
        self, instance_doc: Mapping[str, Any] | InstanceInfo, *, replace: bool = False
    ) -> None:
        """Trust this LLS (its `{"instanceId", "keys"}`) for every later response and refresh.

        Pinning the same server again is a no-op; pinning another one needs
        `replace=True` (and forgets outstanding requests, encrypted to the old one).
        """
        doc = instance_doc.to_dict() if isinstance(instance_doc, InstanceInfo) else instance_doc
        try:
            info = msgspec.convert(doc, InstanceInfo)
            PublicKeys.from_jwks(info.keys)
        except msgspec.ValidationError as exc:
            raise _fail(f"not an instance document: {exc}", "BAD_INSTANCE") from exc
        except LLSError as exc:
            raise _fail(f"the instance keys are unusable: {exc.message}", exc.code) from exc
        current = self._state.server
        if current is not None and self._same_server(current, info):
            return
        if current is not None and not replace:
            raise _fail(
                f"another LLS ({current.instance_id}) is pinned; pass replace=True to change it",
                "ALREADY_PINNED",
            )
        self._save(msgspec.structs.replace(self._state, server=info, pending=()))

    # --- the tokens ------------------------------------------------------------

    def offline_request(
        self,
        token: str,
        product_codes: str | Sequence[str],
        auth_context: str | None = None,
    ) -> str:
        """A sealed activation request for the pinned LLS; make as many as needed."""
        server = self._require_server()
        pending = _pending_request(token, product_codes, auth_context)
        payload = OfflineRequestPayload(
            iss=self.device_id,
            aud=server.instance_id,
            iat=pending.iat,
            license_token=token,
            product_codes=pending.product_codes,
            auth_context=pending.auth_context,
            device_keys=Jwks(keys=self.public_keys.to_jwks()["keys"]),
            nonce=pending.nonce,
        )
        sealed = self._seal(payload, TYP_OFFLINE_REQUEST, server)
        kept = (*self._state.pending, pending)[-MAX_PENDING:]
        self._save(msgspec.structs.replace(self._state, pending=kept))
        return sealed

    def apply_response(self, token: str | Path) -> Lease:
        """Apply the LLS's answer to one of this device's requests; the lease starts now.

        `token`: the response file's text (comment lines allowed), the token, or its path.
        """
        server = self._require_server()
        resp = self._open(token, TYP_OFFLINE_RESPONSE, server, OfflineResponsePayload)
        self._check_parties(resp.iss, resp.aud, server)
        if resp.auth_status is not AuthStatus.SUCCESS:
            raise _fail(f"the LLS refused: {resp.reason} {resp.message or ''}".strip(), "REFUSED")
        request = next((p for p in self._state.pending if p.nonce == resp.nonce), None)
        if request is None:
            raise _fail(
                "the response answers no outstanding request of this device", "UNKNOWN_NONCE"
            )
        if (resp.license_token, resp.auth_context) != (request.license_token, request.auth_context):
            raise _fail("the response is for another license or authContext", "MISMATCH")
        lease = Lease(
            activation_id=resp.activation_id,
            license_token=resp.license_token,
            auth_context=resp.auth_context,
            lease_expires_at=resp.lease_expires_at,
            product_code=resp.product_code,
            is_trial=resp.is_trial,
            company_name=resp.company_name,
            contact=resp.contact,
            license_expires_at=resp.license_expires_at,
            features=resp.features,
            issued_at=resp.iat,
            kind=resp.kind,
        )
        self._save(
            msgspec.structs.replace(self._state, pending=(), lease=lease, deactivation_token=None)
        )
        return lease

    def apply_refresh(self, token: str | Path) -> Lease:
        """Apply a refresh of this device's activation: a new lease end, counted from its issue."""
        server = self._require_server()
        lease = self._require_lease()
        ref = self._open(token, TYP_OFFLINE_REFRESH, server, OfflineRefreshPayload)
        self._check_parties(ref.iss, ref.aud, server)
        if ref.activation_id != lease.activation_id:
            raise _fail("the refresh is for another activation", "MISMATCH")
        if ref.auth_context not in (None, lease.auth_context) or ref.license_token not in (
            None,
            lease.license_token,
        ):
            raise _fail("the refresh is for another license or authContext", "MISMATCH")
        if ref.iat < lease.issued_at:
            raise _fail("the refresh is older than the one already applied", "STALE")
        new = msgspec.structs.replace(
            lease,
            lease_expires_at=ref.lease_expires_at,
            issued_at=ref.iat,
            features=lease.features if ref.features is None else ref.features,
        )
        self._save(msgspec.structs.replace(self._state, lease=new))
        return new

    def deactivation_token(self) -> str:
        """Give the seat back: drops the lease here at once, returns the token that frees it there.

        The token is also kept (`last_deactivation_token`) so it can be shown
        again if it got lost on the way to the admin; applying it twice is harmless.
        """
        server = self._require_server()
        lease = self._require_lease()
        payload = OfflineDeactivationPayload(
            iss=self.device_id,
            aud=server.instance_id,
            iat=int(time.time()),
            activation_id=lease.activation_id,
            auth_context=lease.auth_context,
        )
        sealed = self._seal(payload, TYP_OFFLINE_DEACTIVATION, server)
        self._save(msgspec.structs.replace(self._state, lease=None, deactivation_token=sealed))
        return sealed

    def prepare_borrow(
        self, token: str, product_codes: str | Sequence[str], auth_context: str | None = None
    ) -> dict[str, Any]:
        """The device's part of a `POST /licensing/borrow` body: its public keys and a fresh
        nonce, remembered so the answer can be applied (the LLS must be pinned first)."""
        self._require_server()
        pending = _pending_request(token, product_codes, auth_context)
        kept = (*self._state.pending, pending)[-MAX_PENDING:]
        self._save(msgspec.structs.replace(self._state, pending=kept))
        return {"devicePublicKey": self.public_keys.to_jwks(), "nonce": pending.nonce}

    def drop_lease(self) -> None:
        """Forget the lease here (after it was given back online, `LicenseClient.return_borrow`)."""
        self._save(msgspec.structs.replace(self._state, lease=None))

    # --- what the application checks ------------------------------------------

    def check(self, now: datetime | None = None) -> Lease:
        """The lease the application may use now, read from this machine alone (no network).

        Raises OfflineError `NO_LEASE` when none is applied and `LEASE_EXPIRED` when it
        has ended by `now` (default: this machine's clock).
        """
        lease = self._require_lease()
        if not lease.valid(now):
            raise _fail(
                f"the {lease.kind} lease ended at {lease.lease_expires_at.isoformat()}",
                "LEASE_EXPIRED",
            )
        return lease

    @property
    def lease(self) -> Lease | None:
        """The applied lease (possibly expired), or None."""
        return self._state.lease

    def has_valid_lease(self, now: datetime | None = None) -> bool:
        """True when a lease is applied and has not ended by `now` (default: this clock)."""
        lease = self._state.lease
        return lease is not None and lease.valid(now)

    @property
    def last_deactivation_token(self) -> str | None:
        """The last deactivation token made, until a new lease is applied."""
        return self._state.deactivation_token

    # --- plumbing --------------------------------------------------------------

    def _load_or_create_keys(self) -> KeyPair:
        try:
            if not self.key_path.exists():
                self.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                try:
                    write_private_jwks(self.key_path, KeyPair.generate())
                except LLSError as exc:
                    if exc.code != "KEY_FILE_EXISTS":  # else another process won the race
                        raise
            return load_private_jwks(self.key_path)
        except LLSError as exc:
            raise _fail(exc.message, exc.code) from exc

    def _load_state(self) -> DeviceState:
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return DeviceState()
        except OSError as exc:
            raise _fail(f"cannot read {self.state_path}: {exc.strerror}", "BAD_STATE") from exc
        if too_deep(raw):
            raise _fail(depth_message(f"{self.state_path}"), "BAD_STATE")
        try:
            state = msgspec.json.decode(raw, type=DeviceState)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise _fail(
                f"{self.state_path} is not a device state file: {exc}", "BAD_STATE"
            ) from exc
        if state.version != STATE_VERSION:
            raise _fail(f"{self.state_path} has unknown version {state.version}", "BAD_STATE")
        return state

    def _save(self, state: DeviceState) -> None:
        """Write the state atomically, then adopt it (a failed write changes nothing)."""
        write_atomic(self.state_path, msgspec.json.encode(state), mode=STATE_FILE_MODE)
        self._state = state

    def _require_server(self) -> InstanceInfo:
        if self._state.server is None:
            raise _fail("no LLS is pinned: call pin_server() first", "NOT_PINNED")
        return self._state.server

    def _require_lease(self) -> Lease:
        if self._state.lease is None:
            raise _fail("this device holds no offline lease", "NO_LEASE")
        return self._state.lease

    @staticmethod
    def _server_keys(server: InstanceInfo) -> PublicKeys:
        return PublicKeys.from_jwks(server.keys)

    @classmethod
    def _same_server(cls, a: InstanceInfo, b: InstanceInfo) -> bool:
        same_keys = cls._server_keys(a).kids == cls._server_keys(b).kids
        return a.instance_id == b.instance_id and same_keys

    def _seal(self, payload: msgspec.Struct, typ: str, server: InstanceInfo) -> str:
        return seal(
            msgspec.json.encode(payload),
            typ=typ,
            signer=self.keys,
            recipient=self._server_keys(server),
        )

    def _open(self, token: str | Path, typ: str, server: InstanceInfo, schema: type[T]) -> T:
        """Decrypt with the device key, verify against the pinned LLS only, check typ, parse.

        `token` is the file's text as `lls offline activate|refresh` writes it (`#`
        comment lines, then the token), the bare token, or the file's path: read by the
        same reader the server uses for every sealed file.
        """
        try:
            text = read_sealed_file(token) if isinstance(token, Path) else read_sealed_text(token)
            raw = open_sealed(
                text, typ=typ, recipient=self.keys, trusted=[self._server_keys(server)]
            )
            return decode_payload(raw, schema)
        except LLSError as exc:
            raise _fail(exc.message, exc.code) from exc

    def _check_parties(self, iss: str | None, aud: str | None, server: InstanceInfo) -> None:
        """When the token names its parties (sync-format §1), they must be the pinned LLS and us."""
        if iss is not None and iss != server.instance_id:
            raise _fail(f"the token was issued by {iss}, not the pinned LLS", "MISMATCH")
        if aud is not None and aud != self.device_id:
            raise _fail("the token is addressed to another device", "MISMATCH")


def _pending_request(
    token: str, product_codes: str | Sequence[str], auth_context: str | None
) -> PendingRequest:
    """What the device remembers of a request (an offline activation or a borrow) until
    its answer is applied: a fresh nonce, the license, products and machine."""
    codes = [product_codes] if isinstance(product_codes, str) else list(product_codes)
    return PendingRequest(
        nonce=secrets.token_urlsafe(24),
        license_token=token,
        product_codes=codes,
        auth_context=default_auth_context(auth_context),
        iat=int(time.time()),
    )
