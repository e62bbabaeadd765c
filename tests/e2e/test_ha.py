"""High availability on PostgreSQL, with real `lls serve` processes on one real database.

Two nodes share the instance (the same data directory files) and one PostgreSQL
database; the one holding the leader lock serves, the other stands by. Every test is
bounded: each client loop has a deadline, every wait a timeout.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lls.instance import Instance, load_instance, rebind_instance
from lls.sealed import PublicKeys, open_self_signed, read_sealed_file, write_sealed_file
from lls.sealed.payloads import TYP_REGISTRATION
from tests.e2e.conftest import Daemon, free_port, lls
from tests.pg import ADMIN_URL, admin
from tests.pools import PRODUCT, VendorKeys, grant, make_pool

pytestmark = pytest.mark.postgres

INSTANCE_FILES = ("instance.json", "instance.key", "vendor.jwks", "admin.token")
FAILOVER_LIMIT_S = 10.0


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _admin_sql(sql: str) -> None:
    conn = await admin()
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database of its own (the async tests/pg.py helper, for these synchronous tests)."""
    name = f"lls_test_{uuid.uuid4().hex[:16]}"
    _run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        _run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _node(data_dir: Path, url: str, machine: str) -> Daemon:
    """A node on `data_dir`; `machine` is its machine.id (LLS_MACHINE_ID), so two nodes on
    this one test machine are two machines to the fingerprint checks."""
    port = free_port()
    env = {
        "LLS_STORE_URL": url,
        "LLS_HA_ADVERTISE_URL": f"http://127.0.0.1:{port}",
        "LLS_MACHINE_ID": machine,
        "LLS_LOG_LEVEL": "INFO",
    }
    return Daemon(data_dir=data_dir, port=port, env=env)


