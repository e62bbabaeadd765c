"""A plain (non-async) application that holds a license seat while it works.

Run `lls demo` in another terminal, then:

    python examples/sync_app.py [http://127.0.0.1:8080]

SyncLicenseClient runs the SDK on a thread of its own, so the seat is kept
alive while this program blocks in its own work (`time.sleep` here).
`on_lost` runs on that thread: it only sets a flag the main loop checks.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

from lls.client import LicenseRefused, ServerUnreachable, SyncLicenseClient

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
# The license key the vendor sold; the demo's by default.
LICENSE = os.environ.get("ACME_LICENSE", "DEMO-FLOAT-0001")
PRODUCT = "DEMO_PRO"


def main() -> int:
    stop = threading.Event()

    def on_lost(reason: str) -> None:
        print(f"license lost ({reason}); finishing the current step and stopping")
        stop.set()

    with SyncLicenseClient(URL) as client:
        try:
            with client.session(LICENSE, [PRODUCT], on_lost=on_lost) as seat:
                print(f"licensed to {seat.result.company_name}")
                with seat.feature("EXPORT_PDF"):
                    print("exporting a PDF with a checked-out EXPORT_PDF unit")
                step = 0
                while not stop.is_set():
                    step += 1
                    time.sleep(1)  # the application's own, blocking work
                    print(f"working… step {step}")
        except LicenseRefused as refused:
            print(f"no license: {refused.message} ({refused.reason})")
            return 2
        except ServerUnreachable as error:
            print(f"the license server cannot be reached: {error}")
            return 4
    return 3 if stop.is_set() else 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # `with` deactivated the seat on the way out
        sys.exit(130)
