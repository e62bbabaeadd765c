"""`LicenseClient`: one async call per endpoint of the client API (api.md §2–§5).

What each endpoint sends and how its answer is read; the HTTP itself (base URLs,
failover, TLS, the status contract) is `lls.client.transport`.
"""

from __future__ import annotations

import logging
import math
import ssl as ssl_module
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp

from lls.client.errors import LicenseRefused, ServerError
from lls.client.identity import ClientInfo, default_auth_context, default_client_info
from lls.client.models import BorrowResult, FeatureResult, InstanceInfo, ValidationResult
from lls.client.transport import Transport, decode

if TYPE_CHECKING:
    from lls.client.offline import Lease, OfflineDevice
    from lls.client.session import LicenseSession, OnLost

__all__ = ["DEFAULT_TIMEOUT_S", "LicenseClient", "ProductCodes"]

log = logging.getLogger(__name__)

# Long enough for a busy server on a slow LAN, short enough that a keep-alive
# retry loop gets several tries within the default 600 s session window.
DEFAULT_TIMEOUT_S = 10.0
MAX_WAIT_S = 300  # `waitSeconds` of an activate (api.md §7 "Queue for the last seat")

ProductCodes = str | Sequence[str]


def _codes(product_codes: ProductCodes | None) -> list[str] | None:
    """A lone string is one product code, not a sequence of one-letter codes."""
    if product_codes is None:
        return None
    return [product_codes] if isinstance(product_codes, str) else list(product_codes)


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
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("LicenseClient needs at least one URL")
        self._transport = Transport(urls, timeout=timeout, session=session, ssl=ssl)
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
        await self._transport.close()

    @property
    def urls(self) -> list[str]:
        """The server's base URLs: one, or the nodes of a high-availability pair (docs/ha.md)."""
        return self._transport.urls

    @property
    def url(self) -> str:
        """The base URL calls go to now (the one that answered last)."""
        return self._transport.url

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
        sent = {k: v for k, v in body.items() if v is not None}
        answer = await self._transport.post("validate", sent)
        return decode(answer, ValidationResult)

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
        answer = await self._transport.post("deactivate", body)
        if answer.status == 204:
            return
        self._refused_unless_ok(decode(answer, ValidationResult))

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
        answer = await self._transport.send("GET", "/licensing/instance", None)
        return decode(answer, InstanceInfo)

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
        result = decode(await self._transport.post("borrow", body), BorrowResult)
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
        answer = await self._transport.post("borrow/return", body)
        if answer.status != 204:
            self._refused_unless_ok(decode(answer, ValidationResult))
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
            base = self._transport.timeout.total or DEFAULT_TIMEOUT_S
            timeout = aiohttp.ClientTimeout(total=base + math.ceil(wait))
        answer = await self._transport.post(endpoint, body, limit=timeout)
        result = decode(answer, ValidationResult)
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
        result = decode(await self._transport.post(f"features/{endpoint}", body), FeatureResult)
        self._refused_unless_ok(result)
        return result

    @staticmethod
    def _refused_unless_ok(result: ValidationResult | FeatureResult) -> None:
        if not result.ok:
            raise LicenseRefused(
                result.reason or result.auth_status.value, result.message or "", result
            )
