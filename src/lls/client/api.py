"""`LicenseClient`: one async call per endpoint of the client API (api.md §2–§5)."""

from __future__ import annotations

import email.utils
import logging
import math
import ssl as ssl_module
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import msgspec
from multidict import CIMultiDictProxy

from lls.client.errors import (
    CertificateError,
    LicenseRefused,
    RequestRejected,
    ServerError,
    ServerUnreachable,
)
from lls.client.identity import ClientInfo, default_auth_context, default_client_info
from lls.client.models import BorrowResult, FeatureResult, InstanceInfo, ValidationResult

if TYPE_CHECKING:
    from lls.client.offline import Lease, OfflineDevice
    from lls.client.session import LicenseSession, OnLost

__all__ = ["DEFAULT_TIMEOUT_S", "LicenseClient", "ProductCodes"]

log = logging.getLogger(__name__)

# Long enough for a busy server on a slow LAN, short enough that a keep-alive
# retry loop gets several tries within the default 600 s session window.
DEFAULT_TIMEOUT_S = 10.0
MAX_WAIT_S = 300  # `waitSeconds` of an activate (api.md §7 "Queue for the last seat")
JSON_TYPE = "application/json"
# The statuses api.md gives the `{"error", "code", "field"}` body: the request
# itself was refused, before any license was looked at.
_REJECTED = frozenset({400, 413, 415, 429})

T = TypeVar("T")
ProductCodes = str | Sequence[str]


class _ErrorBody(msgspec.Struct):
    error: str = ""
    code: str = ""
    field: str | None = None


class _Answer(msgspec.Struct):
    """What the transport got back, before the contract is applied."""

    status: int
    body: bytes
    date: float | None  # the server's `Date` header, epoch seconds


def _codes(product_codes: ProductCodes | None) -> list[str] | None:
    """A lone string is one product code, not a sequence of one-letter codes."""
    if product_codes is None:
        return None
    return [product_codes] if isinstance(product_codes, str) else list(product_codes)


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


