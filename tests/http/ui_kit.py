"""Signing in to the dashboard with aiohttp's test client, as a browser would (forms, cookies)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient

from tests.conftest import Server


def hidden(html: str, name: str) -> str:
    """The value of the hidden input `name` in a page."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, f"no hidden {name} field"
    return match.group(1)


def viewer_token(server: Server) -> str:
    return (server.instance.data_dir / "viewer.token").read_text(encoding="utf-8").strip()


async def sign_in(client: TestClient[Any, Any], token: str) -> str:
    """Sign in with `token`; returns the session's CSRF token (from the sign-out form)."""
    form = await client.get("/ui/sign-in")
    nonce = hidden(await form.text(), "sign_in_token")
    answer = await client.post(
        "/ui/sign-in",
        data={"sign_in_token": nonce, "token": token, "next": "/ui/"},
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    page = await client.get("/ui/usage")
    assert page.status == 200
    return hidden(await page.text(), "csrf")


async def as_admin(server: Server) -> str:
    return await sign_in(server.client, server.instance.admin_token)


async def upload(
    client: TestClient[Any, Any], path: str, csrf: str, field: str, content: bytes
) -> Any:
    """A multipart form post with one file, as a browser sends a file input."""
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field(field, content, filename="file.lls", content_type="application/octet-stream")
    return await client.post(path, data=form, allow_redirects=False)
