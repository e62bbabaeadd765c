"""How `LicenseClient` talks HTTP: one request to one of the server's base URLs.

Kept apart from the endpoints (`lls.client.api`) because it is the part that knows
aiohttp: the base URLs of a high-availability pair and the move to the next one
(docs/ha.md), TLS trust, timeouts, and the contract of an answer's status — every
transport failure becomes ServerUnreachable (CertificateError for TLS), a refused
request RequestRejected, any other unexpected status or body ServerError.
"""

from __future__ import annotations

import email.utils
import ssl as ssl_module
from typing import Any, TypeVar

import aiohttp
import msgspec
from multidict import CIMultiDictProxy

from lls.client.errors import CertificateError, RequestRejected, ServerError, ServerUnreachable
from lls.protocol.json_depth import depth_message, too_deep

__all__ = ["Answer", "Transport", "decode"]

JSON_TYPE = "application/json"
# The statuses api.md gives the `{"error", "code", "field"}` body: the request
# itself was refused, before any license was looked at.
_REJECTED = frozenset({400, 413, 415, 429})

T = TypeVar("T")


class _ErrorBody(msgspec.Struct):
    error: str = ""
    code: str = ""
    field: str | None = None


class Answer(msgspec.Struct):
    """What the transport got back, before the contract is applied."""

    status: int
    body: bytes
    date: float | None  # the server's `Date` header, epoch seconds


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (the form LLS sends); anything else is treated as absent."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _server_date(headers: CIMultiDictProxy[str]) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return None


class Transport:
    """Requests to the first of `urls` that answers; owns its aiohttp ClientSession unless
    one is passed in (then closing it is the caller's job)."""

    def __init__(
        self,
        urls: list[str],
        *,
        timeout: float,
        session: aiohttp.ClientSession | None,
        ssl: ssl_module.SSLContext | None,
    ) -> None:
        # Several base URLs: the nodes of a high-availability pair (docs/ha.md). A call goes
        # to the one that answered last; on a connection error or a 503 (a standby says
        # NOT_LEADER) it moves on to the next, once round the list.
        self.urls = [u.rstrip("/") for u in urls]
        self._current = 0
        self._ssl = ssl  # trust for an https URL (e.g. the site's CA); None: the system's
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._http = session
        self._owns_http = session is None

    async def close(self) -> None:
        """Close the HTTP session if this transport created it."""
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def url(self) -> str:
        """The base URL calls go to now (the one that answered last)."""
        return self.urls[self._current]

    async def post(
        self, endpoint: str, body: dict[str, Any], *, limit: aiohttp.ClientTimeout | None = None
    ) -> Answer:
        data = msgspec.json.encode(body)
        return await self.send("POST", f"/licensing/{endpoint}", data, limit=limit)

    async def send(
        self,
        method: str,
        path: str,
        data: bytes | None,
        *,
        limit: aiohttp.ClientTimeout | None = None,
    ) -> Answer:
        """One request, moving to the next URL on a connection error or a 503; the last
        URL's error is raised when none answered."""
        last = len(self.urls) - 1
        for attempt in range(len(self.urls)):
            try:
                return await self._send_once(method, path, data, limit=limit)
            except (ServerUnreachable, ServerError) as exc:
                moves_on = isinstance(exc, ServerUnreachable) or exc.status == 503
                if isinstance(exc, CertificateError) or not moves_on or attempt == last:
                    raise
                self._current = (self._current + 1) % len(self.urls)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _send_once(
        self,
        method: str,
        path: str,
        data: bytes | None,
        *,
        limit: aiohttp.ClientTimeout | None = None,
    ) -> Answer:
        """One request; every transport failure becomes ServerUnreachable."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
            self._owns_http = True
        headers = {"Accept": JSON_TYPE}
        if data is not None:
            headers["Content-Type"] = JSON_TYPE
        extra: dict[str, Any] = {} if self._ssl is None else {"ssl": self._ssl}
        try:
            async with self._http.request(
                method,
                self.url + path,
                data=data,
                headers=headers,
                timeout=limit or self.timeout,
                **extra,
            ) as resp:
                raw = await resp.read()
                answer = Answer(resp.status, raw, _server_date(resp.headers))
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except aiohttp.ClientConnectorCertificateError as exc:
            raise CertificateError(
                f"the license server at {self.url} presented a TLS certificate this client does"
                f" not trust ({exc.certificate_error}); trust its CA with"
                " LicenseClient(url, ssl=ssl.create_default_context(cafile=...))"
            ) from exc
        except aiohttp.ClientSSLError as exc:
            raise CertificateError(
                f"TLS with the license server at {self.url} failed: {exc}"
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServerUnreachable(
                f"cannot reach the license server at {self.url}: {exc or type(exc).__name__}"
            ) from exc
        _raise_for_status(answer, retry_after)
        return answer


def _raise_for_status(answer: Answer, retry_after: float | None) -> None:
    if answer.status in (200, 204):
        return
    try:
        if too_deep(answer.body):  # decoding it would raise RecursionError
            err = _ErrorBody(error=depth_message("the error body"))
        else:
            err = msgspec.json.decode(answer.body, type=_ErrorBody)
    except (msgspec.ValidationError, msgspec.DecodeError):
        err = _ErrorBody(error=answer.body[:200].decode("utf-8", "replace"))
    if answer.status in _REJECTED:
        raise RequestRejected(
            answer.status,
            err.code or f"HTTP_{answer.status}",
            err.error,
            field=err.field,
            retry_after=retry_after,
        )
    raise ServerError(answer.status, err.error or "unexpected answer", code=err.code or None)


def decode(answer: Answer, schema: type[T]) -> T:
    """The answer's body as `schema`; a body outside the contract is a ServerError (also
    one nested so deep that decoding it would raise RecursionError in the application)."""
    if too_deep(answer.body):
        raise ServerError(answer.status, depth_message(f"the answer (a {schema.__name__})"))
    try:
        return msgspec.json.decode(answer.body, type=schema)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ServerError(
            answer.status, f"the answer is not a valid {schema.__name__}: {exc}"
        ) from exc
