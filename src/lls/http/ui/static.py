"""The dashboard's static files, and the answer for a path no page has.

The files are the few that ship in the package (`static/`), listed once at start: a
request names one by its file name only, so no path from outside ever reaches the
file system, and a link planted in the folder is not followed. aiohttp's
FileResponse answers them (content type, ETag and Last-Modified, 304, HEAD); the
caching header comes from the guard, by path (lls.http.ui.guard).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from lls.errors import NotFound


def static_files(folder: Path) -> Handler:
    """A handler for `/static/{name}` serving the regular files of `folder`."""
    files = {p.name: p for p in folder.iterdir() if p.is_file() and not p.is_symlink()}

    async def static_file(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["name"])
        if path is None:
            raise NotFound("no such file in the dashboard")
        return web.FileResponse(path)

    return static_file


async def no_such_page(request: web.Request) -> web.StreamResponse:
    raise NotFound("no such page in the dashboard")
