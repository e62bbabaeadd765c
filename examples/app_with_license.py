"""An asyncio application that holds a license seat while it works.

Run `lls demo` in another terminal, then:

    python examples/app_with_license.py [LICENSE] [--url URL] [--product CODE]

LICENSE is the key the vendor sold (the demo's DEMO-FLOAT-0001 by default, or
$ACME_LICENSE). What it shows: activate on start (and a clear message when no
seat is free), keep-alive in the background, stopping the work cleanly when the
seat is lost (an admin ends the session: `lls sessions end ID`), a feature held
for one piece of work, and the seat given back on exit — on Ctrl-C and on
SIGTERM (`kill`, `systemctl stop`, `docker stop`) too.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from lls.client import LicenseClient, LicenseRefused, ServerUnreachable, SessionLost


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="an application that holds a license seat")
    parser.add_argument(
        "license", nargs="?", default=os.environ.get("ACME_LICENSE", "DEMO-FLOAT-0001")
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the license server")
    parser.add_argument("--product", default="DEMO_PRO")
    return parser.parse_args(argv)


async def do_one_piece_of_work(step: int) -> None:
    await asyncio.sleep(1)
    print(f"working… step {step}", flush=True)


async def run(args: argparse.Namespace) -> int:
    async with LicenseClient(args.url) as client:
        try:
            async with client.session(args.license, [args.product]) as seat:
                result = seat.result
                print(f"licensed to {result.company_name} until {result.license_expires_at}")
                async with seat.feature("EXPORT_PDF"):
                    print("exporting a PDF with a checked-out EXPORT_PDF unit")
                for step in range(1, 1_000):
                    seat.raise_if_lost()  # stop at the next safe point once the seat is gone
                    await do_one_piece_of_work(step)
        except LicenseRefused as refused:
            print(f"no license: {refused.message} ({refused.reason})")
            return 2
        except SessionLost as lost:
            print(f"license lost while working: {lost.reason}; saving and stopping")
            return 3
        except ServerUnreachable as error:
            print(f"the license server cannot be reached: {error}")
            return 4
    return 0


async def main(argv: list[str]) -> int:
    """Run until done; SIGTERM and SIGINT cancel the work, and leaving `session` frees the seat."""
    work = asyncio.create_task(run(arguments(argv)))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, work.cancel)
    try:
        return await work
    except asyncio.CancelledError:
        print("stopped; the seat was given back", flush=True)
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(sys.argv[1:])))