class LicenseClient:
    """Async client of one LLS (or the vendor's online Licensing API, which it mirrors).

    Use it as `async with LicenseClient(url) as client:`. It owns an aiohttp
    ClientSession unless one is passed in (then closing it is the caller's job).
    `auth_context` defaults to `default_auth_context()` — this machine — in
    every call that takes one.

    activate and extend also send `clientInfo` (an LLS extension: who holds the
    seat, shown to the admin): `default_client_info(application, version)` —
    host name, user, and the application's name (default: the program's file
    name) and version — unless `client_info` replaces it; `send_client_info=False`
    sends none.

    Refusals (`authStatus` Failed or Locked) raise LicenseRefused from every
    call except `validate()`, which returns them: "no" is its answer.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        session: aiohttp.ClientSession | None = None,
        auth_context: str | None = None,
        application: str | None = None,
        version: str | None = None,
        client_info: ClientInfo | None = None,
        send_client_info: bool = True,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        # Several base URLs: the nodes of a high-availability pair (docs/ha.md). A call goes
        # to the one that answered last; on a connection error or a 503 (a standby says
        # NOT_LEADER) it moves on to the next, once round the list.
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("LicenseClient needs at least one URL")
        self.urls = [u.rstrip("/") for u in urls]
        self._current = 0
        self._ssl = ssl  # trust for an https URL (e.g. the site's CA); None: the system's
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http = session
        self._owns_http = session is None
        self._auth_context = auth_context
        self._client_info = client_info
        self._client_names = (application, version)
        self._send_client_info = send_client_info

    async def __aenter__(self) -> LicenseClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_http and self._http is not None:
            await self._http.close()
            self._http = None

    @property
    def auth_context(self) -> str:
        """The authContext sent when a call is given none (computed once, then kept)."""
        if self._auth_context is None:
            self._auth_context = default_auth_context()
        return self._auth_context

    @property
    def client_info(self) -> ClientInfo | None:
        """The clientInfo sent with activate and extend (None: none is sent)."""
        if not self._send_client_info:
            return None
        if self._client_info is None:
            self._client_info = default_client_info(*self._client_names)
        return self._client_info

    # --- the endpoints ---------------------------------------------------------

    async def validate(
        self,
        token: str,
        product_codes: ProductCodes | None = None,
        auth_context: str | None = None,
    ) -> ValidationResult:
        """Check the license for this machine without touching sessions; refusals are returned."""
        body = {
            "licenseToken": token,
            "productCodes": _codes(product_codes),
            "authContext": auth_context or self.auth_context,
        }
        answer = await self._post("validate", {k: v for k, v in body.items() if v is not None})
        return self._decode(answer, ValidationResult)

    async def activate(
        self,
        token: str,
        product_codes: ProductCodes,
        auth_context: str | None = None,
        *,
        wait: float | None = None,
    ) -> ValidationResult:
        """Take (or refresh) this machine's seat; raises LicenseRefused when none is free.

        `wait` (seconds, up to 300; an LLS extension): with no seat free, wait that long
        in the license's queue, first in first out; the refusal then carries the place
        in the queue (`LicenseRefused.response.queue_position`).
        """
        result, _ = await self._session_call(
            "activate", token, product_codes, auth_context, wait=wait
        )
        return result

    async def extend(
        self, token: str, product_codes: ProductCodes, auth_context: str | None = None
    ) -> ValidationResult:
        """Push this machine's session expiry one window on; raises if the session is gone."""
        result, _ = await self._session_call("extend", token, product_codes, auth_context)
        return result

    async def deactivate(self, token: str, auth_context: str | None = None) -> None:
        """End this machine's session and free its seat (succeeds when there was none)."""
        body = {"licenseToken": token, "authContext": auth_context or self.auth_context}
        answer = await self._post("deactivate", body)
        if answer.status == 204:
            return
        self._refused_unless_ok(self._decode(answer, ValidationResult))

    async def checkout(
        self, token: str, auth_context: str | None, feature_code: str, quantity: int = 1
    ) -> FeatureResult:
        """Check `quantity` units of a feature out to this machine's live session."""
        return await self._feature("checkout", token, auth_context, feature_code, quantity)

    async def return_(
        self, token: str, auth_context: str | None, feature_code: str, quantity: int = 1
    ) -> FeatureResult:
        """Give units back (at most what the session holds); consumption features refuse."""
        return await self._feature("return", token, auth_context, feature_code, quantity)

    async def instance(self) -> InstanceInfo:
        """This server's instance id and public keys, to pin for offline activation."""
        answer = await self._send("GET", "/licensing/instance", None)
        return self._decode(answer, InstanceInfo)

    async def borrow(
        self,
        token: str,
        product_codes: ProductCodes | None,
        device: OfflineDevice,
        *,
        seconds: int,
        auth_context: str | None = None,
    ) -> Lease:
        """Borrow this machine's seat for `seconds` (LLS): its live session becomes a seat
        held offline, and the lease is stored with `device` (`device.check()` then needs no
        network). The server caps the time at the license's `borrowMaxSeconds` and its end;
        refusals (no live session, a license without borrowing, …) raise LicenseRefused.
        The LLS is pinned on the device first when none is (GET /licensing/instance)."""
        if device.instance_id is None:
            device.pin_server(await self.instance())
        context = auth_context or self.auth_context
        body: dict[str, Any] = {
            "licenseToken": token,
            "authContext": context,
            "borrowSeconds": seconds,
            **device.prepare_borrow(token, _codes(product_codes) or [], context),
        }
        codes = _codes(product_codes)
        if codes:
            body["productCodes"] = codes
        result = self._decode(await self._post("borrow", body), BorrowResult)
        self._refused_unless_ok(result)
        if result.token is None:
            raise ServerError(200, "the borrow answer carries no token")
        lease = device.apply_response(result.token)
        if result.capped:
            log.info("borrow capped by the server: the lease ends %s", lease.lease_expires_at)
        return lease

    async def return_borrow(self, device: OfflineDevice) -> None:
        """Give the seat `device` borrowed back early (LLS), online; the lease is dropped here."""
        lease = device.lease
        if lease is None:
            return
        body = {"licenseToken": lease.license_token, "authContext": lease.auth_context}
        answer = await self._post("borrow/return", body)
        if answer.status != 204:
            self._refused_unless_ok(self._decode(answer, ValidationResult))
        device.drop_lease()

    def session(
        self,
        token: str,
        product_codes: ProductCodes,
        auth_context: str | None = None,
        *,
        on_lost: OnLost | None = None,
        extend_every: float | None = None,
        wait: float | None = None,
        device: OfflineDevice | None = None,
    ) -> LicenseSession:
        """A session to use as `async with`: activate, keep alive, deactivate on exit.

        `on_lost(reason)` (sync or async) is called once if the session is lost
        while held. `extend_every` replaces the derived keep-alive interval
        (half the session window, ±10 %) — for tests and special cases. `wait`
        (seconds, up to 300): entering waits that long for a seat to free, first
        in first out, before it raises LicenseRefused. `device` is where
        `session.borrow()` stores a borrowed lease.
        """
        from lls.client.session import LicenseSession

        codes = _codes(product_codes) or []
        return LicenseSession(
            self,
            token,
            codes,
            auth_context or self.auth_context,
            on_lost=on_lost,
            extend_every=extend_every,
            wait=wait,
            device=device,
        )

    # --- shared plumbing -------------------------------------------------------

    async def _session_call(
        self,
        endpoint: str,
        token: str,
        product_codes: ProductCodes,
        auth_context: str | None,
        *,
        wait: float | None = None,
    ) -> tuple[ValidationResult, float | None]:
        """activate or extend; also returns the server's `Date` (to measure the window by).
        `wait` (activate only) lets the server queue the call: the request may take that long."""
        body: dict[str, Any] = {
            "licenseToken": token,
            "productCodes": _codes(product_codes),
            "authContext": auth_context or self.auth_context,
        }
        info = self.client_info
        if info is not None and (wire := info.to_wire()):
            body["clientInfo"] = wire
        timeout = None
        if wait:
            if not 0 < wait <= MAX_WAIT_S:
                raise ValueError(f"wait is at most {MAX_WAIT_S} seconds")
            body["waitSeconds"] = math.ceil(wait)
            base = self._timeout.total or DEFAULT_TIMEOUT_S
            timeout = aiohttp.ClientTimeout(total=base + math.ceil(wait))
        answer = await self._post(endpoint, body, limit=timeout)
        result = self._decode(answer, ValidationResult)
        self._refused_unless_ok(result)
        return result, answer.date

    async def _feature(
        self, endpoint: str, token: str, auth_context: str | None, code: str, quantity: int
    ) -> FeatureResult:
        body = {
            "licenseToken": token,
            "authContext": auth_context or self.auth_context,
            "featureCode": code,
            "quantity": quantity,
        }
        result = self._decode(await self._post(f"features/{endpoint}", body), FeatureResult)
        if not result.ok:
            raise LicenseRefused(
                result.reason or result.auth_status.value, result.message or "", result
            )
        return result

    @staticmethod
    def _refused_unless_ok(result: ValidationResult) -> None:
        if not result.ok:
            raise LicenseRefused(
                result.reason or result.auth_status.value, result.message or "", result
            )

    async def _post(
        self, endpoint: str, body: dict[str, Any], *, limit: aiohttp.ClientTimeout | None = None
    ) -> _Answer:
        data = msgspec.json.encode(body)
        return await self._send("POST", f"/licensing/{endpoint}", data, limit=limit)

    @property
    def url(self) -> str:
        """The base URL calls go to now (the one that answered last)."""
        return self.urls[self._current]

    async def _send(
        self,
        method: str,
        path: str,
        data: bytes | None,
        *,
        limit: aiohttp.ClientTimeout | None = None,
    ) -> _Answer:
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
    ) -> _Answer:
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
                timeout=limit or self._timeout,
                **extra,
            ) as resp:
                raw = await resp.read()
                answer = _Answer(resp.status, raw, _server_date(resp.headers))
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
        self._raise_for_status(answer, retry_after)
        return answer

    @staticmethod
    def _raise_for_status(answer: _Answer, retry_after: float | None) -> None:
        if answer.status in (200, 204):
            return
        try:
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

    @staticmethod
    def _decode(answer: _Answer, schema: type[T]) -> T:
        try:
            return msgspec.json.decode(answer.body, type=schema)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ServerError(
                answer.status, f"the answer is not a valid {schema.__name__}: {exc}"
            ) from exc
