"""The session and feature rules against a plain model, step by step (hypothesis).

The real Licensing service with a real SQLite store and a FakeClock is driven
by activate / extend / deactivate / checkout / return / time passing / the
sweep / a restart / the database refusing writes and healing, over a few
licenses and devices. After every step the answers equal the model's and the
state obeys the rules: seats ≤ N live sessions, units ≤ count, no unit held by
an ended session, and memory equal to what the database holds.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from lls.clock import FakeClock
from lls.domain.models import AuthStatus, Reason
from lls.domain.service import Licensing
from lls.errors import StorageError
from lls.instance import Instance
from lls.sealed.offline_codec import SealedOfflineCodec
from lls.sealed.pool_reader import SealedPoolReader
from lls.sealed.usage_codec import SealedUsageSealer
from lls.store import SqliteStore
from tests.pools import PRODUCT, VendorKeys, grant, make_pool

WINDOW_S = 30
RULES = {"A": (1, 2), "B": (2, 3)}  # license: (seats, floating units)
LICENSES = [
    grant(
        t,
        seats=seats,
        sessionWindowSeconds=WINDOW_S,
        features=[{"code": "F", "type": "floating", "count": units}],
    )
    for t, (seats, units) in RULES.items()
]
DEVICES = ("d0", "d1")
# The database refuses every write the rules (and the writer's probe) make, like a full disk.
BLOCKED = [
    (table, when)
    for table, whens in {
        "sessions": ("INSERT", "UPDATE", "DELETE"),
        "checkouts": ("INSERT", "UPDATE", "DELETE"),
        "events": ("INSERT",),
        "meta": ("INSERT", "UPDATE"),
    }.items()
    for when in whens
]
BREAK = tuple(
    f"CREATE TRIGGER full_{t}_{w} BEFORE {w} ON {t} BEGIN SELECT RAISE(ABORT, 'full'); END"
    for t, w in BLOCKED
)
HEAL = tuple(f"DROP TRIGGER full_{t}_{w}" for t, w in BLOCKED)


@dataclass
class Held:
    expires: float
    units: int = 0


class RulesMachine(RuleBasedStateMachine):
    instance: ClassVar[Instance]
    vendor: ClassVar[VendorKeys]
    # (license, device) pairs that were granted a session once: the other calls pick from
    # these, so they meet live, expired and ended sessions alike.
    granted = Bundle("granted")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        # A real SQLite file on a RAM disk where there is one: fsync costs nothing there, so
        # hypothesis runs (and shrinks) many more steps in the same time.
        shm = Path("/dev/shm")
        self.dir = Path(tempfile.mkdtemp(prefix="lls-model-", dir=shm if shm.is_dir() else None))
        self.clock = FakeClock(start=float(int(time.time())))
        self.broken = False
        self.breaks = 0  # one episode per run: broken steps refuse, and teach the model little
        self.model: dict[str, dict[str, Held]] = {t: {} for t in RULES}
        self.licensing, self.store = self._open()
        raw = make_pool(self.vendor, self.instance, LICENSES, iat=self.clock.now())
        self.run(self.licensing.import_pool(raw))

    def _open(self) -> tuple[Licensing, SqliteStore]:
        inst = self.instance
        store = SqliteStore(self.dir / "lls.db", probe_interval_s=0.01, probe_max_interval_s=0.05)
        licensing = Licensing(
            store=store,
            reader=SealedPoolReader(inst.keys, [inst.vendor_keys]),
            codec=SealedOfflineCodec(inst.keys, inst.instance_id),
            sealer=SealedUsageSealer(inst.keys, inst.instance_id, inst.vendor_id, inst.vendor_keys),
            clock=self.clock,
            instance_id=inst.instance_id,
        )
        self.run(store.open())
        self.run(licensing.upkeep.load())
        return licensing, store

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.store.close())
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- the model ------------------------------------------------------------------------

    def live(self, lic: str) -> dict[str, Held]:
        now = self.clock.now()
        return {d: h for d, h in self.model[lic].items() if h.expires > now}

    def available(self, lic: str) -> int:
        return RULES[lic][1] - sum(h.units for h in self.live(lic).values())

    def refused_while_broken(self, call: Any) -> Any:
        """Run a call that may write: (answer, False), or (None, True) when it was refused
        with StorageError — which only the broken database may cause. A refused call must
        have changed nothing: the model is left as it is, and the invariants check it."""
        try:
            return self.run(call), False
        except StorageError:
            assert self.broken, "StorageError while the database takes writes"
            return None, True

    def changed(self) -> None:
        """The answer acknowledged a change: that must never happen while writes fail."""
        assert not self.broken, "a change was acknowledged while the database refuses writes"

    # -- rules ----------------------------------------------------------------------------

    @initialize(target=granted, lic=st.sampled_from(list(RULES)), quantity=st.integers(1, 2))
    def a_device_holds_units(self, lic: str, quantity: int) -> Any:
        """Every run starts with units held, so later steps meet a holder (and its expiry)."""
        pair = self.activate(lic, "d0")
        self.checkout((lic, "d0"), quantity)
        return pair

    @rule(target=granted, lic=st.sampled_from(list(RULES)), dev=st.sampled_from(DEVICES))
    def activate(self, lic: str, dev: str) -> Any:
        got, refused = self.refused_while_broken(self.licensing.activate(lic, [PRODUCT], dev))
        if refused:
            return multiple()
        live, now = self.live(lic), self.clock.now()
        if dev in live:
            live[dev].expires = now + WINDOW_S
        elif len(live) < RULES[lic][0]:
            self.model[lic] = {**live, dev: Held(now + WINDOW_S)}
        else:
            assert (got.status, got.reason) == (AuthStatus.FAILED, Reason.SESSION_LIMIT_REACHED)
            return multiple()
        self.changed()
        assert got.status is AuthStatus.SUCCESS, got
        assert got.session_expires_at == now + WINDOW_S
        assert got.features[0].available == self.available(lic)
        return (lic, dev)

    @rule(pair=granted)
    def extend(self, pair: tuple[str, str]) -> None:
        lic, dev = pair
        got, refused = self.refused_while_broken(self.licensing.extend(lic, [PRODUCT], dev))
        if refused:
            return
        live = self.live(lic)
        if dev not in live:
            assert got.reason is Reason.NO_ACTIVE_SESSION
            self.model[lic].pop(dev, None)
            return
        self.changed()
        live[dev].expires = self.clock.now() + WINDOW_S
        assert got.status is AuthStatus.SUCCESS
        assert got.features[0].available == self.available(lic)

    @rule(pair=granted)
    def deactivate(self, pair: tuple[str, str]) -> None:
        lic, dev = pair
        got, refused = self.refused_while_broken(self.licensing.deactivate(lic, dev))
        if refused:
            assert dev in self.model[lic]  # only a call with a session to end writes
            return
        assert got.status is AuthStatus.SUCCESS
        if dev in self.live(lic):
            self.changed()
        self.model[lic].pop(dev, None)

    @rule(pair=granted, quantity=st.integers(1, 3))
    def checkout(self, pair: tuple[str, str], quantity: int) -> None:
        lic, dev = pair
        got, refused = self.refused_while_broken(self.licensing.checkout(lic, dev, "F", quantity))
        if refused:
            return
        live = self.live(lic)
        if dev not in live:
            assert got.reason is Reason.NO_ACTIVE_SESSION, got
            self.model[lic].pop(dev, None)
            return
        available = self.available(lic)
        if quantity > available:
            assert (got.reason, got.available) == (Reason.FEATURE_EXHAUSTED, available), got
            return
        self.changed()
        live[dev].units += quantity
        assert got.status is AuthStatus.SUCCESS, got
        assert (got.checked_out, got.available) == (live[dev].units, available - quantity)

    @rule(pair=granted, quantity=st.integers(1, 3))
    def give_back(self, pair: tuple[str, str], quantity: int) -> None:
        lic, dev = pair
        got, refused = self.refused_while_broken(
            self.licensing.return_units(lic, dev, "F", quantity)
        )
        if refused:
            return
        live = self.live(lic)
        if dev not in live:
            assert got.reason is Reason.NO_ACTIVE_SESSION, got
            self.model[lic].pop(dev, None)
            return
        moved = min(quantity, live[dev].units)
        if moved:
            self.changed()
        live[dev].units -= moved
        assert (got.status, got.quantity, got.checked_out) == (
            AuthStatus.SUCCESS,
            moved,
            live[dev].units,
        )
        assert got.available == self.available(lic)

    @rule(lic=st.sampled_from(list(RULES)))
    def validate(self, lic: str) -> None:
        got = self.run(self.licensing.validate(lic, [PRODUCT], None))
        assert got.status is AuthStatus.SUCCESS
        if not self.broken:  # while broken, expired holders cannot be ended: figures lag
            assert got.features[0].available == self.available(lic)

    @rule(seconds=st.sampled_from([1, WINDOW_S // 2 + 1, WINDOW_S + 1]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @rule(restart=st.booleans())
    def housekeeping(self, restart: bool) -> None:
        """The sweep, or a restart (load ends what expired meanwhile)."""
        if restart and not self.broken:
            self.run(self.store.close())
            self.licensing, self.store = self._open()
        else:
            self.refused_while_broken(self.licensing.upkeep.expire_due())
            if self.broken:
                return  # the sweep ended nothing (it skips, or its write fails)
        for lic in RULES:
            self.model[lic] = self.live(lic)

    @precondition(lambda self: self.broken or self.breaks == 0)
    @rule()
    def database_breaks_or_heals(self) -> None:
        """One episode per run of a database that refuses every write, then heals."""
        if not self.broken:
            self._sql(BREAK)
            self.broken, self.breaks = True, self.breaks + 1
            return
        self._sql(HEAL)
        self.broken = False
        for _ in range(200):  # bounded: the probe runs every 0.01-0.05 s here
            if self.store.writable:
                return
            self.run(asyncio.sleep(0.01))
        raise AssertionError("the store did not take writes again after the database healed")

    def _sql(self, statements: tuple[str, ...]) -> None:
        db = sqlite3.connect(self.dir / "lls.db", timeout=5)
        try:
            for statement in statements:
                db.execute(statement)
            db.commit()
        finally:
            db.close()

    # -- after every step -----------------------------------------------------------------

    @invariant()
    def rules_hold(self) -> None:
        now = self.clock.now()
        for lic, (seats, units) in RULES.items():
            state = self.licensing.state.licenses[lic]
            live = {d for d, s in state.sessions.items() if s.expires_at > now}
            assert live == set(self.live(lic)), (lic, live, self.model[lic])
            assert len(live) <= seats
            assert sum(state.in_use.values()) <= units
            assert set(state.held) <= set(self.licensing.state.by_id), (
                "units held by an ended session"
            )
            for dev in live:
                held = state.held.get(state.sessions[dev].id, {}).get("F", 0)
                assert held == self.model[lic][dev].units, (lic, dev)

    @invariant()
    def memory_equals_database(self) -> None:
        db = sqlite3.connect(self.dir / "lls.db")
        try:
            rows = set(db.execute("SELECT id, expires_at FROM sessions"))
            held = set(db.execute("SELECT session_id, feature, quantity FROM checkouts"))
        finally:
            db.close()
        memory = {(s.id, s.expires_at) for s in self.licensing.state.by_id.values()}
        in_memory = {
            (sid, code, q)
            for state in self.licensing.state.licenses.values()
            for sid, codes in state.held.items()
            for code, q in codes.items()
            if q
        }
        assert (memory, in_memory) == (rows, held)


@pytest.mark.timeout(300)
def test_rules_hold_after_every_step_against_the_model(
    instance: Instance, vendor: VendorKeys
) -> None:
    RulesMachine.instance, RulesMachine.vendor = instance, vendor
    run_state_machine_as_test(
        RulesMachine,
        settings=settings(
            max_examples=100,
            stateful_step_count=30,
            deadline=None,
            database=None,
            # No "explain" phase: it traces every line, which is slow on Python 3.11.
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


# Fixed runs of the same machine through the situations the issue names, so they are
# checked on every run whatever hypothesis explores.
SCRIPTS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "an expired holder's units go to the next device to activate": [
        ("a_device_holds_units", {"lic": "B", "quantity": 2}),
        ("time_passes", {"seconds": WINDOW_S + 1}),
        ("activate", {"lic": "B", "dev": "d1"}),
        ("checkout", {"pair": ("B", "d1"), "quantity": 3}),
    ],
    "an expired holder's units go to a live device that asks": [
        ("a_device_holds_units", {"lic": "B", "quantity": 2}),
        ("time_passes", {"seconds": WINDOW_S // 2 + 1}),
        ("activate", {"lic": "B", "dev": "d1"}),
        ("time_passes", {"seconds": WINDOW_S // 2 + 1}),
        ("checkout", {"pair": ("B", "d1"), "quantity": 3}),
        ("give_back", {"pair": ("B", "d1"), "quantity": 1}),
        ("validate", {"lic": "B"}),
    ],
    "the expired session's own checkout ends it": [
        ("a_device_holds_units", {"lic": "A", "quantity": 2}),
        ("time_passes", {"seconds": WINDOW_S + 1}),
        ("checkout", {"pair": ("A", "d0"), "quantity": 1}),
        ("activate", {"lic": "A", "dev": "d1"}),
        ("checkout", {"pair": ("A", "d1"), "quantity": 2}),
    ],
    "a database that refuses writes changes nothing, then heals": [
        ("a_device_holds_units", {"lic": "B", "quantity": 1}),
        ("database_breaks_or_heals", {}),
        ("activate", {"lic": "B", "dev": "d1"}),
        ("checkout", {"pair": ("B", "d0"), "quantity": 1}),
        ("extend", {"pair": ("B", "d0")}),
        ("validate", {"lic": "B"}),
        ("deactivate", {"pair": ("B", "d0")}),
        ("housekeeping", {"restart": False}),
        ("database_breaks_or_heals", {}),
        ("activate", {"lic": "B", "dev": "d1"}),
        ("housekeeping", {"restart": True}),
        ("deactivate", {"pair": ("B", "d0")}),
    ],
}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_rules_hold_through_the_scripted_faults(
    script: str, instance: Instance, vendor: VendorKeys
) -> None:
    RulesMachine.instance, RulesMachine.vendor = instance, vendor
    machine = RulesMachine()
    try:
        for name, args in SCRIPTS[script]:
            getattr(machine, name)(**args)
            machine.rules_hold()
            machine.memory_equals_database()
    finally:
        machine.teardown()
