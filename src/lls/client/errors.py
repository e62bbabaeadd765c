"""The exception tree of the client SDK: one base, one class per way a call can go wrong.

    LicenseClientError       base of everything the SDK raises on purpose
    ├── LicenseRefused       HTTP 200, authStatus Failed/Locked (+ reason, message, response)
    ├── SessionLost          a kept-alive session ended under us (+ reason, message)
    ├── RequestRejected      HTTP 400/413/415/429: the server refused the request itself
    │                        (+ status, code, field, error; retry_after on 429)
    ├── ServerError          any other status, or a body that is not the contract's
    ├── ServerUnreachable    no answer: connection refused or reset, DNS, timeout
    │   └── CertificateError the server's TLS certificate is not trusted (or not its name)
    └── OfflineError         offline activation (+ code): not pinned, bad token, no lease

Why this split: an application reacts differently to each branch. A refusal is
a business answer to show the user (`reason` is machine-readable, `message` is
for humans). A rejected request is a bug in the caller or a rate limit to wait
out. An unreachable server is transient, and a kept-alive session survives it
for up to one session window. A certificate this client does not trust is a
setup problem (trust the server's CA, `LicenseClient(url, ssl=context)`), named
as such; it is a ServerUnreachable too, so code that retries those still works.
`validate()` never raises `LicenseRefused`: asking "is this license valid?" and
hearing "no" is an answer, not an error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lls.client.models import FeatureResult, ValidationResult

__all__ = [
    "CertificateError",
    "LicenseClientError",
    "LicenseRefused",
    "OfflineError",
    "RequestRejected",
    "ServerError",
    "ServerUnreachable",
    "SessionLost",
]


class LicenseClientError(Exception):
    """Base of every error the client SDK raises on purpose."""


class LicenseRefused(LicenseClientError):
    """The server answered, and the answer is no (api.md §2: `authStatus` Failed or Locked).

    `reason` is one of the api.md reason codes (`SESSION_LIMIT_REACHED`, …) and is
    what code should compare; `message` is the server's text for people;
    `response` is the whole decoded answer (license details may still be there).
    """

    def __init__(
        self,
        reason: str,
        message: str,
        response: ValidationResult | FeatureResult | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message
        self.response = response


class SessionLost(LicenseClientError):
    """A session the SDK kept alive is gone: ended by an admin, expired, or unreachable too long.

    `reason` is the server's refusal reason of the failed extend (usually
    `NO_ACTIVE_SESSION`), or `SERVER_UNREACHABLE` when no extend got through
    within one session window.
    """

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"license session lost: {reason}" + (f" ({message})" if message else ""))
        self.reason = reason
        self.message = message


class RequestRejected(LicenseClientError):
    """The server refused the request before judging the license (HTTP 400/413/415/429).

    Carries the server's error body `{"error", "code", "field"}` (api.md §2);
    `retry_after` is the server's `Retry-After` in seconds on a 429, else None.
    """

    def __init__(
        self,
        status: int,
        code: str,
        error: str,
        *,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        where = f" (field {field})" if field else ""
        super().__init__(f"HTTP {status} {code}: {error}{where}")
        self.status = status
        self.code = code
        self.error = error
        self.field = field
        self.retry_after = retry_after


class ServerError(LicenseClientError):
    """An answer outside the contract: 5xx, an unknown route, or a body that does not decode."""

    def __init__(self, status: int, message: str, *, code: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ServerUnreachable(LicenseClientError):
    """No answer at all: connection refused or reset, name not resolved, or the timeout passed."""


class CertificateError(ServerUnreachable):
    """TLS failed: the server's certificate is not trusted, expired, or for another name.

    Not a network outage: trust the server's certificate or its CA
    (`LicenseClient(url, ssl=ssl.create_default_context(cafile=...))`), or use the
    name the certificate was issued for.
    """


class OfflineError(LicenseClientError):
    """Offline activation failed on the device side; `code` says which check refused.

    Codes: `NOT_PINNED` (no LLS keys pinned yet), `ALREADY_PINNED` (another LLS
    is pinned), `NO_LEASE`, `UNKNOWN_NONCE` (a response to no outstanding
    request), `MISMATCH` (a response for another token, device or activation),
    `STALE` (an older refresh than the one applied), `REFUSED` (the LLS said no),
    `BAD_STATE` (the state file is unreadable), and the envelope's own codes
    (`WRONG_TYP`, `BAD_SIGNATURE`, `NOT_FOR_THIS_RECIPIENT`, `BAD_PAYLOAD`, …).
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
