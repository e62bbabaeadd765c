"""The default `authContext`: a stable, non-reversible identifier of this machine.

The server tells sessions apart by `authContext` (api.md §1): two processes on
one machine that send the same value share one seat, two machines must never
send the same value. So the default is derived from what identifies the
machine and survives reboots — `/etc/machine-id` and the permanent MAC addresses
of its physical network cards, read by the same code as the server's machine
fingerprint (lls.protocol.machine: no bridges, veth pairs, tunnels or randomised
addresses) — hashed, so the identifier reveals neither.

Order of precedence: an explicit value, then the `LLS_AUTH_CONTEXT` environment
variable (for containers and VMs cloned from one image, whose machine id is not
unique), then the machine derivation.

Separately, `ClientInfo` says who holds a seat in words an admin reads (host,
user, application, version): the SDK sends it with activate and extend (an LLS
extension the server shows in `lls sessions`); it identifies nothing.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from lls.protocol.machine import NULL_MAC, Sources, read_material
from lls.protocol.shapes import CLIENT_INFO_MAX, ClientInfo

__all__ = [
    "AUTH_CONTEXT_ENV",
    "CLIENT_INFO_MAX",
    "ClientInfo",
    "auth_context_from",
    "default_auth_context",
    "default_client_info",
]

AUTH_CONTEXT_ENV = "LLS_AUTH_CONTEXT"
AUTH_CONTEXT_PREFIX = "mid-"
# 128 bits of SHA-256: no collision between machines in practice, short in logs.
_DIGEST_HEX_CHARS = 32


def auth_context_from(machine_id: str, macs: Iterable[str], hostname: str = "") -> str:
    """The identifier derived from a machine's id and MAC addresses (a pure function).

    MACs are lower-cased, de-duplicated and sorted so interface order does not
    matter. The hostname only counts when there is neither a machine id nor a
    MAC (a bare container), so that such machines at least differ by name
    instead of all sharing one identifier. A domain prefix keeps the hash from
    equalling the server's registration fingerprint of the same machine.
    """
    clean_macs = sorted({m.strip().lower() for m in macs} - {"", NULL_MAC})
    parts = [machine_id.strip(), *clean_macs]
    if not any(parts):
        parts = [f"host:{hostname}"]
    material = "lls-auth-context\n" + "\n".join(parts)
    return AUTH_CONTEXT_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:_DIGEST_HEX_CHARS]


def default_auth_context(
    explicit: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    sources: Sources | None = None,
) -> str:
    """This machine's `authContext`: `explicit`, else `$LLS_AUTH_CONTEXT`, else derived.

    Same machine, same answer, every time; nothing is written anywhere. `sources`
    points the derivation at another /etc and /sys (tests).
    """
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    override = env.get(AUTH_CONTEXT_ENV, "").strip()
    if override:
        return override
    material = read_material(sources)
    return auth_context_from(material.machine_id, material.nics, socket.gethostname())


def default_client_info(application: str | None = None, version: str | None = None) -> ClientInfo:
    """This host's name, the user running the process, and the application's name and version.

    The application name defaults to the program's file name (`sys.argv[0]`); what
    cannot be found is left out rather than guessed.
    """
    return ClientInfo(
        hostname=socket.gethostname() or None,
        user=_user(),
        application=application or _program(),
        version=version,
    )


def _user() -> str | None:
    try:
        return getpass.getuser() or None
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return None


def _program() -> str | None:
    argv0 = sys.argv[0] if sys.argv else ""
    name = Path(argv0).name if argv0 and argv0 != "-c" else ""
    return name or None
