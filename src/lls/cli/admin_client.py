"""How the CLI talks to a running `lls serve`: found through server.json, bearer-token auth."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lls.errors import LLSError, PermissionDenied, Refused
from lls.instance import SERVER_FILE, TOKEN_FILE


@dataclass(frozen=True, slots=True)
class AdminClient:
    url: str
    token: str
    cafile: str | None = None  # the server's own certificate, from server.json (TLS only)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        """Send one admin request; a problem+json answer becomes a Refused with its code."""
        status, raw = self.fetch(method, path, body, content_type)
        return status, json.loads(raw) if raw else None

    def fetch(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        *,
        accept: str | None = None,
    ) -> tuple[int, bytes]:
        """Send one admin request and return the raw answer body."""
        request = urllib.request.Request(  # noqa: S310 - the URL is ours (server.json or --url)
            self.url.rstrip("/") + path, data=body, method=method
        )
        request.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            request.add_header("Content-Type", content_type)
        if accept is not None:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=120, context=pinned_context(self.cafile)
            ) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                problem = json.loads(raw)
            except ValueError:
                problem = {"detail": raw.decode(errors="replace"), "code": "HTTP_ERROR"}
            raise Refused(
                str(problem.get("detail") or exc.reason),
                code=str(problem.get("code", "HTTP_ERROR")),
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLCertVerificationError):
                raise LLSError(
                    f"the server at {self.url} presented a certificate this CLI does not trust:"
                    f" {exc.reason.verify_message}",
                    code="CERTIFICATE_ERROR",
                ) from None
            raise LLSError(f"cannot reach the server at {self.url}: {exc.reason}") from None


def pinned_context(cafile: str | None) -> ssl.SSLContext | None:
    """Trust exactly the server's certificate file (named by server.json in the data dir).

    The CLI reaches its own server on loopback, whose address a LAN certificate
    rarely names, so the host name is not checked: the pinned certificate is.
    """
    if not cafile:
        return None
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a leaf certificate as trust anchor
    return context


def find_server(data_dir: Path, url: str | None = None) -> AdminClient | None:
    """The running server of `data_dir` (or at `url`), or None when none answers."""
    cafile: str | None = None
    try:
        token = (data_dir / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except PermissionError:  # not "no server": the admin token is another user's
        raise PermissionDenied.on(data_dir / TOKEN_FILE) from None
    except OSError:
        return None
    if url is None:
        try:
            info = json.loads((data_dir / SERVER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        url = str(info.get("url", ""))
        cafile = info.get("cafile") if isinstance(info.get("cafile"), str) else None
    client = AdminClient(url=url, token=token, cafile=cafile)
    context = pinned_context(client.cafile)
    try:
        with urllib.request.urlopen(  # noqa: S310
            url.rstrip("/") + "/healthz", timeout=2, context=context
        ):
            pass
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return client
