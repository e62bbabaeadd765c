"""The in-memory state the rules decide on: per-license sessions, the pool, the clock floor.

Everything a request needs is here, so the hot path never reads the database;
the database is written (group commit) and read back only at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lls.domain.models import FeatureView, License, Session


@dataclass(slots=True)
class LicenseState:
    """One license and what is in use on it right now."""

    license: License
    sessions: dict[str, Session] = field(default_factory=dict)  # by authContext
    peak_sessions: int = 0
    features_view: tuple[FeatureView, ...] = ()

    def refresh_views(self) -> None:
        """Recompute the feature figures shown in responses (after a pool or usage change)."""
        self.features_view = tuple(
            FeatureView(
                code=f.code,
                type=f.type,
                total=f.count if f.type != "boolean" else None,
                available=f.count if f.type != "boolean" else None,
            )
            for f in self.license.features
        )
