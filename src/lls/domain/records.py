"""Write records: what a licensing decision asks the store to make durable, in order.

The rules decide in memory and hand the store a list of these; the store
applies a whole batch of them in one transaction (group commit) and only then
is the answer sent. They say *what* changed, never *how* it is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lls.domain.models import ClientInfo


@dataclass(frozen=True, slots=True)
class StartSession:
    id: str
    license: str
    auth_context: str
    started_at: float
    expires_at: float
    client_address: str | None = None
    client_info: ClientInfo | None = None


@dataclass(frozen=True, slots=True)
class TouchSession:
    id: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class SetSessionClient:
    """A live session is now held from another address, or its client said more about itself."""

    id: str
    client_address: str | None
    client_info: ClientInfo | None


@dataclass(frozen=True, slots=True)
class EndSession:
    id: str


@dataclass(frozen=True, slots=True)
class AppendEvent:
    """An audit event; the store gives it the next id and chains its hash."""

    at: float
    type: str
    license: str | None = None
    auth_context: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SavePool:
    seq: int
    iat: int
    exp: int
    org_id: str
    ack_usage_seq: int
    imported_at: float
    raw: str


@dataclass(frozen=True, slots=True)
class SetMeta:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class SetPeak:
    license: str
    peak_sessions: int


@dataclass(frozen=True, slots=True)
class SetHeld:
    """Floating units a session holds of one feature (0 removes the row)."""

    session_id: str
    feature: str
    quantity: int


@dataclass(frozen=True, slots=True)
class SetConsumed:
    license: str
    feature: str
    consumed: int


@dataclass(frozen=True, slots=True)
class SetLicenseFlags:
    """Per-license usage facts that outlive sessions: binding, temporary start, misuse lock."""

    license: str
    bound_context: str | None
    first_activated_at: float | None
    locked_at: float | None


@dataclass(frozen=True, slots=True)
class BindEnvironment:
    auth_context: str
    org_id: str
    bound_at: float


@dataclass(frozen=True, slots=True)
class ReleaseEnvironment:
    auth_context: str


@dataclass(frozen=True, slots=True)
class SaveOffline:
    """The whole row of an offline activation (insert or replace)."""

    id: str
    license: str
    auth_context: str
    device_kid: str
    device_keys: dict[str, Any]
    nonce: str
    activated_at: float
    lease_expires_at: float
    deactivated_at: float | None
    kind: str = "offline"  # or "borrow"


@dataclass(frozen=True, slots=True)
class RecordExport:
    """A usage file was written: its seq, the newest event it carried and the chain head."""

    seq: int
    last_event_id: int
    chain_head: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class PruneEvents:
    """Drop audit events the vendor acknowledged (id <= up_to); the chain head is kept."""

    up_to_id: int


@dataclass(frozen=True, slots=True)
class NoteContexts:
    """authContexts validate saw since the misuse job's last run: (license, context, at)."""

    seen: tuple[tuple[str, str, float], ...]


@dataclass(frozen=True, slots=True)
class PruneContexts:
    """Forget validate's contexts last seen before `before` (outside every misuse window)."""

    before: float


@dataclass(frozen=True, slots=True)
class ForgetContexts:
    """An admin unlocked the license: the contexts validate saw before do not count again."""

    license: str


@dataclass(frozen=True, slots=True)
class HourRow:
    """One history bucket: a license's figures over one hour (`hour`: its start, unix s)."""

    license: str
    hour: int
    peak_sessions: int = 0
    started: int = 0
    denials: Mapping[str, int] = field(default_factory=dict)  # reason -> refusals
    peak_units: Mapping[str, int] = field(default_factory=dict)  # floating feature -> units
    consumed: Mapping[str, int] = field(default_factory=dict)  # consumption feature -> units


@dataclass(frozen=True, slots=True)
class SaveHistory:
    """Hour buckets of usage history, each with its whole value (insert or replace)."""

    rows: tuple[HourRow, ...]


@dataclass(frozen=True, slots=True)
class PruneHistory:
    """Drop history buckets of hours before `before` (the retention, history.retention_days)."""

    before: int


Record = (
    StartSession
    | TouchSession
    | SetSessionClient
    | EndSession
    | AppendEvent
    | SavePool
    | SetMeta
    | SetPeak
    | SetHeld
    | SetConsumed
    | SetLicenseFlags
    | BindEnvironment
    | ReleaseEnvironment
    | SaveOffline
    | RecordExport
    | PruneEvents
    | NoteContexts
    | PruneContexts
    | ForgetContexts
    | SaveHistory
    | PruneHistory
)
