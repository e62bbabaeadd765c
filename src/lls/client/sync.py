"""`SyncLicenseClient`: the same SDK for applications without an event loop of their own.

Each client runs one event loop on a daemon thread and runs every call there,
blocking the caller until it is done. The loop keeps running between calls, so
a session's keep-alive goes on while the application's own code runs.
`on_lost` callbacks run on that thread: keep them short, and do not call the
client back from inside them (that would wait on the thread that runs it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from ssl import SSLContext
from types import TracebackType
from typing import Any, TypeVar

from lls.client.api import DEFAULT_TIMEOUT_S, LicenseClient, ProductCodes
from lls.client.identity import ClientInfo
from lls.client.models import FeatureResult, InstanceInfo, ValidationResult
from lls.client.offline import Lease, OfflineDevice
from lls.client.session import FeatureCheckout, LicenseSession, OnLost

__all__ = ["SyncFeatureCheckout", "SyncLicenseClient", "SyncLicenseSession"]

T = TypeVar("T")


class SyncLicenseClient:
    """Blocking twin of LicenseClient; use as `with SyncLicenseClient(url) as client:`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        auth_context: str | None = None,
        application: str | None = None,
        version: str | None = None,
        client_info: ClientInfo | None = None,
        send_client_info: bool = True,
        ssl: SSLContext | None = None,
    ) -> None:
        """See LicenseClient for the options."""
        self._loop = asyncio.new_event_loop()
        # Daemon: a forgotten close() must not keep the application from exiting.
        self._thread = threading.Thread(target=self._run_loop, name="lls-client", daemon=True)
        self._closed = False
        self._thread.start()
        self._client = LicenseClient(
            url,
            timeout=timeout,
            auth_context=auth_context,
            application=application,
            version=version,
            client_info=client_info,
            send_client_info=send_client_info,
            ssl=ssl,
        )

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the client's loop and wait for it here."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "SyncLicenseClient called from its own thread (inside on_lost?): it would deadlock"
            )
        if self._closed:
            coro.close()
            raise RuntimeError("the SyncLicenseClient is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            # Interrupted here (Ctrl-C): do not leave the call running on its own.
            future.cancel()
            raise

    def __enter__(self) -> SyncLicenseClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop what still runs (keep-alives of unclosed sessions), close HTTP, end the thread."""
        if self._closed:
            return
        if threading.current_thread() is self._thread:
            raise RuntimeError("SyncLicenseClient.close() called from its own thread")
        try:
            self._call(self._shutdown())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    async def _shutdown(self) -> None:
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        if others:
            await asyncio.wait(others)
        await self._client.close()

    @property
    def auth_context(self) -> str:
        """The authContext sent when a call is given none."""
        return self._client.auth_context

    def validate(
        self,
        token: str,
        product_codes: ProductCodes | None = None,
        auth_context: str | None = None,
    ) -> ValidationResult:
        """See LicenseClient.validate."""
        return self._call(self._client.validate(token, product_codes, auth_context))

    def activate(
        self, token: str, product_codes: ProductCodes, auth_context: str | None = None
    ) -> ValidationResult:
        """See LicenseClient.activate."""
        return self._call(self._client.activate(token, product_codes, auth_context))

    def extend(
        self, token: str, product_codes: ProductCodes, auth_context: str | None = None
    ) -> ValidationResult:
        """See LicenseClient.extend."""
        return self._call(self._client.extend(token, product_codes, auth_context))

    def deactivate(self, token: str, auth_context: str | None = None) -> None:
        """See LicenseClient.deactivate."""
        self._call(self._client.deactivate(token, auth_context))

    def checkout(
        self, token: str, auth_context: str | None, feature_code: str, quantity: int = 1
    ) -> FeatureResult:
        """See LicenseClient.checkout."""
        return self._call(self._client.checkout(token, auth_context, feature_code, quantity))

    def return_(
        self, token: str, auth_context: str | None, feature_code: str, quantity: int = 1
    ) -> FeatureResult:
        """See LicenseClient.return_."""
        return self._call(self._client.return_(token, auth_context, feature_code, quantity))

    def instance(self) -> InstanceInfo:
        """See LicenseClient.instance."""
        return self._call(self._client.instance())

    def session(
        self,
        token: str,
        product_codes: ProductCodes,
        auth_context: str | None = None,
        *,
        on_lost: OnLost | None = None,
        extend_every: float | None = None,
        device: OfflineDevice | None = None,
    ) -> SyncLicenseSession:
        """A session to use as `with`: see LicenseClient.session."""
        inner = self._client.session(
            token,
            product_codes,
            auth_context,
            on_lost=on_lost,
            extend_every=extend_every,
            device=device,
        )
        return SyncLicenseSession(self, inner)

    def return_borrow(self, device: OfflineDevice) -> None:
        """See LicenseClient.return_borrow."""
        self._call(self._client.return_borrow(device))


class SyncLicenseSession:
    """Blocking twin of LicenseSession; the keep-alive runs on the client's thread."""

    def __init__(self, owner: SyncLicenseClient, inner: LicenseSession) -> None:
        self._owner = owner
        self.inner = inner

    def __enter__(self) -> SyncLicenseSession:
        self._owner._call(self.inner.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner._call(self.inner.__aexit__(exc_type, exc, tb))

    def start(self) -> ValidationResult:
        """Activate and start the keep-alive (what `with` does on enter)."""
        return self._owner._call(self.inner.start())

    def close(self) -> None:
        """Stop the keep-alive and deactivate, raising a failure (unlike `with` on exit)."""
        self._owner._call(self.inner.close())

    @property
    def result(self) -> ValidationResult:
        return self.inner.result

    @property
    def lost(self) -> bool:
        return self.inner.lost

    @property
    def lost_reason(self) -> str | None:
        return self.inner.lost_reason

    def raise_if_lost(self) -> None:
        """Raise SessionLost if the session is gone."""
        self.inner.raise_if_lost()

    def wait_lost(self, timeout: float | None = None) -> str | None:
        """Block until the session is lost (its reason), or None when `timeout` passes first."""
        try:
            return self._owner._call(asyncio.wait_for(self.inner.wait_lost(), timeout))
        except (TimeoutError, concurrent.futures.TimeoutError):
            return None

    def feature(self, code: str, quantity: int = 1) -> SyncFeatureCheckout:
        """Feature units held for a `with` body: checked out on enter, returned on exit."""
        return SyncFeatureCheckout(self._owner, self.inner.feature(code, quantity))

    def checkout(self, code: str, quantity: int = 1) -> FeatureResult:
        return self._owner._call(self.inner.checkout(code, quantity))

    def return_(self, code: str, quantity: int = 1) -> FeatureResult:
        return self._owner._call(self.inner.return_(code, quantity))

    def borrow(
        self,
        device: OfflineDevice | None = None,
        *,
        days: float | None = None,
        seconds: int | None = None,
    ) -> Lease:
        """See LicenseSession.borrow."""
        return self._owner._call(self.inner.borrow(device, days=days, seconds=seconds))


class SyncFeatureCheckout:
    """Blocking twin of FeatureCheckout."""

    def __init__(self, owner: SyncLicenseClient, inner: FeatureCheckout) -> None:
        self._owner = owner
        self.inner = inner

    @property
    def result(self) -> FeatureResult | None:
        return self.inner.result

    def __enter__(self) -> SyncFeatureCheckout:
        self._owner._call(self.inner.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner._call(self.inner.__aexit__(exc_type, exc, tb))

    def release(self) -> FeatureResult | None:
        """Return the units now, raising a failure (unlike `with` on exit)."""
        return self._owner._call(self.inner.release())
