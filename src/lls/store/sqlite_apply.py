"""The SQLite write path: a batch's records applied on the writer thread.

`Applier.apply` is what the group-commit writer (writer.py) runs inside its transaction
for every batch; it also owns the head of the audit chain, which each appended event
continues and which a rollback sends back to what the database holds. All SQL that
changes the SQLite file outside migrations is here.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

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
from lls.sealed.chain import GENESIS_HASH, chain_hash
from lls.store.history_rows import COLUMNS as HISTORY_COLUMNS
from lls.store.history_rows import row_values
from lls.store.rows import client_columns, offline_values


class Applier:
    """Applies records to the writer's connection, chaining audit events to the head."""

    def __init__(self) -> None:
        # The head of the audit chain: the newest event ever committed (pruned or not).
        self.last_id = 0
        self.last_hash = GENESIS_HASH
        self.head_unknown = False

    def start_from(self, conn: sqlite3.Connection) -> None:
        """Continue the chain from what the freshly opened database holds."""
        self.last_id, self.last_hash = chain_head(conn)

    def reread_head(self, conn: sqlite3.Connection) -> None:
        """After a rollback the chain continues from what the database holds, nothing else."""
        try:
            self.last_id, self.last_hash = chain_head(conn)
            self.head_unknown = False
        except sqlite3.Error:  # unreadable now: the next batch reads it first
            self.head_unknown = True

    def apply(self, conn: sqlite3.Connection, records: Sequence[Record]) -> None:
        """Run each record's statements in order (inside the writer's open transaction)."""
        if self.head_unknown:  # raises while unreadable: the batch fails, nothing is chained
            self.last_id, self.last_hash = chain_head(conn)
            self.head_unknown = False
        for record in records:
            match record:
                case TouchSession(id=sid, expires_at=expires_at):
                    conn.execute(
                        "UPDATE sessions SET expires_at = ?, extends = extends + 1 WHERE id = ?",
                        (expires_at, sid),
                    )
                case StartSession():
                    conn.execute(
                        "INSERT INTO sessions (id, license, auth_context, started_at, expires_at,"
                        " client_address, client_hostname, client_user, client_application,"
                        " client_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            record.id,
                            record.license,
                            record.auth_context,
                            record.started_at,
                            record.expires_at,
                            record.client_address,
                            *client_columns(record.client_info),
                        ),
                    )
                case SetSessionClient():
                    conn.execute(
                        "UPDATE sessions SET client_address = ?, client_hostname = ?,"
                        " client_user = ?, client_application = ?, client_version = ?"
                        " WHERE id = ?",
                        (record.client_address, *client_columns(record.client_info), record.id),
                    )
                case EndSession(id=sid):
                    conn.execute("DELETE FROM sessions WHERE id = ?", (sid,))
                case AppendEvent():
                    self._append_event(conn, record)
                case SavePool():
                    conn.execute(
                        "INSERT INTO pools (seq, iat, exp, org_id, ack_usage_seq, imported_at, raw)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            record.seq,
                            record.iat,
                            record.exp,
                            record.org_id,
                            record.ack_usage_seq,
                            record.imported_at,
                            record.raw,
                        ),
                    )
                    conn.execute("UPDATE pools SET raw = '' WHERE seq < ?", (record.seq,))
                case SetMeta(key=key, value=value):
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES (?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )
                case SetHeld(session_id=sid, feature=feature, quantity=quantity):
                    if quantity > 0:
                        conn.execute(
                            "INSERT INTO checkouts (session_id, feature, quantity) VALUES (?, ?, ?)"
                            " ON CONFLICT (session_id, feature) DO UPDATE"
                            " SET quantity = excluded.quantity",
                            (sid, feature, quantity),
                        )
                    else:
                        conn.execute(
                            "DELETE FROM checkouts WHERE session_id = ? AND feature = ?",
                            (sid, feature),
                        )
                case SetConsumed(license=license_token, feature=feature, consumed=consumed):
                    conn.execute(
                        "INSERT INTO consumption (license, feature, consumed) VALUES (?, ?, ?)"
                        " ON CONFLICT (license, feature) DO UPDATE"
                        " SET consumed = excluded.consumed",
                        (license_token, feature, consumed),
                    )
                case SetLicenseFlags():
                    conn.execute(
                        "INSERT INTO license_flags"
                        " (license, bound_context, first_activated_at, locked_at)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (license) DO UPDATE SET"
                        " bound_context = excluded.bound_context,"
                        " first_activated_at = excluded.first_activated_at,"
                        " locked_at = excluded.locked_at",
                        (
                            record.license,
                            record.bound_context,
                            record.first_activated_at,
                            record.locked_at,
                        ),
                    )
                case BindEnvironment(auth_context=ctx, org_id=org_id, bound_at=bound_at):
                    conn.execute(
                        "INSERT INTO environments (auth_context, org_id, bound_at) VALUES (?, ?, ?)"
                        " ON CONFLICT (auth_context) DO NOTHING",
                        (ctx, org_id, bound_at),
                    )
                case ReleaseEnvironment(auth_context=ctx):
                    conn.execute("DELETE FROM environments WHERE auth_context = ?", (ctx,))
                case SaveOffline():
                    conn.execute(
                        "INSERT OR REPLACE INTO offline_activations (id, license, auth_context,"
                        " device_kid, device_keys, nonce, activated_at, lease_expires_at,"
                        " deactivated_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        offline_values(record),
                    )
                case RecordExport():
                    conn.execute(
                        "INSERT INTO usage_exports (seq, last_event_id, chain_head, created_at)"
                        " VALUES (?, ?, ?, ?)",
                        (record.seq, record.last_event_id, record.chain_head, record.created_at),
                    )
                case PruneEvents(up_to_id=up_to):
                    self._prune(conn, up_to)
                case NoteContexts(seen=seen):
                    conn.executemany(
                        "INSERT INTO misuse_contexts (license, auth_context, seen_at)"
                        " VALUES (?, ?, ?) ON CONFLICT (license, auth_context) DO UPDATE"
                        " SET seen_at = max(seen_at, excluded.seen_at)",
                        seen,
                    )
                case PruneContexts(before=before):
                    conn.execute("DELETE FROM misuse_contexts WHERE seen_at < ?", (before,))
                case ForgetContexts(license=license_token):
                    conn.execute("DELETE FROM misuse_contexts WHERE license = ?", (license_token,))
                case SaveHistory(rows=rows):
                    conn.executemany(
                        f"INSERT INTO history_hours ({HISTORY_COLUMNS})"  # noqa: S608 - fixed text
                        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (license, hour) DO UPDATE SET"
                        " peak_sessions = excluded.peak_sessions, started = excluded.started,"
                        " denials = excluded.denials, peak_units = excluded.peak_units,"
                        " consumed = excluded.consumed",
                        [row_values(r) for r in rows],
                    )
                case PruneHistory(before=before):
                    conn.execute("DELETE FROM history_hours WHERE hour < ?", (before,))
                case SetPeak(license=license_token, peak_sessions=peak):
                    conn.execute(
                        "INSERT INTO license_stats (license, peak_sessions) VALUES (?, ?)"
                        " ON CONFLICT (license) DO UPDATE SET peak_sessions ="
                        " max(peak_sessions, excluded.peak_sessions)",
                        (license_token, peak),
                    )

    def _prune(self, conn: sqlite3.Connection, up_to: int) -> None:
        """Delete acknowledged events, remembering the newest one's hash for the chain."""
        row = conn.execute(
            "SELECT id, hash FROM events WHERE id <= ? ORDER BY id DESC LIMIT 1", (up_to,)
        ).fetchone()
        if row is None:
            return
        for key, value in (("pruned_id", str(row[0])), ("pruned_hash", str(row[1]))):
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        conn.execute("DELETE FROM events WHERE id <= ?", (up_to,))

    def _append_event(self, conn: sqlite3.Connection, event: AppendEvent) -> None:
        event_id = self.last_id + 1
        digest = chain_hash(
            prev_hash=self.last_hash,
            event_id=event_id,
            at=event.at,
            type=event.type,
            license=event.license,
            auth_context=event.auth_context,
            data=event.data,
        )
        conn.execute(
            "INSERT INTO events (id, at, type, license, auth_context, data, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                event.at,
                event.type,
                event.license,
                event.auth_context,
                _json_encode(event.data),
                self.last_hash,
                digest,
            ),
        )
        self.last_id, self.last_hash = event_id, digest


_json_encode = msgspec.json.Encoder().encode


def chain_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """Id and hash of the newest event ever committed (kept in meta once all are pruned)."""
    row = conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:  # every event pruned after acknowledgement: the head lives in meta
        row = conn.execute(
            "SELECT (SELECT value FROM meta WHERE key = 'pruned_id'),"
            " (SELECT value FROM meta WHERE key = 'pruned_hash')"
        ).fetchone()
        if row[0] is None:
            return 0, GENESIS_HASH
    return int(row[0]), str(row[1])


def probe_write(conn: sqlite3.Connection) -> None:
    """The writer's probe after a failure: one small real write, to see the disk takes it."""
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('writer_probe', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (repr(time.time()),),
    )
