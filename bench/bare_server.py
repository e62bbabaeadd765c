"""The floor LLS is measured against: a bare aiohttp JSON endpoint on LLS's own stack.

It runs on the same event loop (uvloop), the same HTTP server (aiohttp's
low-level web server through `web.AppRunner`, access log off, same listen
backlog) and the same JSON library (msgspec) as `lls serve`, and does what an
LLS handler does minus the licensing: read the body, decode it into a struct
shaped like LLS's request, and answer a JSON body of the size of a
ValidationResponse (api.md §2). The gap between this and LLS is therefore the
cost of LLS's own code (middleware, validation, the domain rules, the durable
group commit), not of Python, aiohttp or the machine.

Every POST path is answered alike, so `bench/load.lua` drives it unchanged.
Unlike LLS it answers deactivate with a 200 body rather than 204, so it does
slightly *more* work than LLS on a third of the requests; the ratio errs
against LLS, never for it.

    python bench/bare_server.py --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import msgspec
import uvloop
from aiohttp import web

JSON_TYPE = "application/json; charset=utf-8"


class Request(msgspec.Struct):
    """Like LLS's SessionRequest: productCodes is absent on deactivate."""

    licenseToken: str
    authContext: str
    productCodes: list[str] | None = None


class Contact(msgspec.Struct):
    firstName: str
    lastName: str
    email: str


class Response(msgspec.Struct):
    """Same fields, order and about the same size as LLS's ValidationResponse on Success."""

    isTrial: bool
    contact: Contact
    productCode: str
    authStatus: str
    companyName: str
    reason: str | None
    message: str | None
    sessionExpiresAt: str
    licenseExpiresAt: str
    features: list[dict[str, str]]


_decoder = msgspec.json.Decoder(Request)
_encoder = msgspec.json.Encoder()
_CONTACT = Contact(firstName="Bench", lastName="Mark", email="bench@example.com")


async def handle(request: web.Request) -> web.Response:
    """Read, decode, encode a fresh response: the per-request work LLS cannot avoid either."""
    req = _decoder.decode(await request.read())
    body = _encoder.encode(
        Response(
            isTrial=False,
            contact=_CONTACT,
            productCode=req.productCodes[0] if req.productCodes else "BENCH_PRO",
            authStatus="Success",
            companyName="Bench Trading Corp",
            reason=None,
            message=None,
            sessionExpiresAt="2026-11-22T10:10:00Z",
            licenseExpiresAt="2099-01-01T00:00:00Z",
            features=[],
        )
    )
    return web.Response(body=body, headers={"Content-Type": JSON_TYPE})


async def readyz(request: web.Request) -> web.Response:
    """So the runner can wait for this server the way it waits for LLS."""
    return web.Response(body=b'{"status":"ok"}', headers={"Content-Type": JSON_TYPE})


async def serve(host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, set up the way `lls.app.daemon` sets up LLS."""
    app = web.Application()
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
