"""The nodes of an instance on PostgreSQL: `lls init --store`, `lls node join`, the check at start.

`lls init --store URL` creates the instance as before (its data directory) and in the
database: the instance's keys, the pinned vendor keys, a hash of the admin token and this
machine as the first node. `lls node join` on another machine proves it holds the admin
token, gets the instance's files from the database and records that machine as a node.
Every `lls serve` on a store checks that the database is the instance's own (not a copy:
store.postgres.identity) and that this machine is one of its nodes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from lls.errors import Refused
from lls.instance import (
    KEY_FILE,
    TOKEN_FILE,
    VENDOR_FILE,
    Instance,
    init_instance,
    install_instance,
    this_machine,
)
from lls.protocol.machine import MachineRecord, hostname, same_machine
from lls.store.postgres.identity import (
    InstanceRow,
    NodeRow,
    add_node,
    check_binding,
    create_instance,
    migrated,
    read_instance,
    read_nodes,
)


@dataclass(frozen=True, slots=True)
class Node:
    """A node as the registration file and `lls status` name it."""

    hostname: str
    fingerprint: str


def token_digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode()).hexdigest()


def _node_row(instance_id: str, stable_id: str) -> NodeRow:
    print_, record = this_machine(instance_id, stable_id)
    return NodeRow(print_, hostname(), json.dumps(record.to_json()), time.time())


async def init_on_store(
    url: str, data_dir: Path, vendor_keys_file: Path, *, stable_id: str = ""
) -> Instance:
    """A new instance in `data_dir` and in the (empty) database at `url`, this machine its
    first node. Nothing is left behind when the database refuses."""
    async with migrated(url, "init") as conn:
        existing = await read_instance(conn)
        if existing is not None:
            raise Refused(
                f"this database already holds instance {existing.instance_id}; to add this"
                " machine to it, run `lls node join`",
                code="ALREADY_INITIALISED",
            )
        fresh = not data_dir.exists()  # noqa: ASYNC240 - a CLI command, no loop to block
        instance = init_instance(data_dir, vendor_keys_file, stable_id=stable_id)
        try:
            row = InstanceRow(
                instance_id=instance.instance_id,
                database_identity="",
                instance_key=(data_dir / KEY_FILE).read_text(encoding="utf-8"),
                vendor_keys=(data_dir / VENDOR_FILE).read_text(encoding="utf-8"),
                admin_token_sha256=token_digest(instance.admin_token),
            )
            await create_instance(conn, row, _node_row(instance.instance_id, stable_id))
        except BaseException:
            _remove_instance(data_dir, remove_dir=fresh)
            raise
    return instance


async def join_store(
    url: str, data_dir: Path, admin_token: str, *, stable_id: str = ""
) -> Instance:
    """This machine as a new node of the instance in the database at `url`."""
    async with migrated(url, "join") as conn:
        row = await read_instance(conn)
        if row is None or row.instance_key is None or row.vendor_keys is None:
            raise Refused(
                "this database holds no instance made by `lls init --store`; run that on"
                " the first node",
                code="NOT_INITIALISED",
            )
        expected = row.admin_token_sha256 or ""
        if not hmac.compare_digest(token_digest(admin_token), expected):
            raise Refused(
                "the admin token does not match this instance's; give the first node's"
                " admin.token with --admin-token-file",
                code="BAD_ADMIN_TOKEN",
            )
        await check_binding(conn, row.instance_id)
        fresh = not data_dir.exists()  # noqa: ASYNC240 - a CLI command, no loop to block
        instance = install_instance(
            data_dir,
            instance_id=row.instance_id,
            key_file=row.instance_key,
            vendor_file=row.vendor_keys,
            admin_token=admin_token.strip(),
            stable_id=stable_id,
        )
        try:
            await add_node(conn, _node_row(instance.instance_id, stable_id))
        except BaseException:
            _remove_instance(data_dir, remove_dir=fresh)
            raise
    return instance


async def check_node(url: str, instance: Instance, *, stable_id: str = "") -> list[Node]:
    """Refuse to serve unless the database is this instance's own and this machine one of
    its nodes; → the nodes."""
    async with migrated(url, "node check") as conn:
        row = await read_instance(conn)
        if row is None:
            raise Refused(
                "this database holds no instance: run `lls init --store URL` on the first"
                " node, `lls node join` on the others",
                code="NOT_INITIALISED",
            )
        await check_binding(conn, instance.instance_id)
        nodes = await read_nodes(conn)
    _, here = this_machine(instance.instance_id, stable_id)
    for node in nodes:
        recorded = MachineRecord.from_json(json.loads(node.machine))
        if recorded is not None and same_machine(recorded, here):
            return [Node(n.hostname, n.fingerprint) for n in nodes]
    raise Refused(
        f"this machine is not a node of instance {instance.instance_id}: join it with"
        f" `lls node join --store URL --data-dir D --admin-token-file T`"
        f" ({len(nodes)} node(s) joined: {', '.join(n.hostname for n in nodes) or 'none'})",
        code="NODE_NOT_JOINED",
    )


async def list_nodes(url: str) -> list[Node]:
    """The instance's nodes, oldest first (for the registration file)."""
    async with migrated(url, "nodes") as conn:
        return [Node(n.hostname, n.fingerprint) for n in await read_nodes(conn)]


def _remove_instance(data_dir: Path, *, remove_dir: bool) -> None:
    """Undo a half-made data directory (the database refused it)."""
    if remove_dir:
        shutil.rmtree(data_dir, ignore_errors=True)
        return
    for name in ("instance.json", KEY_FILE, VENDOR_FILE, TOKEN_FILE, "viewer.token"):
        (data_dir / name).unlink(missing_ok=True)
