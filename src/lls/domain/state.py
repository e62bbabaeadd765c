"""The in-memory state the rules decide on: per-license sessions, units in use, bindings.

Everything a request needs is here, so the hot path never reads the database;
the database is written (group commit) and read back only at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from lls.domain.models import FeatureView, License, OfflineActivation, Pool, Session

DAY_S = 86_400


@dataclass(slots=True)
class LicenseState:
    """One license and what is in use on it right now."""

    license: License
    sessions: dict[str, Session] = field(default_factory=dict)  # by authContext
    peak_sessions: int = 0
    # Floating units held, by session id then feature code.
    held: dict[str, dict[str, int]] = field(default_factory=dict)
    in_use: dict[str, int] = field(default_factory=dict)  # floating units by feature code
    consumed: dict[str, int] = field(default_factory=dict)  # consumption by feature code
    bound_context: str | None = None  # node-locked: the authContext it is bound to
    first_activated_at: float | None = None  # temporary: start of its window
    locked_at: float | None = None  # misuse lock
    seen: dict[str, float] = field(default_factory=dict)  # misuse: authContext -> last seen
    # misuse: contexts validate saw since the job's last run (bounded; the job persists them)
    noted: dict[str, float] = field(default_factory=dict)
    offline: dict[str, OfflineActivation] = field(default_factory=dict)  # by activation id
    features_view: tuple[FeatureView, ...] = ()

    def refresh_views(self) -> None:
        """Recompute the feature figures shown in responses (after a pool or usage change)."""
        views = []
        for f in self.license.features:
            if f.type == "boolean" or f.count is None:
                views.append(FeatureView(f.code, f.type, None, None))
                continue
            used = (
                self.in_use.get(f.code, 0) if f.type == "floating" else self.consumed.get(f.code, 0)
            )
            views.append(FeatureView(f.code, f.type, f.count, max(0, f.count - used)))
        self.features_view = tuple(views)

    def expires_at(self) -> float | None:
        """When the license stops being valid: validUntil, or a temporary license's window end."""
        lic = self.license
        end = lic.valid_until
        if lic.type == "temporary" and lic.temporary_days and self.first_activated_at is not None:
            window_end = self.first_activated_at + lic.temporary_days * DAY_S
            end = window_end if end is None else min(end, window_end)
        return end

    def flags_record_values(self) -> tuple[str | None, float | None, float | None]:
        return self.bound_context, self.first_activated_at, self.locked_at

    def carry(self) -> Carry:
        """What outlives the license's place in the pool (it may come back in a later one)."""
        return Carry(
            self.bound_context,
            self.first_activated_at,
            self.locked_at,
            dict(self.consumed),
            self.peak_sessions,
        )

    def restore(self, carry: Carry) -> None:
        self.bound_context = carry.bound_context
        self.first_activated_at = carry.first_activated_at
        self.locked_at = carry.locked_at
        self.consumed = dict(carry.consumed)
        self.peak_sessions = carry.peak_sessions


@dataclass(frozen=True, slots=True)
class Carry:
    bound_context: str | None = None
    first_activated_at: float | None = None
    locked_at: float | None = None
    consumed: dict[str, int] = field(default_factory=dict)
    peak_sessions: int = 0


class WriteGate(Protocol):
    """The store's gate: whether writes are taken right now (the rules ask it before they
    change memory, in the same tick as the decision; see lls.store.writer)."""

    @property
    def writable(self) -> bool: ...

    def check_writable(self) -> None:
        """Raise StorageError while writes are refused."""


@dataclass(slots=True)
class LicensingState:
    """All the in-memory licensing state of an instance; the rules are functions over it.

    Only the rule modules (sessions, features, offline, pools, usage, admin, housekeeping,
    loading) change it; everything else reads it through the facade (domain.service).
    """

    gate: WriteGate
    instance_id: str
    vendor_id: str | None = None  # the pinned vendor: the only `iss` a pool may name
    # After a re-registration on a new machine, only pools issued since then count.
    trust_pools_from: float = 0.0
    licenses: dict[str, LicenseState] = field(default_factory=dict)
    by_id: dict[str, Session] = field(default_factory=dict)  # live sessions by id
    environments: dict[str, str] = field(default_factory=dict)  # authContext -> org that bound it
    offline_by_id: dict[str, OfflineActivation] = field(default_factory=dict)
    pool: Pool | None = None
    pool_exp: float | None = None
    pool_imported_at: float | None = None
    floor: float = 0.0  # trusted-time floor (sync-format §5), raised by clock and pools
    tampered: bool = False
    tamper_recorded: bool = False
    # Licenses whose seat or feature figures changed since /metrics last looked: it
    # renders only those again (O(1) here, bounded by the pool's size).
    changed: set[str] = field(default_factory=set)
    # Usage of licenses no longer in the pool, kept so a license that comes back
    # finds its consumption, binding and lock as the database still holds them.
    retired: dict[str, Carry] = field(default_factory=dict)
    usage_seq: int = 0
    ack_event_id: int = 0
    last_usage_export: float | None = None
    # Pools verified by this process, by seq: the newest and, during an import, the one
    # before it (the database still holds it if the import's write fails).
    verified_pools: dict[int, Pool] = field(default_factory=dict)
