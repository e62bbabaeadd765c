"""This machine's identity: what identifies its hardware and OS install, matched tolerantly.

A data directory belongs to the machine `lls init` ran on. The machine is
known by its components: /etc/machine-id (or /var/lib/dbus/machine-id), the
DMI product UUID where readable (root only), and the permanent MAC addresses
of its physical network cards — interfaces backed by a device (a `device` link
in /sys/class/net), never bridges, veth pairs, tun/tap, docker, WireGuard,
bonds, ifb or dummy interfaces, which come and go with containers and VPNs.

The components are stored hashed (salted with the instance id), never raw. A
start is on the same machine when the machine id matches, or when a strict
majority of the recorded physical NICs (and the product UUID, when recorded)
are still present — the way FlexNet's composite host id and Keygen's
fingerprint matching strategies tolerate one part changing. A copy on another
machine (other machine id, none of its NICs) does not match. Where hardware is
not stable (containers), `machine.id` / LLS_MACHINE_ID gives a stable id that
replaces all of this.

Older versions stored one hash over the machine id and *every* MAC, virtual
ones too; `legacy_fingerprints` recognises such a record (also when interfaces
were added since) so it can be migrated on the first start.
"""

from __future__ import annotations

import hashlib
import itertools
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NULL_MAC = "00:00:00:00:00:00"
# Interfaces that are never hardware, whatever sysfs says about them.
VIRTUAL_PREFIXES = (
    "lo",
    "veth",
    "docker",
    "br-",
    "virbr",
    "vnet",
    "tun",
    "tap",
    "wg",
    "bond",
    "team",
    "ifb",
    "dummy",
    "vxlan",
    "geneve",
    "macvtap",
    "cni",
    "flannel",
    "cali",
    "tailscale",
    "zt",
)
# Masters of virtual kinds (a bridge, a bond, a tun/tap device) show one of these.
VIRTUAL_MARKERS = ("bridge", "bonding", "tun_flags")
PERMANENT = "0"  # addr_assign_type: NET_ADDR_PERM (1 random, 2 stolen, 3 set by someone)
BOGUS_UUIDS = frozenset(
    {
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "03000200-0400-0500-0006-000700080009",  # a placeholder many boards ship with
    }
)
MAX_LEGACY_INTERFACES = 16  # subsets tried when migrating an old record: 2**16 hashes at most


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the components are read from (tests point these at a fake tree)."""

    machine_id_paths: tuple[Path, ...] = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
    net_class: Path = Path("/sys/class/net")
    product_uuid: Path = Path("/sys/class/dmi/id/product_uuid")


@dataclass(frozen=True, slots=True)
class Material:
    """What this machine shows right now. Raw values: never written anywhere."""

    machine_id: str = ""
    product_uuid: str = ""
    nics: tuple[str, ...] = ()  # permanent MACs of physical NICs, sorted
    all_macs: tuple[str, ...] = ()  # every non-zero MAC, sorted (what older versions hashed)


@dataclass(frozen=True, slots=True)
class MachineRecord:
    """The hashed components kept in instance.json."""

    machine_id: str | None = None
    product_uuid: str | None = None
    nics: tuple[str, ...] = ()
    stable: str | None = None  # machine.id / LLS_MACHINE_ID in place of the hardware
    version: int = field(default=2)

    def to_json(self) -> dict[str, Any]:
        if self.stable is not None:
            return {"version": self.version, "stable": self.stable}
        return {
            "version": self.version,
            "machineId": self.machine_id,
            "productUuid": self.product_uuid,
            "nics": list(self.nics),
        }

    @classmethod
    def from_json(cls, doc: object) -> MachineRecord | None:
        """The record in instance.json, or None when there is none (or it is unreadable)."""
        if not isinstance(doc, Mapping):
            return None
        stable = doc.get("stable")
        if isinstance(stable, str) and stable:
            return cls(stable=stable)
        nics = doc.get("nics")
        mid, uuid = doc.get("machineId"), doc.get("productUuid")
        return cls(
            machine_id=mid if isinstance(mid, str) and mid else None,
            product_uuid=uuid if isinstance(uuid, str) and uuid else None,
            nics=tuple(n for n in nics if isinstance(n, str)) if isinstance(nics, list) else (),
        )


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _physical(iface: Path) -> bool:
    """A network card: backed by a device, of no virtual kind, with its permanent address."""
    if iface.name.startswith(VIRTUAL_PREFIXES) or not (iface / "device").exists():
        return False
    if any((iface / marker).exists() for marker in VIRTUAL_MARKERS):
        return False
    assign = _read(iface / "addr_assign_type")
    return assign in (PERMANENT, "")  # "": an old kernel that does not say


def read_material(sources: Sources | None = None) -> Material:
    """Read this machine's components (the product UUID only where it is readable: root)."""
    src = sources or Sources()
    machine_id = next((t for t in map(_read, src.machine_id_paths) if t), "")
    uuid = _read(src.product_uuid).lower()
    try:
        interfaces = sorted(src.net_class.iterdir())
    except OSError:
        interfaces = []
    nics: set[str] = set()
    every: set[str] = set()
    for iface in interfaces:
        mac = _read(iface / "address").lower()
        if not mac or mac == NULL_MAC:
            continue
        every.add(mac)
        if _physical(iface):
            nics.add(mac)
    return Material(
        machine_id=machine_id,
        product_uuid="" if uuid in BOGUS_UUIDS else uuid,
        nics=tuple(sorted(nics)),
        all_macs=tuple(sorted(every)),
    )


