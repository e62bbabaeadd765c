"""The per-license part of /metrics, kept rendered in chunks so a scrape redoes only what changed.

A pool can hold 100,000 licenses or more; writing every one of their samples at
every scrape took seconds. Licenses are split into chunks of `CHUNK` in pool
order, and each chunk keeps its text (one piece per metric family) and its sums.
The licensing rules add a token to `Licensing.changed` whenever a license's seat
or feature figures change (O(1) on the write path); a scrape re-renders only the
chunks of those tokens, plus chunks where an offline lease has ended since (the
one figure that changes with time alone). A new pool, or state reloaded from the
database, renders everything once.

This runs on the metrics thread, never on the event loop. It only reads the
rules' state: `len()` of a dict, a tuple or attribute replaced whole, and
`list()` of a dict's values are each atomic under the GIL, and a scrape is a
sample in time, not a transaction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lls.domain.models import Pool
from lls.domain.state import LicenseState
from lls.ops.exposition import escape
from lls.ops.labels import LicenseLabels

CHUNK = 1000  # licenses per chunk: a changed license costs re-rendering ~1,000 rows


@dataclass(slots=True)
class Chunk:
    """A slice of the pool's licenses: their rendered rows and their sums."""

    tokens: list[str]
    parts: dict[str, bytes] = field(default_factory=dict)  # family -> its rows, encoded
    seats: int = 0
    used: int = 0
    sessions: int = 0
    offline: int = 0
    # (feature code, type) -> [units granted, units used]
    features: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    horizon: float = math.inf  # re-render at this time: the soonest live offline lease ends


@dataclass(frozen=True, slots=True)
class Totals:
    """What the chunks add up to, for the aggregate families."""

    licenses: int
    seats: int
    used: int
    sessions: int
    offline: int
    features: dict[tuple[str, str], list[int]]
    rendered: int  # licenses rendered again by this update


class LicenseSeries:
    """The chunk cache; owned by the metrics thread."""

    def __init__(self, labels: LicenseLabels, *, per_license: bool) -> None:
        self._labels = labels
        self.per_license = per_license
        self._chunks: list[Chunk] = []
        self._chunk_of: dict[str, int] = {}
        self._licenses: Mapping[str, LicenseState] | None = None
        self._pool: Pool | None = None

    def update(
        self,
        licenses: Mapping[str, LicenseState],
        pool: Pool | None,
        changed: Iterable[str],
        now: float,
    ) -> Totals:
        """Bring the chunks up to date with the rules' state at `now`."""
        rendered = 0
        if licenses is not self._licenses or pool is not self._pool:
            self._licenses, self._pool = licenses, pool
            tokens = list(licenses)  # atomic: one C call under the GIL
            self._chunks = [Chunk(tokens[i : i + CHUNK]) for i in range(0, len(tokens), CHUNK)]
            self._chunk_of = {t: i // CHUNK for i, t in enumerate(tokens)}
            dirty = set(range(len(self._chunks)))
        else:
            dirty = {i for t in changed if (i := self._chunk_of.get(t)) is not None}
            dirty.update(i for i, c in enumerate(self._chunks) if c.horizon <= now)
        for i in dirty:
            rendered += self._render(self._chunks[i], licenses, now)
        features: dict[tuple[str, str], list[int]] = {}
        for chunk in self._chunks:
            for key, (total, used) in chunk.features.items():
                sums = features.setdefault(key, [0, 0])
                sums[0] += total
                sums[1] += used
        return Totals(
            licenses=sum(len(c.tokens) for c in self._chunks),
            seats=sum(c.seats for c in self._chunks),
            used=sum(c.used for c in self._chunks),
            sessions=sum(c.sessions for c in self._chunks),
            offline=sum(c.offline for c in self._chunks),
            features=features,
            rendered=rendered,
        )

    def rows(self, family: str) -> list[bytes]:
        """The rendered rows of one per-license family, chunk by chunk, in pool order."""
        return [c.parts.get(family, b"") for c in self._chunks]

    def _render(self, chunk: Chunk, licenses: Mapping[str, LicenseState], now: float) -> int:
        seats: list[str] = []
        used: list[str] = []
        units: list[str] = []
        units_used: list[str] = []
        features: dict[tuple[str, str], list[int]] = {}
        chunk.seats = chunk.used = chunk.sessions = chunk.offline = 0
        chunk.horizon = math.inf
        per_license = self.per_license
        count = 0
        for token in chunk.tokens:
            state = licenses.get(token)
            if state is None:  # gone in a pool being applied right now; the next update rebuilds
                continue
            count += 1
            lic = state.license
            sessions = len(state.sessions)
            taken = sessions
            if state.offline:
                for activation in list(state.offline.values()):
                    if activation.live(now):
                        taken += 1
                        chunk.offline += 1
                        chunk.horizon = min(chunk.horizon, activation.lease_expires_at)
            chunk.seats += lic.seats
            chunk.used += taken
            chunk.sessions += sessions
            label = ""
            if per_license:
                label = f'license="{self._labels.of_token(token, lic.id)}"'
                seats.append(f"lls_license_seats{{{label}}} {lic.seats}\n")
                used.append(f"lls_license_seats_used{{{label}}} {taken}\n")
            for view in state.features_view:
                if view.total is None or view.available is None:
                    continue
                in_use = view.total - view.available
                sums = features.setdefault((view.code, view.type), [0, 0])
                sums[0] += view.total
                sums[1] += in_use
                if per_license:
                    key = f'{{{label},feature="{escape(view.code)}",type="{view.type}"}}'
                    units.append(f"lls_feature_units{key} {view.total}\n")
                    units_used.append(f"lls_feature_units_used{key} {in_use}\n")
        chunk.features = features
        chunk.parts = {
            "seats": "".join(seats).encode(),
            "used": "".join(used).encode(),
            "units": "".join(units).encode(),
            "units_used": "".join(units_used).encode(),
        }
        return count
