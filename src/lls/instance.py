"""The data directory of one LLS instance: its id, keys, pinned vendor keys and admin token."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lls.errors import LLSError, PermissionDenied, Refused
from lls.protocol.machine import (
    MachineRecord,
    Sources,
    fingerprint,
    legacy_matches,
    machine_record,
    read_material,
    same_machine,
)
from lls.sealed import KeyPair, PublicKeys, load_private_jwks, write_atomic, write_private_jwks

INSTANCE_FILE = "instance.json"
KEY_FILE = "instance.key"
VENDOR_FILE = "vendor.jwks"
TOKEN_FILE = "admin.token"  # noqa: S105 - a file name, not a secret
SERVER_FILE = "server.json"
DB_FILE = "lls.db"
VIEWER_TOKEN_FILE = "viewer.token"  # noqa: S105 - a file name, not a secret
MIN_TOKEN_CHARS = 16

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Instance:
    """Everything that identifies this instance and whom it trusts."""

    data_dir: Path
    instance_id: str
    keys: KeyPair
    vendor_id: str
    vendor_keys: PublicKeys
    admin_token: str
    fingerprint: str = ""
    rebound_at: float = 0.0  # pools issued before a re-registration are not trusted
    machine: MachineRecord | None = None  # hashed components (None: written by an older lls)

    def check_machine(self, stable_id: str = "", *, sources: Sources | None = None) -> None:
        """Refuse a data directory made on another machine (copied, or restored elsewhere).

        Tolerant (lls.protocol.machine): a new network interface or one replaced card is still this
        machine. A record written by an older `lls init` is migrated on its first start here.
        """
        material = read_material(sources)
        here = machine_record(material, self.instance_id, stable_id)
        if self.machine is not None:
            if same_machine(self.machine, here):
                return
        elif not self.fingerprint:
            return  # nothing recorded to compare with
        elif legacy_matches(self.fingerprint, stable_id, material):
            _update_info(self.data_dir, machine=here.to_json())
            return
        current = fingerprint(stable_id or None, material)
        raise Refused(
            f"this data directory belongs to another machine (fingerprint"
            f" {self.fingerprint[:12]}…, this machine {current[:12]}…): it was copied or moved."
            f" To move the instance for real, run `lls registration --rebind --data-dir"
            f" {self.data_dir} --out registration.lls` here, give the file to the vendor,"
            " and import the pool file it issues",
            code="MACHINE_MISMATCH",
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE


def _write_info(data_dir: Path, info: dict[str, Any]) -> None:
    write_atomic(data_dir / INSTANCE_FILE, json.dumps(info, indent=2).encode(), mode=0o600)


def _update_info(data_dir: Path, **changes: Any) -> None:
    """Rewrite instance.json with `changes` (atomically: the old file or the new, never half)."""
    info = json.loads((data_dir / INSTANCE_FILE).read_text(encoding="utf-8"))
    info.update(changes)
    _write_info(data_dir, info)


def _write_secret(path: Path, text: str) -> None:
    """Create a file readable by its owner only, from the first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def read_vendor_keys(path: Path) -> tuple[str, PublicKeys, dict[str, Any]]:
    """Read a vendor's public key file: `{"vendorId", "keys": [Ed25519, X25519]}`."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Refused(
            f"cannot read vendor key file {path}: {exc.strerror}", code="BAD_KEYS"
        ) from None
    except json.JSONDecodeError:
        raise Refused(f"vendor key file {path} is not JSON", code="BAD_KEYS") from None
    vendor_id = doc.get("vendorId") if isinstance(doc, dict) else None
    if not isinstance(vendor_id, str) or not vendor_id:
        raise Refused(f"vendor key file {path} has no vendorId", code="BAD_KEYS")
    return vendor_id, PublicKeys.from_jwks(doc), doc


def init_instance(
    data_dir: Path, vendor_keys_file: Path, *, stable_id: str = "", sources: Sources | None = None
) -> Instance:
    """Create a new instance in `data_dir`: id, key pair, admin token, pinned vendor keys."""
    if (data_dir / INSTANCE_FILE).exists():
        raise Refused(
            f"{data_dir} already holds an instance; refusing to overwrite it",
            code="ALREADY_INITIALISED",
        )
    vendor_id, vendor_keys, _ = read_vendor_keys(vendor_keys_file)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    instance_id = f"lls-{uuid.uuid4()}"
    keys = KeyPair.generate()
    write_private_jwks(data_dir / KEY_FILE, keys)
    token = secrets.token_urlsafe(32)
    _write_secret(data_dir / TOKEN_FILE, token + "\n")
    viewer_token(data_dir)
    pinned = {"vendorId": vendor_id, "keys": vendor_keys.to_jwks()["keys"]}
    write_atomic(data_dir / VENDOR_FILE, json.dumps(pinned, indent=2).encode(), mode=0o600)
    return _write_identity(data_dir, instance_id, keys, stable_id, sources)


def _write_identity(
    data_dir: Path, instance_id: str, keys: KeyPair, stable_id: str, sources: Sources | None
) -> Instance:
    """instance.json: the instance's id and public keys, and this machine's identity."""
    material = read_material(sources)
    info = {
        "instanceId": instance_id,
        "keys": keys.public().to_jwks(),
        "fingerprint": fingerprint(stable_id or None, material),
        "machine": machine_record(material, instance_id, stable_id).to_json(),
    }
    _write_info(data_dir, info)
    return load_instance(data_dir)


def install_instance(
    data_dir: Path,
    *,
    instance_id: str,
    key_file: str,
    vendor_file: str,
    admin_token: str,
    stable_id: str = "",
    sources: Sources | None = None,
) -> Instance:
    """Write an existing instance into a new data directory on this machine (`lls node
    join`): its key, pinned vendor keys and admin token, and this machine's record."""
    if (data_dir / INSTANCE_FILE).exists():
        raise Refused(
            f"{data_dir} already holds an instance; refusing to overwrite it",
            code="ALREADY_INITIALISED",
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(data_dir / KEY_FILE, key_file.encode(), mode=0o600)
    keys = load_private_jwks(data_dir / KEY_FILE)
    write_atomic(data_dir / VENDOR_FILE, vendor_file.encode(), mode=0o600)
    read_vendor_keys(data_dir / VENDOR_FILE)
    _write_secret(data_dir / TOKEN_FILE, admin_token + "\n")
    viewer_token(data_dir)
    return _write_identity(data_dir, instance_id, keys, stable_id, sources)


def this_machine(instance_id: str, stable_id: str = "") -> tuple[str, MachineRecord]:
    """This machine's fingerprint and its record salted for `instance_id`."""
    material = read_material()
    return fingerprint(stable_id or None, material), machine_record(
        material, instance_id, stable_id
    )


# Where instances usually live: suggested when --data-dir names none (if one is there).
LIKELY_DATA_DIRS = (Path("/var/lib/lls"), Path("lls-data"))


def _holds_instance(data_dir: Path) -> bool:
    """True when `data_dir` has an instance; a directory we may not read is named as such."""
    try:
        (data_dir / INSTANCE_FILE).stat()
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return False
    except PermissionError:
        raise PermissionDenied.on(data_dir, "read") from None
    return True


def require_instance(data_dir: Path) -> None:
    """Refuse a data directory that holds no instance, suggesting one that does.

    A mistyped --data-dir must not read as "create one": `lls init` there would
    start a second instance beside the real one.
    """
    if _holds_instance(data_dir):
        return
    here = data_dir.resolve()
    found = []
    for candidate in LIKELY_DATA_DIRS:
        try:
            if candidate.resolve() != here and (candidate / INSTANCE_FILE).is_file():
                found.append(candidate)
        except OSError:
            continue
    state = "the directory does not exist" if not data_dir.exists() else "no instance.json"
    hint = (
        f"did you mean --data-dir {found[0]}? " if found else "check --data-dir or LLS_DATA_DIR; "
    )
    raise LLSError(
        f"no instance at {data_dir} ({state}); {hint}"
        f"`lls init --data-dir {data_dir} --vendor-keys VENDOR.jwks` creates a new instance",
        code="NOT_INITIALISED",
    )


def viewer_token(data_dir: Path) -> str | None:
    """The dashboard's read-only token (`viewer.token`, 0600), created when missing: by
    `lls init`, or at the first start of an instance made before the dashboard. None
    (viewer sign-in off, with a warning) when it cannot be made or read: a broken
    viewer token never keeps the license server from starting."""
    path = data_dir / VIEWER_TOKEN_FILE
    try:
        with contextlib.suppress(FileExistsError):
            _write_secret(path, secrets.token_urlsafe(32) + "\n")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, encoding="utf-8") as handle:
            token = handle.read(4096).strip()
    except OSError as exc:
        log.warning("viewer sign-in is off: cannot use %s: %s", path, exc.strerror or exc)
        return None
    if len(token) < MIN_TOKEN_CHARS:
        log.warning(
            "viewer sign-in is off: %s holds fewer than %d characters;"
            " delete it and restart for a new one",
            path,
            MIN_TOKEN_CHARS,
        )
        return None
    return token


