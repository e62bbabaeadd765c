"""The client side of the fault tests: devices driving load, and a ledger of what each was told.

Every answer a device gets is written down per (license, device): a session it
holds, or not, and the floating units it holds. An answer the server gave is a
promise: after any fault and restart, the server's sessions and units must
match the ledger. A 503 (STORAGE_ERROR) must have had no effect at all; a
request whose answer never arrived (the server was killed) leaves that entry
unknown until it is settled. Also used by bench/soak.py.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

PRODUCT = "ACME_PRO"
FEATURE = "SOLVER"
HELD, FREE, UNKNOWN = "held", "free", "unknown"
OPS = ("activate", "extend", "deactivate", "checkout", "return")


@dataclass
class Entry:
    session: str = FREE
    units: int | None = 0  # floating units held; None: unknown


class Client:
    """One keep-alive HTTP connection. Every answer is returned whatever its status;
    `None` when no answer came (refused: the request was never sent; lost: it may have been)."""

    def __init__(self, port: int, timeout_s: float = 10.0) -> None:
        self.port = port
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def call(self, path: str, body: dict[str, Any]) -> tuple[int | str, Any]:
        if self._conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout_s)
            try:
                conn.connect()
            except OSError:
                return "refused", None
            self._conn = conn
        try:
            self._conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            resp = self._conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return "lost", None
        try:
            return resp.status, json.loads(raw) if raw else None
        except ValueError:
            return resp.status, raw.decode(errors="replace")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class Ledger:
    """What each device was told, per license (one thread drives each device)."""

    seats: dict[str, int]
    units: dict[str, int] = field(default_factory=dict)  # floating units per license
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    acknowledged: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def entry(self, lic: str, dev: str) -> Entry:
        with self._lock:
            return self.entries.setdefault((lic, dev), Entry())

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def record(self, lic: str, dev: str, op: str, status: int | str, body: Any) -> None:
        """Write down one answer (called by the device's own thread, right after it)."""
        e = self.entry(lic, dev)
        with self._lock:
            self.answers[f"{op} {status}"] += 1
        if status == "refused":
            return  # never sent: nothing happened
        if status == "lost":
            e.session, e.units = UNKNOWN, None
            return
        if status == 503:
            return  # STORAGE_ERROR: it must have had no effect, then or later
        if not isinstance(status, int) or status >= 400:
            self._violation(f"{op} {lic} {dev}: HTTP {status} {body!r:.200}")
            return
        with self._lock:
            self.acknowledged += 1
        if op == "deactivate":
            if status == 204:
                e.session, e.units = FREE, 0
            return
        assert isinstance(body, dict)
        ok = body.get("authStatus") == "Success"
        reason = body.get("reason")
        if op == "activate":
            if ok:
                if e.session == FREE:
                    e.units = 0  # a new session holds nothing yet
                elif e.session == UNKNOWN:
                    e.units = None
                e.session = HELD
            elif reason == "SESSION_LIMIT_REACHED":
                if e.session == HELD:
                    self._violation(f"activate {lic} {dev}: told held, now {reason}")
                e.session, e.units = FREE, 0
            return
        if reason == "NO_ACTIVE_SESSION":
            if e.session == HELD:
                self._violation(f"{op} {lic} {dev}: told held, now {reason}")
            e.session, e.units = FREE, 0
            return
        if op == "extend":
            if ok and e.session == UNKNOWN:
                e.session = HELD  # its units stay unknown
            return
        if not ok:
            return  # FEATURE_EXHAUSTED: nothing changed
        moved = int(body.get("quantity", 0))
        if e.session == UNKNOWN:
            e.session = HELD  # only a live session checks out or returns
        if e.units is not None:
            e.units += moved if op == "checkout" else -moved
        checked_out = body.get("checkedOut")
        if isinstance(checked_out, int):
            e.units = checked_out  # the server's own figure for this session

    def held_now(self) -> Counter[str]:
        """Sessions each license holds for certain, by the ledger."""
        with self._lock:
            return Counter(lic for (lic, _), e in self.entries.items() if e.session == HELD)

    def drain_violations(self) -> list[str]:
        """The violations seen while answers came in, since the last call."""
        with self._lock:
            found, self.violations = self.violations, []
        return found

    def compare(self, sessions: Iterable[tuple[str, str]], in_use: dict[str, int]) -> list[str]:
        """Differences between the ledger and the server's sessions and units in use, with
        the violations seen while answers came in."""
        problems = self.drain_violations()
        live = set(sessions)
        per_license = Counter(lic for lic, _ in live)
        for lic, count in per_license.items():
            if count > self.seats.get(lic, 0):
                problems.append(f"{lic}: {count} sessions on {self.seats.get(lic)} seats")
        with self._lock:
            entries = dict(self.entries)
        for (lic, dev), e in entries.items():
            present = (lic, dev) in live
            if e.session == HELD and not present:
                problems.append(f"lost: {dev} was told it holds {lic}, the server forgot it")
            if e.session == FREE and present:
                problems.append(f"phantom: {dev} holds {lic}, but was told it does not")
        for lic, dev in live - set(entries):
            problems.append(f"phantom: {dev} holds {lic}, never told so")
        for lic, used in in_use.items():
            if used > self.units.get(lic, 0):
                problems.append(f"{lic}: {used} units in use of {self.units.get(lic)}")
            mine = [e.units for (x, _), e in entries.items() if x == lic]
            told = sum(u or 0 for u in mine)
            if all(u is not None for u in mine) and told != used:
                problems.append(f"{lic}: {used} units in use, devices were told {told}")
        return problems

    def unknown(self) -> list[tuple[str, str]]:
        with self._lock:
            return [k for k, e in self.entries.items() if e.session == UNKNOWN or e.units is None]


class Gate:
    """Lets a driver pause the devices between two calls and wait until none is mid-call."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._open = True
        self._busy = 0

    def enter(self, stop: threading.Event) -> bool:
        with self._cond:
            while not self._open and not stop.is_set():
                self._cond.wait(0.1)
            self._busy += 1
            return not stop.is_set()

    def leave(self) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def close(self, timeout_s: float = 30.0) -> bool:
        """Pause the devices; True once none is mid-call (within the timeout)."""
        with self._cond:
            self._open = False
            return self._cond.wait_for(lambda: self._busy == 0, timeout_s)

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()


def body_for(op: str, lic: str, dev: str, quantity: int = 1) -> tuple[str, dict[str, Any]]:
    if op in ("activate", "extend"):
        return f"/licensing/{op}", {
            "licenseToken": lic,
            "productCodes": [PRODUCT],
            "authContext": dev,
        }
    if op == "deactivate":
        return "/licensing/deactivate", {"licenseToken": lic, "authContext": dev}
    path = "/licensing/features/checkout" if op == "checkout" else "/licensing/features/return"
    return path, {
        "licenseToken": lic,
        "authContext": dev,
        "featureCode": FEATURE,
        "quantity": quantity,
    }


def settle(port: int, ledger: Ledger) -> None:
    """Resolve unknown entries: deactivate them (a 204 frees the seat and every unit)."""
    client = Client(port)
    try:
        for lic, dev in ledger.unknown():
            for _ in range(20):  # bounded: a 503 while the disk recovers, then it answers
                status, body = client.call(*body_for("deactivate", lic, dev))
                ledger.record(lic, dev, "deactivate", status, body)
                if status == 204:
                    break
                time.sleep(0.1)
    finally:
        client.close()


def device(
    port: int,
    ledger: Ledger,
    licenses: Sequence[str],
    name: str,
    *,
    stop: threading.Event,
    max_ops: int,
    ops: Sequence[str] = OPS,
    seed: int = 0,
    gate: Gate | None = None,
) -> None:
    """One device: random operations on random licenses until `stop`, at most `max_ops`."""
    rng = random.Random(f"{seed}-{name}")
    client = Client(port)
    gate = gate or Gate()
    try:
        for _ in range(max_ops):
            if not gate.enter(stop):
                gate.leave()
                return
            try:
                lic = rng.choice(licenses)
                e = ledger.entry(lic, name)
                op = rng.choice(ops) if e.session != FREE else "activate"
                status, body = client.call(*body_for(op, lic, name, rng.randint(1, 2)))
                ledger.record(lic, name, op, status, body)
            finally:
                gate.leave()
            if status in ("refused", "lost"):
                time.sleep(0.05)  # the server is down: wait for it to come back
    finally:
        client.close()


def run_devices(
    port: int,
    ledger: Ledger,
    licenses: Sequence[str],
    count: int,
    *,
    stop: threading.Event,
    max_ops: int,
    ops: Sequence[str] = OPS,
    seed: int = 0,
    prefix: str = "dev",
    gate: Gate | None = None,
) -> list[threading.Thread]:
    """Start `count` device threads (join them after setting `stop`)."""
    threads = [
        threading.Thread(
            target=device,
            args=(port, ledger, licenses, f"{prefix}-{i}"),
            kwargs={"stop": stop, "max_ops": max_ops, "ops": ops, "seed": seed, "gate": gate},
            daemon=True,
        )
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def server_view(
    sessions_doc: Any, licenses_doc: Any
) -> tuple[set[tuple[str, str]], dict[str, int]]:
    """(license, authContext) of every live session and the floating units in use, per license,
    from the admin API's /sessions and /licenses documents."""
    live = {(s["licenseToken"], s["authContext"]) for s in sessions_doc["sessions"]}
    in_use: dict[str, int] = {}
    for lic in licenses_doc["licenses"]:
        for f in lic["features"]:
            if f["code"] == FEATURE and f["total"] is not None:
                in_use[lic["token"]] = f["total"] - f["available"]
    return live, in_use
