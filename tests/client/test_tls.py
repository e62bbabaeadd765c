"""The SDK against an HTTPS server: an untrusted certificate is named as such."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from lls.app.listen import tls_context
from lls.app.wiring import build_app
from lls.client import CertificateError, LicenseClient, ServerUnreachable
from lls.config.settings import Config
from lls.instance import Instance
from tests.e2e.conftest import free_port
from tests.tls import self_signed


@pytest.fixture
async def https(instance: Instance, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A real LLS app served over TLS with a self-signed certificate: (url, cert file)."""
    cert, key = self_signed(tmp_path)
    config = Config(data_dir=instance.data_dir, tls_cert=str(cert), tls_key=str(key))
    runner = web.AppRunner(build_app(config, instance=instance, run_jobs=False))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls_context(config)).start()
    yield f"https://127.0.0.1:{port}", cert
    await runner.cleanup()


async def test_untrusted_certificate_raises_certificate_error(https: tuple[str, Path]) -> None:
    url, _ = https
    async with LicenseClient(url, timeout=5) as client:
        with pytest.raises(CertificateError) as caught:
            await client.validate("LIC-ANY")
    assert "certificate" in str(caught.value) and url in str(caught.value)
    assert isinstance(caught.value, ServerUnreachable)  # code that retries outages still works


async def test_client_trusting_the_certificate_gets_answers(https: tuple[str, Path]) -> None:
    url, cert = https
    trusting = ssl.create_default_context(cafile=str(cert))
    async with LicenseClient(url, timeout=5, ssl=trusting) as client:
        result = await client.validate("LIC-ANY")
    assert result.reason == "LICENSE_NOT_FOUND"
