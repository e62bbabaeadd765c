"""The JSON answer of an admin handler: a document encoded by the one encoder
(`lls.http.schemas.encode`) with its content type, written once for every admin API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lls.http.schemas import encode

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def json_answer(doc: Any) -> web.Response:
    """A 200 answer carrying `doc` as JSON."""
    return web.Response(body=encode(doc), headers={"Content-Type": JSON_CONTENT_TYPE})
