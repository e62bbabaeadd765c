"""Rows ↔ domain models, written once for both stores.

Each backend runs its own SQL through its own driver and hands the rows it fetched
(sqlite3 tuples, asyncpg Records: both indexed by position, in the column order named
here) to these functions, so a session, an offline activation, an audit event or the
whole `Snapshot` reads back the same from either database; the contract tests
(tests/store/test_contract.py) hold both to it. The few values both write paths encode
alike (a session's client columns, an offline activation's row) are here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from lls.domain.models import AuditEvent, ClientInfo, OfflineActivation, Session
from lls.domain.ports import PoolImport, Snapshot, StoredPool, UsageFile
from lls.domain.records import SaveOffline
from lls.store.history_rows import hour_row, sum_denials

# The column lists the readers below expect, in order (the SELECTs of both stores name them).
SESSION_COLUMNS = (
    "id, license, auth_context, started_at, expires_at, client_address,"
    " client_hostname, client_user, client_application, client_version"
)
OFFLINE_COLUMNS = (
    "id, license, auth_context, device_kid, device_keys, nonce, activated_at,"
    " lease_expires_at, deactivated_at, kind"
)
EVENT_COLUMNS = "id, at, type, license, auth_context, data, prev_hash, hash"
POOL_IMPORT_COLUMNS = "seq, iat, exp, org_id, ack_usage_seq, imported_at"
USAGE_FILE_COLUMNS = "seq, last_event_id, created_at"
DAY_S = 86_400  # the snapshot's history denials cover the newest stored hour's day


def client_columns(info: ClientInfo | None) -> tuple[str | None, ...]:
    """clientInfo as the sessions table's four columns."""
    if info is None:
        return (None, None, None, None)
    return (info.hostname, info.user, info.application, info.version)


def offline_values(record: SaveOffline) -> tuple[Any, ...]:
    """An offline activation's row, in OFFLINE_COLUMNS order."""
    return (
        record.id,
        record.license,
        record.auth_context,
        record.device_kid,
        json.dumps(record.device_keys),
        record.nonce,
        record.activated_at,
        record.lease_expires_at,
        record.deactivated_at,
        record.kind,
    )


def session(r: Any) -> Session:
    """A row in SESSION_COLUMNS order."""
    return Session(
        id=str(r[0]),
        license=str(r[1]),
        auth_context=str(r[2]),
        started_at=float(r[3]),
        expires_at=float(r[4]),
        client_address=r[5],
        client_info=ClientInfo(*r[6:10]) if any(r[6:10]) else None,
    )


def offline(r: Any) -> OfflineActivation:
    """A row in OFFLINE_COLUMNS order."""
    return OfflineActivation(
        id=str(r[0]),
        license=str(r[1]),
        auth_context=str(r[2]),
        device_kid=str(r[3]),
        device_keys=json.loads(r[4]),
        nonce=str(r[5]),
        activated_at=float(r[6]),
        lease_expires_at=float(r[7]),
        deactivated_at=float(r[8]) if r[8] is not None else None,
        kind=str(r[9]),
    )


def event(r: Any) -> AuditEvent:
    """A row in EVENT_COLUMNS order."""
    return AuditEvent(
        id=int(r[0]),
        at=float(r[1]),
        type=str(r[2]),
        license=r[3],
        auth_context=r[4],
        data=json.loads(r[5]),
        prev_hash=r[6],
        hash=r[7],
    )


def pool_import(r: Any) -> PoolImport:
    """A row in POOL_IMPORT_COLUMNS order."""
    return PoolImport(int(r[0]), float(r[1]), float(r[2]), str(r[3]), int(r[4]), float(r[5]))


def usage_file(r: Any) -> UsageFile:
    """A row in USAGE_FILE_COLUMNS order."""
    return UsageFile(int(r[0]), int(r[1]), float(r[2]))


def snapshot(
    *,
    pool: Any,
    sessions: Iterable[Any],
    meta: Iterable[Any],
    peaks: Iterable[Any],
    held: Iterable[Any],
    consumed: Iterable[Any],
    flags: Iterable[Any],
    environments: Iterable[Any],
    offline_rows: Iterable[Any],
    last_export_at: Any,
    history: Iterable[Any],
    denials: Iterable[Any],
) -> Snapshot:
    """The Snapshot from the rows one read transaction fetched, table by table.

    `pool` is the newest pool as (seq, raw, ack_usage_seq, imported_at) or None; `meta`,
    `peaks`, `environments` are (key, value) rows; `held` and `consumed` the checkouts'
    and consumption's three columns; `flags` (license, bound_context, first_activated_at,
    locked_at); `last_export_at` the newest usage file's time or None; `history` the
    newest hour's rows (history_rows.COLUMNS) and `denials` the (denials,) of its day.
    """
    return Snapshot(
        history=[hour_row(r) for r in history],
        history_denied=sum_denials(denials),
        last_export_at=float(last_export_at) if last_export_at is not None else None,
        offline=[offline(r) for r in offline_rows],
        pool=StoredPool(
            seq=int(pool[0]),
            raw=str(pool[1]),
            ack_usage_seq=int(pool[2]),
            imported_at=float(pool[3]),
        )
        if pool is not None
        else None,
        sessions=[session(r) for r in sessions],
        meta={str(r[0]): str(r[1]) for r in meta},
        peaks={str(r[0]): int(r[1]) for r in peaks},
        held=[(str(r[0]), str(r[1]), int(r[2])) for r in held],
        consumed={(str(r[0]), str(r[1])): int(r[2]) for r in consumed},
        flags={str(r[0]): (r[1], r[2], r[3]) for r in flags},
        environments={str(r[0]): str(r[1]) for r in environments},
    )
