"""In-process CLI fixtures: `main([...])` called as `lls` would be, against a real server.

The admin views block on urllib while the server answers on the test's event
loop, so each command runs on a thread of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from lls.cli import main
from tests.conftest import Server


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


Cli = Callable[..., Awaitable[Ran]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run `lls ARGS…` in-process (on a thread); returns its exit status, stdout, stderr."""

    async def run(*argv: str) -> Ran:
        code = await asyncio.to_thread(main, list(argv))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def at(server: Server) -> list[str]:
    """The options that point a command at `server`."""
    url = str(server.client.make_url("")).rstrip("/")
    return ["--data-dir", str(server.instance.data_dir), "--url", url]


def run_sync(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    """Run `lls ARGS…` in-process for commands that need no server."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return Ran(code, out, err)
