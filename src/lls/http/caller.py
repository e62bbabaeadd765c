"""Who is calling: the authContext a client that sends none stands for (`ip:<address>`).

The online API calls authContext "recommended" on activate/extend/deactivate,
so a client may never send one. Its session then belongs to its network
address as this server sees it: the TCP peer of the connection. Headers such
as X-Forwarded-For are never trusted for this (any client could set them);
behind a reverse proxy every client without an authContext shares the proxy's
address, i.e. one session — such clients must send an authContext (api.md §7).
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from lls.errors import BadRequest

DERIVED_PREFIX = "ip:"
_MAPPED_PREFIX = "::ffff:"


def caller_context(request: web.Request, given: str | None) -> str:
    """`given` when the client sent one; else `ip:<peer address>` of this connection."""
    if given is not None:
        return given
    address = request.remote
    if not address:  # e.g. a UNIX socket: no address to stand in for the device
        raise BadRequest(
            "auth context field is required on a connection without a network address.",
            field="authContext",
        )
    if address.startswith(_MAPPED_PREFIX):  # an IPv4 client on a dual-stack listener
        try:
            mapped = ipaddress.IPv6Address(address).ipv4_mapped
        except ValueError:
            mapped = None
        if mapped is not None:
            address = str(mapped)
    return DERIVED_PREFIX + address
