"""The per-license part of /metrics, kept rendered so a scrape redoes only what changed.

A pool can hold 100,000 licenses or more; writing every one of their samples at
every scrape took seconds. Each license keeps its rendered rows and figures, in
chunks of `CHUNK` licenses that keep their text joined and their sums. What the
pool grants (seats, feature units) is rendered once per pool. What is in use is
rendered again only for licenses whose figures changed — the licensing rules
add the token to `Licensing.changed`, O(1) on the write path — and for licenses
of a chunk where an offline lease has ended since (the one figure that changes
with time alone); then only the chunks they are in are joined again. A new
pool, or state reloaded from the database, renders everything once.

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

CHUNK = 128  # licenses whose text is joined together: a change re-joins 128 short rows
NO_FEATURES: tuple[int, ...] = ()


@dataclass(slots=True)
class Chunk:
    """A slice of the pool's licenses: per license its rows and figures, and their sums."""

    tokens: list[str]
    # Per license, the start of its in-use rows: `lls_license_seats_used{license="…"} ` and
    # one `lls_feature_units_used{…} ` per feature view (None: nothing to count).
    prefixes: list[tuple[str, tuple[str | None, ...]]] = field(default_factory=list)
    used_rows: list[str] = field(default_factory=list)
    units_used_rows: list[str] = field(default_factory=list)
    used: list[int] = field(default_factory=list)  # seats held, per license
    sessions: list[int] = field(default_factory=list)
    offline: list[int] = field(default_factory=list)
    lease_ends: list[float] = field(default_factory=list)  # soonest live offline lease end
    in_use: list[tuple[int, ...]] = field(default_factory=list)  # per feature view
    joined: dict[str, bytes] = field(default_factory=dict)  # used and units_used rows, encoded
    keys: list[tuple[tuple[str, str] | None, ...]] = field(default_factory=list)
    horizon: float = math.inf  # render its offline licenses again at this time


@dataclass(frozen=True, slots=True)
class Totals:
    """What the chunks add up to, for the aggregate families."""

    licenses: int
    seats: int
    used: int
    sessions: int
    offline: int
    features: dict[tuple[str, str], list[int]]


