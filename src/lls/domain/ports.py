"""What the rules need from the outside world, as Protocols (the store, the pool reader)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict, Unpack

from lls.domain.models import (
    AuditEvent,
    OfflineActivation,
    OfflineDeactivation,
    OfflineRequest,
    Outcome,
    Pool,
    Session,
)
from lls.domain.records import HourRow, Record


@dataclass(frozen=True, slots=True)
class StoredPool:
    seq: int
    raw: str
    ack_usage_seq: int
    imported_at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the rules keep in memory, as the database last committed it."""

    pool: StoredPool | None
    sessions: Sequence[Session]
    meta: dict[str, str]
    peaks: dict[str, int]
    held: Sequence[tuple[str, str, int]] = ()  # (session id, feature, quantity)
    consumed: dict[tuple[str, str], int] = field(default_factory=dict)  # (license, feature)
    flags: dict[str, tuple[str | None, float | None, float | None]] = field(default_factory=dict)
    environments: dict[str, str] = field(default_factory=dict)  # authContext -> org id
    offline: Sequence[OfflineActivation] = ()
    last_export_at: float | None = None  # when the newest usage file was written
    # Usage history (lls.domain.history): the buckets of the newest hour stored, and the
    # denials by reason of that hour's day before that hour.
    history: Sequence[HourRow] = ()
    history_denied: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PoolImport:
    """One pool file imported here, as the pool page's history lists it."""

    seq: int
    issued_at: float
    expires_at: float
    org_id: str
    ack_usage_seq: int
    imported_at: float


@dataclass(frozen=True, slots=True)
class UsageFile:
    """One usage file written here: its seq, the newest event it carried, when."""

    seq: int
    last_event_id: int
    created_at: float


class AuditQuery(TypedDict, total=False):
    """The optional filters of Store.audit, passed on as they are down to the one query
    (store.audit_query); absent: no upper id, no time bound, every type, oldest first."""

    before: int | None
    since: float | None
    types: Sequence[str]
    newest_first: bool


class Store(Protocol):
    """Durable state: a batch of records is committed before `commit` returns.

    When a batch fails, the store refuses writes (`check_writable` raises
    StorageError) until it has rebuilt memory through the callback given to
    `set_rebuild` and a write commits again; see lls.store.writer.
    """

    async def commit(self, records: Sequence[Record]) -> None: ...

    def check_writable(self) -> None:
        """Raise StorageError while writes are refused; every mutating rule calls this
        before it touches memory (cheap: a bool)."""

    @property
    def writable(self) -> bool:
        """Whether writes are taken right now (what check_writable checks)."""
        ...

    def set_rebuild(self, rebuild: Callable[[], Awaitable[None]]) -> None:
        """Who rebuilds memory from `snapshot(wait=False)` after a failed batch."""

    async def barrier(self) -> None:
        """Return once what memory shows is durable (queued writes committed, or failed
        and memory rebuilt); never raises."""

    async def snapshot(self, *, wait: bool = True, known_pools: Collection[int] = ()) -> Snapshot:
        """The committed state; a pool whose seq is in `known_pools` comes with `raw == ""`."""
        ...

    async def audit(
        self,
        *,
        after: int,
        limit: int,
        **query: Unpack[AuditQuery],
    ) -> list[AuditEvent]:
        """Audit events by id range, time and type (`x.*` for a prefix), in either order."""
        ...

    async def events_after(self, after: int) -> list[AuditEvent]:
        """Every audit event with id > `after`, oldest first."""
        ...

    async def export_point(self, seq: int) -> int | None:
        """The newest event id that usage file `seq` carried, if that file was written here."""
        ...

    async def chain_head(self) -> tuple[int, str | None]:
        """Id and hash of the newest audit event ever written (pruned or not)."""
        ...

    async def contexts_seen(self, *, since: float) -> dict[str, dict[str, float]]:
        """Per license, each authContext that started a session or was noted by validate
        since `since` (and after the license's newest unlock), last time seen."""
        ...

    async def history(self, license: str, *, start: int, end: int) -> list[HourRow]:
        """The stored history buckets of `license` with start <= hour < end, oldest first."""
        ...

    async def pool_imports(self, *, limit: int) -> list[PoolImport]:
        """The pools imported here, newest first (the raw files are not read)."""
        ...

    async def usage_files(self, *, limit: int) -> list[UsageFile]:
        """The usage files written here, newest first."""
        ...


class PoolReader(Protocol):
    """Opens a sealed pool file: verifies envelope, signature and typ, then parses it."""

    def read(self, raw: str) -> Pool: ...


class OfflineCodec(Protocol):
    """Opens device tokens and seals the server's answers (sync-format §4)."""

    def open_request(self, token: str) -> OfflineRequest: ...

    def open_deactivation(
        self, token: str, device_keys: Sequence[dict[str, object]]
    ) -> OfflineDeactivation: ...

    def seal_response(
        self, activation: OfflineActivation, outcome: Outcome, nonce: str, now: float
    ) -> str: ...

    def seal_refresh(self, activation: OfflineActivation, outcome: Outcome, now: float) -> str: ...

    def read_device_keys(self, jwks: Mapping[str, object]) -> tuple[str, dict[str, object]] | None:
        """A device's public JWKS as (its signing kid, the normalised JWKS), or None when it
        is not one Ed25519 and one X25519 public key that a token can be sealed to."""
        ...
