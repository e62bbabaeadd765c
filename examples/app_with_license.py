"""An asyncio application that holds a license seat while it works.

Run `lls demo` in another terminal, then:

    python examples/app_with_license.py [http://127.0.0.1:8080]

What it shows: activate on start (and a clear message when no seat is free),
keep-alive in the background, stopping the work cleanly when the seat is lost
(an admin ends the session: `DELETE /admin/v1/sessions/{id}`), a feature held
for one piece of work, and the seat given back on exit — also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from lls.client import LicenseClient, LicenseRefused, ServerUnreachable, SessionLost

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
# The license key the vendor sold; the demo's by default.
LICENSE = os.environ.get("ACME_LICENSE", "DEMO-FLOAT-0001")
PRODUCT = "DEMO_PRO"


async def do_one_piece_of_work(step: int) -> None:
    await asyncio.sleep(1)
    print(f"working… step {step}")


async def main() -> int:
    async with LicenseClient(URL) as client:
        try:
            async with client.session(LICENSE, [PRODUCT]) as seat:
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


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:  # the session was deactivated on the way out
        sys.exit(130)
