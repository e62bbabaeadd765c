"""kill -9 under concurrent activate/deactivate/checkout/return, 20 times over.

Each cycle: devices drive the server, it is killed mid-load, restarted, and what
each device was told is compared with the server's sessions and units in use.
Requests whose answer the kill swallowed are settled (deactivated) before the
next cycle, so every cycle's check is exact for everything that was answered.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Daemon
from tests.faults.conftest import daemon_on, import_pool, licenses_for, new_instance
from tests.faults.ledger import Ledger, run_devices, server_view, settle
from tests.pools import VendorKeys

CYCLES = 20
LICENSES = licenses_for(singles=8, triples=4, units=3)
SEATS = {lic["token"]: lic["seats"] for lic in LICENSES}
UNITS = {lic["token"]: 3 for lic in LICENSES}


def _view(daemon: Daemon) -> tuple[set[tuple[str, str]], dict[str, int]]:
    status_s, sessions = daemon.admin("/admin/v1/sessions?limit=1000")
    status_l, licenses = daemon.admin("/admin/v1/licenses?limit=1000")
    assert (status_s, status_l) == (200, 200), (sessions, licenses)
    return server_view(sessions, licenses)


@pytest.mark.timeout(240)
def test_kill9_cycles_under_mixed_load_lose_no_answer(tmp_path: Path, vendor: VendorKeys) -> None:
    instance = new_instance(tmp_path / "data", tmp_path, vendor)
    import_pool(instance, vendor, LICENSES, tmp_path)
    daemon = daemon_on(instance.data_dir)
    ledger = Ledger(seats=SEATS, units=UNITS)
    problems: dict[int, list[str]] = {}
    answered_per_cycle = []
    deadline = time.monotonic() + 150  # bounded in time as well as in cycles
    try:
        daemon.start()
        for cycle in range(CYCLES):
            if time.monotonic() > deadline:
                break
            before = ledger.acknowledged
            stop = threading.Event()
            threads = run_devices(
                daemon.port, ledger, list(SEATS), 6, stop=stop, max_ops=2_000, seed=cycle
            )
            time.sleep(0.4)
            daemon.kill9()  # mid-load: some requests' answers are lost with it
            stop.set()
            for thread in threads:
                thread.join(20)
            daemon.start()
            settle(daemon.port, ledger)
            found = ledger.compare(*_view(daemon))
            if found:
                problems[cycle] = found
            answered_per_cycle.append(ledger.acknowledged - before)
    finally:
        daemon.stop()
    assert len(answered_per_cycle) == CYCLES, "ran out of time before 20 cycles"
    assert min(answered_per_cycle) > 0
    assert problems == {}
    assert ledger.unknown() == []
    print(f"{CYCLES} kill -9 cycles, {ledger.acknowledged} answers: {dict(ledger.answers)}")