class LicenseSeries:
    """The rendered per-license rows; owned by the metrics thread."""

    def __init__(self, labels: LicenseLabels, *, per_license: bool) -> None:
        self._labels = labels
        self.per_license = per_license
        self._chunks: list[Chunk] = []
        self._where: dict[str, tuple[int, int]] = {}  # token -> (chunk, place in it)
        self._licenses: Mapping[str, LicenseState] | None = None
        self._pool: Pool | None = None
        self._granted: dict[str, bytes] = {}  # the seats and units rows of all licenses
        # Running sums over every license, kept by difference as licenses are rendered.
        self._sums = {"seats": 0, "used": 0, "sessions": 0, "offline": 0}
        self._features: dict[tuple[str, str], list[int]] = {}  # -> [granted, used]

    def update(
        self,
        licenses: Mapping[str, LicenseState],
        pool: Pool | None,
        changed: Iterable[str],
        now: float,
    ) -> Totals:
        """Bring the rows up to date with the rules' state at `now`."""
        if licenses is not self._licenses or pool is not self._pool:
            self._rebuild(licenses, pool)
            changed = list(licenses)
        dirty: set[int] = set()
        for token in changed:
            where = self._where.get(token)
            if where is not None and self._render(where, licenses.get(token), now):
                dirty.add(where[0])
        for i, chunk in enumerate(self._chunks):
            if chunk.horizon <= now:  # an offline lease ended: those licenses hold one seat less
                for j, token in enumerate(chunk.tokens):
                    if chunk.offline[j]:
                        self._render((i, j), licenses.get(token), now)
                dirty.add(i)
        for i in dirty:
            self._join(self._chunks[i])
        return Totals(
            licenses=len(self._where),
            seats=self._sums["seats"],
            used=self._sums["used"],
            sessions=self._sums["sessions"],
            offline=self._sums["offline"],
            features={key: list(sums) for key, sums in self._features.items()},
        )

    def invalidate(self) -> None:
        """Render everything at the next update (after one failed half-way)."""
        self._licenses = None

    def rows(self, family: str) -> list[bytes]:
        """The rendered rows of one per-license family (seats, used, units, units_used), in
        pieces: the body is joined once, not once per family and again as a whole."""
        if family in self._granted:
            return [self._granted[family]]
        return [c.joined.get(family, b"") for c in self._chunks]

    def _rebuild(self, licenses: Mapping[str, LicenseState], pool: Pool | None) -> None:
        """New chunks for a new pool (or reloaded state), with what each license is granted."""
        self._licenses, self._pool = licenses, pool
        tokens = list(licenses)  # atomic: one C call under the GIL
        self._chunks = [Chunk(tokens[i : i + CHUNK]) for i in range(0, len(tokens), CHUNK)]
        self._where = {t: (i // CHUNK, i % CHUNK) for i, t in enumerate(tokens)}
        self._sums = {"seats": 0, "used": 0, "sessions": 0, "offline": 0}
        self._features = {}
        codes: dict[str, str] = {}
        seats: list[str] = []
        units: list[str] = []
        for chunk in self._chunks:
            for token in chunk.tokens:
                state = licenses.get(token)
                prefixes: list[str | None] = []
                keys: list[tuple[str, str] | None] = []
                used_prefix = ""
                if state is not None:  # else: gone in a pool being applied now; rebuilt next time
                    lic = state.license
                    self._sums["seats"] += lic.seats
                    label = f'license="{self._labels.of_token(token, lic.id)}"'
                    for view in state.features_view:
                        if view.total is None:
                            prefixes.append(None)
                            keys.append(None)
                            continue
                        keys.append((view.code, view.type))
                        sums = self._features.setdefault((view.code, view.type), [0, 0])
                        sums[0] += view.total
                        code = codes.get(view.code)
                        if code is None:
                            code = codes[view.code] = escape(view.code)
                        key = f'{{{label},feature="{code}",type="{view.type}"}}'
                        prefixes.append(f"lls_feature_units_used{key} ")
                        if self.per_license:
                            units.append(f"lls_feature_units{key} {view.total}\n")
                    used_prefix = f"lls_license_seats_used{{{label}}} "
                    if self.per_license:
                        seats.append(f"lls_license_seats{{{label}}} {lic.seats}\n")
                if not self.per_license:
                    used_prefix, prefixes = "", [None] * len(prefixes)
                chunk.prefixes.append((used_prefix, tuple(prefixes)))
                chunk.keys.append(tuple(keys))
                chunk.used_rows.append("")
                chunk.units_used_rows.append("")
                chunk.used.append(0)
                chunk.sessions.append(0)
                chunk.offline.append(0)
                chunk.lease_ends.append(math.inf)
                chunk.in_use.append(NO_FEATURES)
        self._granted = {"seats": "".join(seats).encode(), "units": "".join(units).encode()}

    def _render(self, where: tuple[int, int], state: LicenseState | None, now: float) -> bool:
        """One license's in-use figures and rows from the rules' state now (False: not there)."""
        if state is None:
            return False
        chunk = self._chunks[where[0]]
        j = where[1]
        sessions = len(state.sessions)
        taken = sessions
        offline = 0
        lease_end = math.inf
        if state.offline:
            for activation in list(state.offline.values()):
                if activation.live(now):
                    offline += 1
                    lease_end = min(lease_end, activation.lease_expires_at)
            taken += offline
        used_prefix, prefixes = chunk.prefixes[j]
        keys = chunk.keys[j]
        in_use: list[int] = []
        rows: list[str] = []
        for index, view in enumerate(state.features_view):
            # A license replaced by a pool being applied right now may have other features
            # than its chunk knows: those are not counted until the next update rebuilds.
            if index >= len(keys) or keys[index] is None or view.available is None:
                in_use.append(0)
                continue
            count = (view.total or 0) - view.available
            in_use.append(count)
            prefix = prefixes[index]
            if prefix is not None:
                rows.append(f"{prefix}{count}\n")
        old = chunk.in_use[j]
        for index, key in enumerate(keys):
            if key is not None:
                before = old[index] if index < len(old) else 0
                now_used = in_use[index] if index < len(in_use) else 0
                self._features[key][1] += now_used - before
        sums = self._sums
        sums["used"] += taken - chunk.used[j]
        sums["sessions"] += sessions - chunk.sessions[j]
        sums["offline"] += offline - chunk.offline[j]
        chunk.in_use[j] = tuple(in_use)
        chunk.used[j] = taken
        chunk.sessions[j] = sessions
        chunk.offline[j] = offline
        before_end, chunk.lease_ends[j] = chunk.lease_ends[j], lease_end
        if lease_end < chunk.horizon:
            chunk.horizon = lease_end
        elif before_end == chunk.horizon and lease_end != before_end:
            chunk.horizon = min(chunk.lease_ends)
        if used_prefix:
            chunk.used_rows[j] = f"{used_prefix}{taken}\n"
            chunk.units_used_rows[j] = "".join(rows)
        return True

    @staticmethod
    def _join(chunk: Chunk) -> None:
        chunk.joined = {
            "used": "".join(chunk.used_rows).encode(),
            "units_used": "".join(chunk.units_used_rows).encode(),
        }
