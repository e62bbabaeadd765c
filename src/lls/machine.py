"""This machine's fingerprint: SHA-256 over /etc/machine-id and the MAC addresses."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

MACHINE_ID_PATHS = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
NET_CLASS = Path("/sys/class/net")


def _machine_id() -> str:
    for path in MACHINE_ID_PATHS:
        try:
            text = path.read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text:
            return text
    return ""


def _macs() -> list[str]:
    """MAC addresses of the real interfaces (loopback and all-zero ones left out), sorted."""
    found: set[str] = set()
    try:
        interfaces = list(NET_CLASS.iterdir())
    except OSError:
        return []
    for iface in interfaces:
        try:
            mac = (iface / "address").read_text(encoding="ascii").strip().lower()
        except OSError:
            continue
        if mac and mac != "00:00:00:00:00:00":
            found.add(mac)
    return sorted(found)


def fingerprint(stable_id: str | None = None) -> str:
    """The fingerprint of this machine; `stable_id` replaces it where hardware is not stable."""
    material = f"stable:{stable_id}" if stable_id else "\n".join([_machine_id(), *_macs()])
    return hashlib.sha256(material.encode()).hexdigest()


def hostname() -> str:
    return socket.gethostname()