def _digest(salt: str, kind: str, value: str) -> str:
    return hashlib.sha256(f"lls-machine\n{salt}\n{kind}\n{value}".encode()).hexdigest()[:32]


def _stable_fingerprint(stable_id: str) -> str:
    return hashlib.sha256(f"stable:{stable_id}".encode()).hexdigest()


def machine_record(material: Material, salt: str, stable_id: str = "") -> MachineRecord:
    """The hashed components of `material` (or of the stable id), salted with `salt`."""
    if stable_id:
        return MachineRecord(stable=_digest(salt, "stable", stable_id))
    mid, uuid = material.machine_id, material.product_uuid
    return MachineRecord(
        machine_id=_digest(salt, "machine-id", mid) if mid else None,
        product_uuid=_digest(salt, "product-uuid", uuid) if uuid else None,
        nics=tuple(sorted(_digest(salt, "nic", mac) for mac in material.nics)),
    )


def same_machine(recorded: MachineRecord, here: MachineRecord) -> bool:
    """Tolerant match: the machine id, or a strict majority of the recorded hardware."""
    if recorded.stable is not None or here.stable is not None:
        return recorded.stable == here.stable
    if recorded.machine_id is not None and recorded.machine_id == here.machine_id:
        return True
    votes = [*recorded.nics, *([recorded.product_uuid] if recorded.product_uuid else [])]
    present = {*here.nics, *([here.product_uuid] if here.product_uuid else [])}
    return bool(votes) and 2 * sum(1 for v in votes if v in present) > len(votes)


def fingerprint(stable_id: str | None = None, material: Material | None = None) -> str:
    """The one hex fingerprint of the registration file (sync-format §6): SHA-256 of the
    machine id and the physical NICs' MACs; `stable_id` replaces it where hardware is not
    stable."""
    if stable_id:
        return _stable_fingerprint(stable_id)
    m = material if material is not None else read_material()
    return hashlib.sha256("\n".join([m.machine_id, *m.nics]).encode()).hexdigest()


def legacy_fingerprints(material: Material) -> Iterator[str]:
    """What an older `lls init` on this machine may have stored: the hash over the machine id
    and every MAC — now, or before interfaces were added (subsets of today's MACs)."""
    macs = material.all_macs
    sizes = range(len(macs), -1, -1) if len(macs) <= MAX_LEGACY_INTERFACES else [len(macs)]
    for size in sizes:
        for subset in itertools.combinations(macs, size):
            yield hashlib.sha256("\n".join([material.machine_id, *subset]).encode()).hexdigest()


def legacy_matches(stored: str, stable_id: str, material: Material) -> bool:
    """Whether `stored` (an older version's single fingerprint) names this machine."""
    if stable_id:
        return stored == _stable_fingerprint(stable_id)
    return any(candidate == stored for candidate in legacy_fingerprints(material))


def hostname() -> str:
    return socket.gethostname()
