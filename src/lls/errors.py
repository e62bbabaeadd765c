"""The one exception tree of LLS; each class carries its HTTP status and a stable code.

    LLSError                      500 INTERNAL_ERROR
    ├── BadRequest                400 VALIDATION_ERROR   (+ field)
    ├── Unauthorized              401 UNAUTHORIZED
    ├── Forbidden                 403 FORBIDDEN          (e.g. an admin Host not allowed)
    ├── NotFound                  404 NOT_FOUND
    ├── RequestTimeout            408 REQUEST_TIMEOUT    (a body that does not arrive in time)
    ├── PayloadTooLarge           413 PAYLOAD_TOO_LARGE
    ├── UnsupportedMediaType      415 UNSUPPORTED_MEDIA_TYPE
    ├── Refused                   422 <reason>           (a file or request refused by a rule)
    │   ├── SealedFileError       422 <reason>           (envelope, signature, typ, size)
    │   └── PermissionDenied      422 PERMISSION_DENIED  (names the file, its owner and us)
    ├── TooManyRequests           429 TOO_MANY_REQUESTS  (+ retry_after_s)
    └── StorageError              503 STORAGE_ERROR      (+ retry_after_s)

The domain raises these; the HTTP layer renders them in one place (the client
API's `{"error", "code", "field"}` body, the admin API's problem+json), and the
CLI prints `str(error)` and exits 1. Business refusals of the licensing API are
not exceptions: they are `authStatus: Failed` results with a reason.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import ClassVar


class LLSError(Exception):
    """Base of every error LLS raises on purpose."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "INTERNAL_ERROR"
    retry_after_s: int | None = None  # sent as Retry-After when set

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code


class BadRequest(LLSError):
    """Malformed input: wrong JSON, wrong type, missing or oversized field."""

    status = 400
    default_code = "VALIDATION_ERROR"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class Unauthorized(LLSError):
    status = 401
    default_code = "UNAUTHORIZED"


class Forbidden(LLSError):
    status = 403
    default_code = "FORBIDDEN"


class NotFound(LLSError):
    status = 404
    default_code = "NOT_FOUND"


class RequestTimeout(LLSError):
    status = 408
    default_code = "REQUEST_TIMEOUT"


class PayloadTooLarge(LLSError):
    status = 413
    default_code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(LLSError):
    status = 415
    default_code = "UNSUPPORTED_MEDIA_TYPE"


class Refused(LLSError):
    """A well-formed request or file that a rule refuses; `code` names the rule."""

    status = 422
    default_code = "REFUSED"


class SealedFileError(Refused):
    """A sealed file that cannot be opened: size, envelope, algorithm, signature or typ."""

    default_code = "BAD_ENVELOPE"


def whoami() -> str:
    """The name of the user this process runs as (for messages about permissions)."""
    return _user_name(os.geteuid())


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class PermissionDenied(Refused):
    """A file this user may not read or write: says which file, whose it is, and who we are."""

    default_code = "PERMISSION_DENIED"

    @classmethod
    def on(cls, path: Path, action: str = "read") -> PermissionDenied:
        """The refusal for `action` ("read", "write") on `path`, with what to do about it."""
        me = whoami()
        try:
            info = path.stat()
            owner = _user_name(info.st_uid)
            whose = f" (owner {owner}, mode {stat.S_IMODE(info.st_mode):04o})"
        except OSError:
            owner, whose = "", ""
        if action == "read" and owner and owner != me:
            advice = (
                f"; hand it to {me} first, e.g. `sudo install -o {me} -m 0600 {path}"
                f" ./{path.name}`, or run this as {owner}"
            )
        elif owner and owner != me:
            advice = f"; run this as {owner} (e.g. `sudo -u {owner} lls …`)"
        else:
            advice = ""
        return cls(f"permission denied: user {me} cannot {action} {path}{whose}{advice}")


class TooManyRequests(LLSError):
    status = 429
    default_code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StorageError(LLSError):
    """The database refused a write (or refuses writes for now); nothing was changed."""

    status = 503
    default_code = "STORAGE_ERROR"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