def load_instance(data_dir: Path) -> Instance:
    """Load the instance in `data_dir`, with a plain-words error if it is missing or broken."""
    require_instance(data_dir)
    info_path = data_dir / INSTANCE_FILE
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except PermissionError:
        raise PermissionDenied.on(info_path) from None
    keys = load_private_jwks(data_dir / KEY_FILE)
    vendor_id, vendor_keys, _ = read_vendor_keys(data_dir / VENDOR_FILE)
    try:
        token = (data_dir / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except PermissionError:
        raise PermissionDenied.on(data_dir / TOKEN_FILE) from None
    except OSError as exc:
        raise LLSError(f"cannot read the admin token: {exc.strerror}") from None
    return Instance(
        fingerprint=str(info.get("fingerprint", "")),
        machine=MachineRecord.from_json(info.get("machine")),
        rebound_at=float(info.get("reboundAt", 0.0)),
        data_dir=data_dir,
        instance_id=str(info["instanceId"]),
        keys=keys,
        vendor_id=vendor_id,
        vendor_keys=vendor_keys,
        admin_token=token,
    )


def rebind_instance(data_dir: Path, *, stable_id: str = "", now: float) -> Instance:
    """Record this machine as the instance's home; until the vendor answers the new
    registration with a pool issued after `now`, the old pools are not trusted here."""
    instance_id = load_instance(data_dir).instance_id
    material = read_material()
    _update_info(
        data_dir,
        fingerprint=fingerprint(stable_id or None, material),
        machine=machine_record(material, instance_id, stable_id).to_json(),
        reboundAt=now,
    )
    return load_instance(data_dir)
