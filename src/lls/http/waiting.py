"""Requests that wait (an activate with `waitSeconds`): notice when their client goes away.

aiohttp does not cancel a handler when its client disconnects (handler_cancellation
is off, and should stay off for every other route: a commit must not be torn in
half by a client that gave up). A waiting activate, though, must leave the queue
as soon as its client is gone, so its turn goes to the next. One task per server
looks at the transports of the waiting requests every `every_s` and cancels the
wait of each whose connection closed; it runs only while someone waits, and costs
one attribute test per waiter per look.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")
LOOK_EVERY_S = 0.1


class ClientGone(Exception):
    """The client of a waiting request disconnected; its wait was given up."""


class Disconnects:
    """Cancel waits whose client disconnected."""

    def __init__(self, every_s: float = LOOK_EVERY_S) -> None:
        self._every_s = every_s
        self._waits: dict[asyncio.Future[Any], web.BaseRequest] = {}
        self._looker: asyncio.Task[None] | None = None

    async def wait(self, request: web.BaseRequest, work: Awaitable[T]) -> T:
        """Await `work` as a task of its own, cancelled if the client goes away meanwhile
        (then ClientGone is raised)."""
        task = asyncio.ensure_future(work)
        self._waits[task] = request
        if self._looker is None or self._looker.done():
            self._looker = asyncio.get_running_loop().create_task(self._look())
        try:
            return await task
        except asyncio.CancelledError:
            if _gone(request) and not _cancelling():
                raise ClientGone() from None
            task.cancel()
            raise
        finally:
            self._waits.pop(task, None)

    async def _look(self) -> None:
        while self._waits:
            await asyncio.sleep(self._every_s)
            for task, request in list(self._waits.items()):
                if _gone(request):
                    task.cancel()

    async def close(self) -> None:
        if self._looker is not None:
            self._looker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._looker


def _gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _cancelling() -> bool:
    """Whether the current task itself is being cancelled (shutdown), not only its work."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
