"""Write records → PostgreSQL statements, merged into as few round trips as order allows.

A batch of the group-commit writer holds the records of many requests, e.g. 64 activates
= 64 × (insert session, insert event, upsert peak). Sent one by one that is 192 round
trips; asyncpg sends the rows of one `executemany` pipelined, so the planner turns a batch
into *runs*: (statement, rows) pairs executed in order, each one round trip.

A record joins the newest earlier run of its own statement when it commutes with every
record of every run after that one; otherwise it starts a new run at the end. Two records
commute unless they touch a common key (table, row) — a key of None means the whole
table. The result is the same database state as applying the records one by one in order
(the contract tests compare it with SQLite's), because only commuting records are
reordered. Keys are conservative on purpose: ending a session touches every session
"slot" (the unique license/authContext pair), so an activate after a deactivate in the
same batch never runs before it.

Audit events get their id and chain hash here, in record order, exactly as
`sealed/chain.py` defines them; their rows may then be inserted in any order.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from lls.domain.records import (
    AppendEvent,
    BindEnvironment,
    EndSession,
    ForgetContexts,
    NoteContexts,
    PruneContexts,
    PruneEvents,
    PruneHistory,
    Record,
    RecordExport,
    ReleaseEnvironment,
    SaveHistory,
    SaveOffline,
    SavePool,
    SetConsumed,
    SetHeld,
    SetLicenseFlags,
    SetMeta,
    SetPeak,
    SetSessionClient,
    StartSession,
    TouchSession,
)
from lls.sealed.chain import chain_hash
from lls.store.history_rows import COLUMNS as HISTORY_COLUMNS
from lls.store.history_rows import row_values
from lls.store.rows import client_columns, offline_values

Key = tuple[str, Hashable | None]  # (table, row key); None: every row of the table
Head = tuple[int, str]  # (id, hash) of the newest audit event ever appended

TOUCH = "UPDATE sessions SET expires_at = $2, extends = extends + 1 WHERE id = $1"
START = (
    "INSERT INTO sessions (id, license, auth_context, started_at, expires_at, client_address,"
    " client_hostname, client_user, client_application, client_version)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)
HOLDER = (
    "UPDATE sessions SET client_address = $2, client_hostname = $3, client_user = $4,"
    " client_application = $5, client_version = $6 WHERE id = $1"
)
END = "DELETE FROM sessions WHERE id = $1"
EVENT = (
    "INSERT INTO events (id, at, type, license, auth_context, data, prev_hash, hash)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
POOL = (
    "INSERT INTO pools (seq, iat, exp, org_id, ack_usage_seq, imported_at, raw)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
POOL_DROP_OLDER_RAW = "UPDATE pools SET raw = '' WHERE seq < $1"
META = (
    "INSERT INTO meta (key, value) VALUES ($1, $2)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
HELD = (
    "INSERT INTO checkouts (session_id, feature, quantity) VALUES ($1, $2, $3)"
    " ON CONFLICT (session_id, feature) DO UPDATE SET quantity = excluded.quantity"
)
UNHELD = "DELETE FROM checkouts WHERE session_id = $1 AND feature = $2"
CONSUMED = (
    "INSERT INTO consumption (license, feature, consumed) VALUES ($1, $2, $3)"
    " ON CONFLICT (license, feature) DO UPDATE SET consumed = excluded.consumed"
)
FLAGS = (
    "INSERT INTO license_flags (license, bound_context, first_activated_at, locked_at)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (license) DO UPDATE SET"
    " bound_context = excluded.bound_context,"
    " first_activated_at = excluded.first_activated_at, locked_at = excluded.locked_at"
)
BIND = (
    "INSERT INTO environments (auth_context, org_id, bound_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (auth_context) DO NOTHING"
)
RELEASE = "DELETE FROM environments WHERE auth_context = $1"
OFFLINE = (
    "INSERT INTO offline_activations (id, license, auth_context, device_kid, device_keys,"
    " nonce, activated_at, lease_expires_at, deactivated_at, kind)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO UPDATE SET"
    " license = excluded.license, auth_context = excluded.auth_context,"
    " device_kid = excluded.device_kid, device_keys = excluded.device_keys,"
    " nonce = excluded.nonce, activated_at = excluded.activated_at,"
    " lease_expires_at = excluded.lease_expires_at, deactivated_at = excluded.deactivated_at,"
    " kind = excluded.kind"
)
EXPORT = (
    "INSERT INTO usage_exports (seq, last_event_id, chain_head, created_at) VALUES ($1, $2, $3, $4)"
)
# Deleting acknowledged events keeps the newest deleted one's id and hash in meta, so the
# chain continues after every event was pruned. One statement: its parts see one snapshot.
PRUNE = (
    "WITH newest AS (SELECT id, hash FROM events WHERE id <= $1 ORDER BY id DESC LIMIT 1),"
    " kept AS (INSERT INTO meta (key, value)"
    " SELECT 'pruned_id', id::text FROM newest UNION ALL SELECT 'pruned_hash', hash FROM newest"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value)"
    " DELETE FROM events WHERE id <= $1"
)
PEAK = (
    "INSERT INTO license_stats (license, peak_sessions) VALUES ($1, $2)"
    " ON CONFLICT (license) DO UPDATE SET"
    " peak_sessions = greatest(license_stats.peak_sessions, excluded.peak_sessions)"
)
HISTORY = (
    f"INSERT INTO history_hours ({HISTORY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"  # noqa: S608
    " ON CONFLICT (license, hour) DO UPDATE SET peak_sessions = excluded.peak_sessions,"
    " started = excluded.started, denials = excluded.denials,"
    " peak_units = excluded.peak_units, consumed = excluded.consumed"
)
HISTORY_PRUNE = "DELETE FROM history_hours WHERE hour < $1"

NOTE_CONTEXT = (
    "INSERT INTO misuse_contexts (license, auth_context, seen_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (license, auth_context) DO UPDATE"
    " SET seen_at = greatest(misuse_contexts.seen_at, excluded.seen_at)"
)
PRUNE_CONTEXTS = "DELETE FROM misuse_contexts WHERE seen_at < $1"
FORGET_CONTEXTS = "DELETE FROM misuse_contexts WHERE license = $1"

_json = msgspec.json.Encoder()


@dataclass(slots=True)
class Run:
    """One statement and the rows it runs for, in order: one round trip."""

    sql: str
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    keys: set[Key] = field(default_factory=set)
    tables: set[str] = field(default_factory=set)  # tables this run touches as a whole


def plan(batches: Iterable[Sequence[Record]], head: Head) -> tuple[list[Run], Head]:
    """The runs that apply `batches` (in order) and the chain head after them."""
    runs: list[Run] = []
    for records in batches:
        for record in records:
            if isinstance(record, AppendEvent):
                row = _event_row(record, head)
                head = (row[0], row[7])
                _place(runs, EVENT, row, [("events", row[0])])
                continue
            for sql, row, keys in _statements(record):
                _place(runs, sql, row, keys)
    return runs, head


def _place(runs: list[Run], sql: str, row: tuple[Any, ...], keys: list[Key]) -> None:
    """Append `row` to the newest run of `sql` it may move back to, or open a new run."""
    target: Run | None = None
    for run in reversed(runs):
        if run.sql == sql:
            target = run
            break
        if _conflicts(run, keys):
            break
    if target is None:
        target = Run(sql)
        runs.append(target)
    target.rows.append(row)
    for table, key in keys:
        if key is None:
            target.tables.add(table)
        else:
            target.keys.add((table, key))


def _conflicts(run: Run, keys: list[Key]) -> bool:
    for table, key in keys:
        if table in run.tables:
            return True
        if key is None:
            if any(t == table for t, _ in run.keys):
                return True
        elif (table, key) in run.keys:
            return True
    return False


def _statements(record: Record) -> list[tuple[str, tuple[Any, ...], list[Key]]]:
    """The statements of one record, each with its row and the keys it touches."""
    row: tuple[Any, ...]
    match record:
        case StartSession():
            row = (record.id, record.license, record.auth_context, record.started_at)
            holder = (record.client_address, *client_columns(record.client_info))
            return [
                (
                    START,
                    (*row, record.expires_at, *holder),
                    [("sessions", record.id), ("slots", (record.license, record.auth_context))],
                )
            ]
        case SetSessionClient():
            holder = (record.client_address, *client_columns(record.client_info))
            return [(HOLDER, (record.id, *holder), [("sessions", record.id)])]
        case TouchSession(id=sid, expires_at=expires_at):
            return [(TOUCH, (sid, expires_at), [("sessions", sid)])]
        case EndSession(id=sid):
            return [(END, (sid,), [("sessions", sid), ("slots", None)])]
        case SavePool():
            row = (record.seq, record.iat, record.exp, record.org_id, record.ack_usage_seq)
            keys: list[Key] = [("pools", None)]
            return [
                (POOL, (*row, record.imported_at, record.raw), keys),
                (POOL_DROP_OLDER_RAW, (record.seq,), keys),
            ]
        case SetMeta(key=key, value=value):
            return [(META, (key, value), [("meta", key)])]
        case SetHeld(session_id=sid, feature=feature, quantity=quantity):
            keys = [("sessions", sid)]  # the row goes with its session (foreign key, cascade)
            if quantity > 0:
                return [(HELD, (sid, feature, quantity), keys)]
            return [(UNHELD, (sid, feature), keys)]
        case SetConsumed(license=lic, feature=feature, consumed=consumed):
            return [(CONSUMED, (lic, feature, consumed), [("consumption", (lic, feature))])]
        case SetLicenseFlags():
            row = (record.license, record.bound_context, record.first_activated_at)
            return [(FLAGS, (*row, record.locked_at), [("flags", record.license)])]
        case BindEnvironment(auth_context=ctx, org_id=org_id, bound_at=bound_at):
            return [(BIND, (ctx, org_id, bound_at), [("environments", ctx)])]
        case ReleaseEnvironment(auth_context=ctx):
            return [(RELEASE, (ctx,), [("environments", ctx)])]
        case SaveOffline():
            return [(OFFLINE, offline_values(record), [("offline", record.id)])]
        case RecordExport():
            row = (record.seq, record.last_event_id, record.chain_head, record.created_at)
            return [(EXPORT, row, [("exports", record.seq)])]
        case PruneEvents(up_to_id=up_to):
            return [(PRUNE, (up_to,), [("events", None), ("meta", None)])]
        case SetPeak(license=lic, peak_sessions=peak):
            return [(PEAK, (lic, peak), [("peaks", lic)])]
        case NoteContexts(seen=seen):
            return [
                (NOTE_CONTEXT, (lic, ctx, at), [("contexts", (lic, ctx))]) for lic, ctx, at in seen
            ]
        case PruneContexts(before=before):
            return [(PRUNE_CONTEXTS, (before,), [("contexts", None)])]
        case ForgetContexts(license=lic):
            return [(FORGET_CONTEXTS, (lic,), [("contexts", None)])]
        case SaveHistory(rows=rows):
            return [(HISTORY, row_values(r), [("history", (r.license, r.hour))]) for r in rows]
        case PruneHistory(before=before):
            return [(HISTORY_PRUNE, (before,), [("history", None)])]
        case AppendEvent():  # pragma: no cover - planned by `plan` (it needs the chain head)
            pass
    raise TypeError(f"no statement for record {type(record).__name__}")


def _event_row(event: AppendEvent, head: Head) -> tuple[Any, ...]:
    """The event's row: the next id, and its hash chained to the head (sealed/chain.py)."""
    event_id, prev = head[0] + 1, head[1]
    digest = chain_hash(
        prev_hash=prev,
        event_id=event_id,
        at=event.at,
        type=event.type,
        license=event.license,
        auth_context=event.auth_context,
        data=event.data,
    )
    data = _json.encode(event.data).decode()
    return (event_id, event.at, event.type, event.license, event.auth_context, data, prev, digest)