@dataclass
class Pair:
    a: Daemon
    b: Daemon
    url: str
    instance: Instance
    vendor: VendorKeys
    started: list[Daemon] = field(default_factory=list)

    def start(self, node: Daemon) -> None:
        self.started.append(node)
        node.start()

    def import_pool(self, node: Daemon, licenses: list[dict[str, Any]], seq: int = 1) -> None:
        raw = make_pool(self.vendor, self.instance, licenses, seq=seq)
        request = urllib.request.Request(
            node.url_for("/admin/v1/pool"),
            data=raw.encode(),
            method="POST",
            headers={"Authorization": f"Bearer {node.admin_token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert resp.status == 200


def _init_and_join(tmp_path: Path, vendor: VendorKeys, url: str) -> tuple[Path, Path]:
    """`lls init --store` on machine a, `lls node join` on machine b, as an admin would."""
    jwks = vendor.write_jwks(tmp_path / "vendor.jwks")
    first, second = tmp_path / "node-a", tmp_path / "node-b"
    store = ["--store", url]
    lls("init", *store, "--data-dir", str(first), "--vendor-keys", str(jwks),
        env={"LLS_MACHINE_ID": "machine-a"})  # fmt: skip
    token = tmp_path / "token-copy"
    shutil.copy2(first / "admin.token", token)
    joined = lls("node", "join", *store, "--data-dir", str(second), "--admin-token-file",
                 str(token), env={"LLS_MACHINE_ID": "machine-b"})  # fmt: skip
    assert "joined this machine" in joined.stdout
    return first, second


@pytest.fixture
def pair(tmp_path: Path, vendor: VendorKeys, pg_url: str) -> Iterator[Pair]:
    """Node a made by `lls init --store`, node b by `lls node join`; neither started yet."""
    first, second = _init_and_join(tmp_path, vendor, pg_url)
    instance = load_instance(first)
    p = Pair(
        _node(first, pg_url, "machine-a"),
        _node(second, pg_url, "machine-b"),
        pg_url,
        instance,
        vendor,
    )
    yield p
    for node in p.started:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait(10)


def _open_registration(pair: Pair, token: str) -> dict[str, Any]:
    """As the vendor opens it: encrypted to the vendor, signed by the instance's keys."""
    opened = open_self_signed(
        token,
        typ=TYP_REGISTRATION,
        recipient=pair.vendor.keys,
        claimed_keys=lambda raw: PublicKeys.from_jwks(json.loads(raw)["keys"]),
    )
    return json.loads(opened.payload)  # type: ignore[no-any-return]


def _call(node: Daemon, endpoint: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a client call; (status, body); status 0 when the node does not answer."""
    request = urllib.request.Request(
        f"{node.url}/licensing/{endpoint}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")
    except OSError:
        return 0, None


def _activate(node: Daemon, token: str, ctx: str) -> tuple[int, Any]:
    return _call(
        node, "activate", {"licenseToken": token, "productCodes": [PRODUCT], "authContext": ctx}
    )


def _wait_role(
    node: Daemon, role: str, timeout: float = 15.0, leader: str | None = None
) -> dict[str, Any]:
    """Wait until /readyz shows `role` (and names `leader`, when given: a standby reads the
    leader's URL from the database once a second)."""
    deadline = time.monotonic() + timeout
    doc: Any = None
    while time.monotonic() < deadline:
        try:
            _, doc = node.get("/readyz")
        except OSError:
            doc = None
        shown = isinstance(doc, dict) and doc.get("role") == role
        if shown and (leader is None or doc.get("leader") == leader):
            return doc  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"{node.url} never became {role}: {doc}\n{node.log_path.read_text()}")


def _live_contexts(node: Daemon) -> set[str]:
    status, doc = node.admin("/admin/v1/sessions")
    assert status == 200, doc
    return {s["authContext"] for s in doc["sessions"]}


def _lock_holder_pid(url: str) -> int:
    async def find() -> int:
        conn = await asyncpg.connect(url)
        try:
            pid = await conn.fetchval(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        finally:
            await conn.close()
        assert pid is not None, "nobody holds the leader lock"
        return int(pid)

    return _run(find())  # type: ignore[no-any-return]


def _terminate(url: str, pid: int) -> None:
    async def kill() -> None:
        conn = await asyncpg.connect(url)
        try:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await conn.close()

    _run(kill())


def test_standby_refuses_then_takes_over_within_10_s_with_every_acknowledged_session(
    pair: Pair,
) -> None:
    pair.start(pair.a)
    _wait_role(pair.a, "leader")
    pair.start(pair.b)
    _wait_role(pair.b, "standby", leader=pair.a.url)
    pair.import_pool(pair.a, [grant("LIC-HA", seats=30)])
    # A standby answers the client API with 503 NOT_LEADER, Retry-After: 1.
    status, body = _activate(pair.b, "LIC-HA", "refused")
    assert status == 503 and body["code"] == "NOT_LEADER", body
    request = urllib.request.Request(f"{pair.b.url}/licensing/validate", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.headers["Retry-After"] == "1"
    refused.value.close()
    assert pair.b.get("/healthz")[0] == 200
    # /metrics says which node serves: the standby 0, the leader 1 (alert LLSNoLeader).
    assert "\nlls_node_leading 0\n" in pair.b.get("/metrics")[1]
    assert "\nlls_node_leading 1\n" in pair.a.get("/metrics")[1]
    status, doc = pair.b.admin("/admin/v1/status")
    assert status == 200 and doc["role"] == "standby" and doc["leader"] == pair.a.url
    with pytest.raises(urllib.error.HTTPError) as dashboard:  # no stale dashboard either
        urllib.request.urlopen(f"{pair.b.admin_url}/ui/", timeout=5)
    assert dashboard.value.code == 503
    dashboard.value.close()
    shown = lls("status", "--data-dir", str(pair.b.data_dir)).stdout
    assert "standby" in shown and pair.a.url in shown, shown
    assert "leader" in lls("status", "--data-dir", str(pair.a.data_dir)).stdout

    acknowledged = []
    for i in range(20):
        status, body = _activate(pair.a, "LIC-HA", f"host-{i}")
        assert status == 200 and body["authStatus"] == "Success", body
        acknowledged.append(f"host-{i}")

    pair.a.signal(signal.SIGKILL)
    killed = time.monotonic()
    pair.a.proc.wait(10)  # type: ignore[union-attr]
    served = None
    while time.monotonic() - killed < FAILOVER_LIMIT_S + 5:
        status, body = _activate(pair.b, "LIC-HA", "after-failover")
        if status == 200 and body["authStatus"] == "Success":
            served = time.monotonic() - killed
            break
        assert status in (0, 503), body
        time.sleep(0.02)
    print(f"\nfailover: first Success on the standby {served:.2f} s after kill -9 of the leader")
    assert served is not None and served < FAILOVER_LIMIT_S
    assert set(acknowledged) <= _live_contexts(pair.b)

    # The old leader, restarted, comes back as a standby that names the new leader.
    pair.start(pair.a)
    _wait_role(pair.a, "standby", leader=pair.b.url)
    assert _activate(pair.a, "LIC-HA", "host-0")[0] == 503


def test_fenced_leader_answers_no_success_after_its_lock_connection_dies(pair: Pair) -> None:
    seats, clients = 10, 24
    pair.start(pair.a)
    _wait_role(pair.a, "leader")
    pair.start(pair.b)
    _wait_role(pair.b, "standby")
    pair.import_pool(pair.a, [grant("LIC-FENCE", seats=seats)])
    ledger: list[tuple[float, float, str, str, int, str]] = []  # sent, got, node, ctx, status
    lock = threading.Lock()
    cut: list[float] = []
    deadline = time.monotonic() + 12

    def client(n: int) -> None:
        ctx = f"client-{n}"
        nodes = [pair.a, pair.b] if n % 2 else [pair.b, pair.a]
        turn = 0
        time.sleep(n * 0.1)  # clients arrive over 2.4 s: before the cut and after it
        while time.monotonic() < deadline:
            node = nodes[turn % 2]
            sent = time.monotonic()
            status, body = _activate(node, "LIC-FENCE", ctx)
            code = body.get("authStatus", "") if isinstance(body, dict) else ""
            with lock:
                ledger.append((sent, time.monotonic(), node.url, ctx, status, code))
            if status == 200 and code == "Success":
                return
            if status == 200:  # no seat free now: try again a little later
                time.sleep(0.2)
            turn += 1
            time.sleep(0.02)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(client, n) for n in range(clients)]
        time.sleep(0.8)  # the first clients are served by the leader
        pid = _lock_holder_pid(pair.url)
        _terminate(pair.url, pid)  # returns once the server signalled the lock's backend
        cut.append(time.monotonic())
        for f in futures:
            f.result(timeout=30)

    moment = cut[0]
    served = [e for e in ledger if e[5] == "Success"]
    assert any(e[2] == pair.a.url and e[1] < moment for e in served), "a never served"
    assert any(e[2] == pair.b.url and e[0] > moment for e in served), "b never took over"
    after = [e for e in served if e[2] == pair.a.url and e[0] > moment]
    assert after == [], after
    _wait_role(pair.b, "leader")
    wins = {e[3] for e in ledger if e[5] == "Success"}
    assert len(wins) <= seats, wins  # never more sessions than seats, over both nodes
    assert len(wins) == seats  # more clients than seats: every seat was granted in the end
    assert wins <= _live_contexts(pair.b)  # nothing acknowledged was lost
    assert len(_live_contexts(pair.b)) == seats


def test_forty_concurrent_activates_on_three_seats_over_both_nodes_during_failover(
    pair: Pair,
) -> None:
    pair.start(pair.a)
    _wait_role(pair.a, "leader")
    pair.start(pair.b)
    _wait_role(pair.b, "standby")
    pair.import_pool(pair.a, [grant("LIC-THREE", seats=3)])
    successes: list[str] = []
    lock = threading.Lock()
    go = threading.Event()
    deadline = time.monotonic() + 25

    def client(n: int) -> None:
        ctx = f"desk-{n}"
        nodes = [pair.a, pair.b] if n % 2 else [pair.b, pair.a]
        go.wait(5)
        turn = 0
        while time.monotonic() < deadline:
            status, body = _activate(nodes[turn % 2], "LIC-THREE", ctx)
            if status == 200:
                if body["authStatus"] == "Success":
                    with lock:
                        successes.append(ctx)
                return  # an answer: Success, or the seats are taken
            turn += 1
            time.sleep(0.05)

    with ThreadPoolExecutor(max_workers=40) as pool:
        futures = [pool.submit(client, n) for n in range(40)]
        pair.a.signal(signal.SIGKILL)  # the leader dies as the 40 start
        go.set()
        for f in futures:
            f.result(timeout=40)
    _wait_role(pair.b, "leader")
    assert len(successes) <= 3, successes
    assert set(successes) <= _live_contexts(pair.b)
    assert len(_live_contexts(pair.b)) <= 3


def test_a_copy_of_the_database_is_refused_until_rebound(pair: Pair, tmp_path: Path) -> None:
    pair.start(pair.a)
    _wait_role(pair.a, "leader")
    pair.import_pool(pair.a, [grant("LIC-COPY", seats=2)])
    assert pair.a.stop() == 0
    original = pair.url.rsplit("/", 1)[1]
    copy = f"{original}_copy"
    copy_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + copy
    _run(_admin_sql(f'CREATE DATABASE "{copy}" TEMPLATE "{original}"'))
    try:
        copied = _node(pair.b.data_dir, copy_url, "machine-b")
        with pytest.raises(AssertionError, match=r"DATABASE_COPIED|is a copy"):
            copied.start()
        assert copied.proc is not None and copied.proc.wait(10) != 0
        # Rebound through the vendor (a new registration): the copy serves, but none of
        # the pools issued before the rebind — its seats were the original's.
        env = {"LLS_MACHINE_ID": "machine-b", "LLS_STORE_URL": copy_url}
        out = tmp_path / "rebind.lls"
        lls("registration", "--rebind", "--data-dir", str(pair.b.data_dir), "--out", str(out),
            env=env)  # fmt: skip
        pair.start(copied)
        ready = _wait_role(copied, "leader")
        assert ready["ready"] is False and "no pool imported" in ready["problems"]
        copied.stop()
    finally:
        _run(_admin_sql(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
    # The original still serves its pool on machine a.
    pair.start(pair.a)
    assert _wait_role(pair.a, "leader")["ready"] is True


def test_a_pool_imported_while_no_node_runs_is_served_by_the_first_to_lead(
    pair: Pair, tmp_path: Path
) -> None:
    pool = tmp_path / "pool.lls"
    write_sealed_file(pool, make_pool(pair.vendor, pair.instance, [grant("LIC-OFF", seats=1)]), {})
    env = {"LLS_MACHINE_ID": "machine-b", "LLS_STORE_URL": pair.url}
    lls("pool", "import", str(pool), "--data-dir", str(pair.b.data_dir), env=env)
    pair.start(pair.a)
    assert _wait_role(pair.a, "leader")["ready"] is True
    status, body = _activate(pair.a, "LIC-OFF", "h1")
    assert status == 200 and body["authStatus"] == "Success", body


def test_sdk_with_several_urls_moves_past_a_dead_node_and_a_standby(pair: Pair) -> None:
    from lls.client import LicenseClient
    from lls.client.errors import ServerError, ServerUnreachable

    pair.start(pair.a)
    _wait_role(pair.a, "leader")
    pair.start(pair.b)
    _wait_role(pair.b, "standby")
    pair.import_pool(pair.a, [grant("LIC-SDK", seats=2)])
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    async def run() -> tuple[str, str, float]:
        async with LicenseClient([nobody, pair.b.url, pair.a.url], auth_context="ws-1") as client:
            first = await client.activate("LIC-SDK", PRODUCT)
            assert first.ok and client.url == pair.a.url
            pair.a.kill9()
            killed = time.monotonic()
            while True:  # a caller's retry: each call goes once round the three URLs
                try:
                    again = await client.activate("LIC-SDK", PRODUCT)
                    break
                except (ServerError, ServerUnreachable):
                    assert time.monotonic() - killed < FAILOVER_LIMIT_S
                    await asyncio.sleep(0.2)
            assert again.ok
            return first.auth_status.value, client.url, time.monotonic() - killed

    status, url, _ = _run(run())
    assert status == "Success" and url == pair.b.url


def test_a_machine_not_joined_is_refused_and_the_registration_lists_the_nodes(
    pair: Pair, tmp_path: Path
) -> None:
    # The instance files copied to machine c, its local record rewritten for c: the data
    # directory check passes, but c is not a node of the instance in the database.
    third = tmp_path / "node-c"
    third.mkdir(mode=0o700)
    for name in INSTANCE_FILES:
        shutil.copy2(pair.a.data_dir / name, third / name)
    rebind_instance(third, stable_id="machine-c", now=time.time())
    stranger = _node(third, pair.url, "machine-c")
    with pytest.raises(AssertionError, match=r"NODE_NOT_JOINED|not a node of instance"):
        stranger.start()
    # The joined nodes serve; the registration names both.
    pair.start(pair.a)
    _wait_role(pair.a, "leader")
    out = tmp_path / "registration.lls"
    env = {"LLS_MACHINE_ID": "machine-a", "LLS_STORE_URL": pair.url}
    lls("registration", "--data-dir", str(pair.a.data_dir), "--out", str(out), env=env)
    reg = _open_registration(pair, read_sealed_file(out))
    assert [n["hostname"] for n in reg["nodes"]] == [socket.gethostname()] * 2
    assert len({n["fingerprint"] for n in reg["nodes"]}) == 2


def test_join_needs_the_admin_token_and_init_refuses_a_database_in_use(
    pair: Pair, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token-of-this-instance\n")
    refused = lls("node", "join", "--store", pair.url, "--data-dir", str(tmp_path / "node-x"),
                  "--admin-token-file", str(wrong), env={"LLS_MACHINE_ID": "machine-x"},
                  check=False)  # fmt: skip
    assert refused.returncode != 0 and "admin token does not match" in refused.stderr
    assert not (tmp_path / "node-x" / "instance.key").exists()
    again = lls("init", "--store", pair.url, "--data-dir", str(tmp_path / "node-y"),
                "--vendor-keys", str(tmp_path / "vendor.jwks"), check=False)  # fmt: skip
    assert again.returncode != 0 and "already holds instance" in again.stderr
    assert not (tmp_path / "node-y").exists()
