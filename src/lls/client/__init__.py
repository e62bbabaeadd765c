"""The Python client SDK of LLS: what an application embeds to hold a license.

Async applications::

    from lls.client import LicenseClient, LicenseRefused

    async with LicenseClient("http://lls.example.lan:8080") as client:
        async with client.session("ACME-7Q2M-…", ["ACME_PRO"], on_lost=stop_work) as s:
            async with s.feature("EXPORT_PDF"):
                export()
            s.raise_if_lost()          # or: await s.wait_lost()

Entering the session activates (LicenseRefused carries `reason` when no seat
is free); a background task extends it at about half the session window and
reports loss through `on_lost`, `s.lost` and `s.wait_lost()`; leaving
deactivates, also when the body raised.

Applications without an event loop use the blocking twin, which runs the same
code on a thread of its own so keep-alive goes on while the application works::

    from lls.client import SyncLicenseClient

    with SyncLicenseClient(url) as client, client.session(token, ["ACME_PRO"]) as s:
        ...

`authContext` defaults to `default_auth_context()` (this machine, or
`$LLS_AUTH_CONTEXT`). activate and extend also tell the server who holds the
seat (`clientInfo`: host, user, `application=`/`version=` or the program's
name; `client_info=` replaces it, `send_client_info=False` sends none). Devices
that never reach the server use `OfflineDevice` (sync-format.md §4); one that
leaves the LAN borrows its seat first (`await s.borrow(device, days=3)`, then
`device.check()` offline; `client.return_borrow(device)` gives it back). Errors:
see `lls.client.errors` for the tree.
"""

from __future__ import annotations

from lls.client.api import DEFAULT_TIMEOUT_S, LicenseClient
from lls.client.errors import (
    CertificateError,
    LicenseClientError,
    LicenseRefused,
    OfflineError,
    RequestRejected,
    ServerError,
    ServerUnreachable,
    SessionLost,
)
from lls.client.identity import (
    AUTH_CONTEXT_ENV,
    ClientInfo,
    auth_context_from,
    default_auth_context,
    default_client_info,
)
from lls.client.models import (
    AuthStatus,
    BorrowResult,
    Contact,
    FeatureInfo,
    FeatureResult,
    InstanceInfo,
    Reason,
    ValidationResult,
)
from lls.client.offline import Lease, OfflineDevice
from lls.client.session import FeatureCheckout, LicenseSession, OnLost, keepalive_delay
from lls.client.sync import SyncFeatureCheckout, SyncLicenseClient, SyncLicenseSession

__all__ = [
    "AUTH_CONTEXT_ENV",
    "DEFAULT_TIMEOUT_S",
    "AuthStatus",
    "BorrowResult",
    "CertificateError",
    "ClientInfo",
    "Contact",
    "FeatureCheckout",
    "FeatureInfo",
    "FeatureResult",
    "InstanceInfo",
    "Lease",
    "LicenseClient",
    "LicenseClientError",
    "LicenseRefused",
    "LicenseSession",
    "OfflineDevice",
    "OfflineError",
    "OnLost",
    "Reason",
    "RequestRejected",
    "ServerError",
    "ServerUnreachable",
    "SessionLost",
    "SyncFeatureCheckout",
    "SyncLicenseClient",
    "SyncLicenseSession",
    "ValidationResult",
    "auth_context_from",
    "default_auth_context",
    "default_client_info",
    "keepalive_delay",
]
