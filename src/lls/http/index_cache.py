"""The license index of the current pool, shared by the admin API's list and the dashboard."""

from __future__ import annotations

import asyncio

from aiohttp import web

from lls.domain.license_index import LicenseIndex
from lls.domain.service import Licensing


class IndexCache:
    """The license index of the current pool, rebuilt when another pool is imported."""

    def __init__(self) -> None:
        self.index: LicenseIndex | None = None
        self.lock = asyncio.Lock()  # one build at a time, however many pages ask

    async def current(self, licensing: Licensing) -> LicenseIndex:
        """The index of the pool in force; a new pool's is built in a worker thread, so the
        event loop keeps answering licensing calls meanwhile (about a second at 100,000)."""
        if self.index is None or not self.index.fits(licensing.reads.view()):
            async with self.lock:
                view = licensing.reads.view()
                if self.index is None or not self.index.fits(view):
                    pool, states = view.pool, dict(view.licenses)
                    self.index = await asyncio.to_thread(LicenseIndex, pool, states)
        return self.index


LICENSE_INDEX = web.AppKey("license_index", IndexCache)  # on the daemon's app
