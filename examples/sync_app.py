"""A plain (non-async) application that holds a license seat while it works.

Run `lls demo` in another terminal, then:

    python examples/sync_app.py [LICENSE] [--url URL] [--product CODE]

SyncLicenseClient runs the SDK on a thread of its own, so the seat is kept
alive while this program blocks in its own work (`time.sleep` here).
`on_lost` runs on that thread: it only sets a flag the main loop checks.
SIGTERM (`kill`, `systemctl stop`) and Ctrl-C stop the loop the same way, and
leaving `with` gives the seat back.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from lls.client import LicenseRefused, ServerUnreachable, SyncLicenseClient


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="an application that holds a license seat")
    parser.add_argument(
        "license", nargs="?", default=os.environ.get("ACME_LICENSE", "DEMO-FLOAT-0001")
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the license server")
    parser.add_argument("--product", default="DEMO_PRO")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = arguments(argv)
    stop = threading.Event()
    stopped_by: list[int] = []

    def on_lost(reason: str) -> None:
        print(f"license lost ({reason}); finishing the current step and stopping")
        stop.set()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped_by.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with SyncLicenseClient(args.url) as client:
        try:
            with client.session(args.license, [args.product], on_lost=on_lost) as seat:
                print(f"licensed to {seat.result.company_name}")
                with seat.feature("EXPORT_PDF"):
                    print("exporting a PDF with a checked-out EXPORT_PDF unit")
                step = 0
                while not stop.wait(1):  # the application's own, blocking work
                    step += 1
                    print(f"working… step {step}", flush=True)
        except LicenseRefused as refused:
            print(f"no license: {refused.message} ({refused.reason})")
            return 2
        except ServerUnreachable as error:
            print(f"the license server cannot be reached: {error}")
            return 4
    if stopped_by:
        print(f"stopped by {signal.Signals(stopped_by[0]).name}; the seat was given back")
        return 128 + stopped_by[0]
    return 3 if stop.is_set() else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main(sys.argv[1:]))
