"""Usage history: per license and per hour, what an admin later asks "how busy was it?".

Each hour bucket holds the peak of concurrent sessions, the peak of floating units in
use per feature, the sessions started, the denials by reason and the consumption used
in that hour. The book accumulates the open hour in memory — a decision never waits on
it — and hands the store the buckets that changed as one `SaveHistory` record inside a
batch the writer commits anyway (at most one in flight, a round every
`FLUSH_INTERVAL_S`, at most `ROUND_ROWS` rows a batch), so history adds no
transaction and no fsync of its own, and no batch grows large enough to stall the
requests committed with it (the load benchmark showed 8,000 rows a second flushed in
one batch tripling p99). A row always carries a bucket's
whole value, never an increment: writing it twice changes nothing, and after a restart
the book continues from what the database holds, so the open hour is neither lost nor
counted twice. What changed since the last flush is lost only with a crash (at most
`FLUSH_INTERVAL_S` of counts, plus a round still being written); a clean stop
flushes it.

How it learns what happened is kept to one place (`observe`, called where records are
committed, and `denied`, called where a refusal is made): the write records say when a
session started and what a checkout took, so the rules do not change for it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lls.domain.records import (
    AppendEvent,
    HourRow,
    PruneHistory,
    Record,
    SaveHistory,
    StartSession,
)
from lls.domain.state import DAY_S, LicenseState

HOUR_S = 3600
FLUSH_INTERVAL_S = 10.0  # a round of changed buckets starts at most this often
ROUND_ROWS = 500  # rows one batch carries; a round of more continues on the next batches
DEFAULT_RETENTION_DAYS = 400


def hour_of(ts: float) -> int:
    """The start of the UTC hour `ts` falls in (unix seconds)."""
    return int(ts // HOUR_S) * HOUR_S


def day_of(ts: float) -> int:
    """The start of the UTC day `ts` falls in (unix seconds)."""
    return int(ts // DAY_S) * DAY_S


@dataclass(slots=True)
class _Bucket:
    peak_sessions: int = 0
    started: int = 0
    denials: dict[str, int] = field(default_factory=dict)
    peak_units: dict[str, int] = field(default_factory=dict)
    consumed: dict[str, int] = field(default_factory=dict)

    def row(self, license_token: str, hour: int) -> HourRow:
        return HourRow(
            license_token,
            hour,
            self.peak_sessions,
            self.started,
            dict(self.denials),
            dict(self.peak_units),
            dict(self.consumed),
        )


class HistoryBook:
    """The open hour's buckets of every license, and today's denials across all of them."""

    def __init__(self, *, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self.retention_days = retention_days
        self.hour = 0  # the open hour; buckets of an older hour are flushed and dropped
        self.buckets: dict[str, _Bucket] = {}
        self.dirty: dict[str, None] = {}  # changed since taken, in the order they changed
        self._round = False  # a round is under way: the next batch carries more of it
        self._pending: dict[str, None] = {}  # the round's buckets not yet taken
        self.in_flight = False
        self.last_flush = float("-inf")
        self.pruned_through = 0  # the last hour a PruneHistory was sent for
        self.day = 0
        self.denied_before_hour: dict[str, int] = {}  # today, hours already closed
        self._closed: list[HourRow] = []  # buckets of a closed hour not yet written

    # -- what happened -------------------------------------------------------------------

    def _bucket(self, state: LicenseState, now: float) -> _Bucket:
        if hour_of(now) != self.hour:
            self._roll(hour_of(now))
        token = state.license.token
        bucket = self.buckets.get(token)
        if bucket is None:  # a new hour starts from what is held now
            bucket = self.buckets[token] = _Bucket(peak_sessions=len(state.sessions))
            for code, units in state.in_use.items():
                if units > 0:
                    bucket.peak_units[code] = units
        self.dirty[token] = None
        return bucket

    def refused(
        self, licenses: Mapping[str, LicenseState], token: str, reason: str, now: float
    ) -> None:
        """A call for `token` was refused (an unknown token has no history)."""
        state = licenses.get(token)
        if state is not None:
            self.denied(state, str(reason), now)

    def denied(self, state: LicenseState, reason: str, now: float) -> None:
        """A call for this license was refused with `reason`."""
        bucket = self._bucket(state, now)
        bucket.denials[reason] = bucket.denials.get(reason, 0) + 1

    def observe(
        self, records: Sequence[Record], licenses: Mapping[str, LicenseState], now: float
    ) -> None:
        """Note what a batch of write records says happened (started sessions, checkouts)."""
        for record in records:
            if isinstance(record, StartSession):
                state = licenses.get(record.license)
                if state is not None:
                    bucket = self._bucket(state, now)
                    bucket.started += 1
                    bucket.peak_sessions = max(bucket.peak_sessions, len(state.sessions))
            elif isinstance(record, AppendEvent) and record.type == "feature.checkout":
                state = licenses.get(record.license or "")
                if state is not None:
                    self._checkout(state, record, now)

    def _checkout(self, state: LicenseState, event: AppendEvent, now: float) -> None:
        code = str(event.data.get("feature", ""))
        quantity = event.data.get("quantity", 0)
        kind = next((f.type for f in state.license.features if f.code == code), None)
        if not isinstance(quantity, int) or kind not in ("floating", "consumption"):
            return
        bucket = self._bucket(state, now)
        if kind == "floating":
            units = state.in_use.get(code, 0)
            bucket.peak_units[code] = max(bucket.peak_units.get(code, 0), units)
        else:
            bucket.consumed[code] = bucket.consumed.get(code, 0) + quantity

    def _roll(self, hour: int) -> None:
        """Close the open hour: its buckets wait for the next flush; today's count moves on."""
        if self.hour:
            changed = {**self._pending, **self.dirty}
            self._closed.extend(self.buckets[t].row(t, self.hour) for t in changed)
            if day_of(self.hour) == day_of(hour):
                for bucket in self.buckets.values():
                    add_counts(self.denied_before_hour, bucket.denials)
        if day_of(hour) != self.day:
            self.day = day_of(hour)
            self.denied_before_hour = {}
        self.hour = hour
        self.buckets = {}
        self.dirty, self._pending = {}, {}

    def tick(self, licenses: Mapping[str, LicenseState], now: float) -> None:
        """Open a new hour when it has begun, seeded with every license in use now (a job
        calls this often, so an hour nobody called in still shows its sessions)."""
        if hour_of(now) == self.hour:
            return
        self._roll(hour_of(now))
        for state in licenses.values():
            if state.sessions or any(u > 0 for u in state.in_use.values()):
                self._bucket(state, now)

    # -- what the store is given ---------------------------------------------------------

    def due(
        self,
        licenses: Mapping[str, LicenseState],
        now: float,
        *,
        force: bool = False,
        writable: bool = True,
    ) -> list[Record]:
        """The job's turn: a new hour begun is opened (`tick`), then `take` — unless the
        store refuses writes now (`writable` False): then nothing is taken."""
        self.tick(licenses, now)
        return self.take(now, force=force) if writable else []

    def keep(self, days: int) -> None:
        """A new retention (history.retention_days), applied at the next flush."""
        self.retention_days = days
        self.pruned_through = 0

    def take(self, now: float, *, force: bool = False) -> list[Record]:
        """The records to add to a batch about to be committed: up to `ROUND_ROWS` changed
        buckets (and the retention's pruning, once an hour), or nothing when one is in
        flight or the last round began less than `FLUSH_INTERVAL_S` ago. A round larger
        than one batch continues on the next ones. The caller reports back with `landed`.
        `force` sends everything, even then: rows hold whole values and batches commit in
        order, so a second record in flight only repeats what the first said, or says more."""
        if self.in_flight and not force:
            return []
        if not self._round:  # a round takes what changed until it began; later changes wait
            if not (self.dirty or self._closed):
                return []
            if not force and not self._closed and now - self.last_flush < FLUSH_INTERVAL_S:
                return []
            self.last_flush, self._round = now, True
            self._pending, self.dirty = self.dirty, {}
        if force:  # everything, now (a clean stop, the job's forced flush)
            self._pending.update(self.dirty)
            self.dirty = {}
        budget = len(self._closed) + len(self._pending) if force else ROUND_ROWS
        rows, self._closed = self._closed[:budget], self._closed[budget:]
        if (budget := budget - len(rows)) > 0:
            tokens = list(itertools.islice(self._pending, budget))
            rows.extend(self.buckets[t].row(t, self.hour) for t in tokens)
            for t in tokens:
                del self._pending[t]
        self._round = bool(self._closed or self._pending)
        self.in_flight = True
        if not rows:
            self.in_flight = False
            return []
        out: list[Record] = [SaveHistory(tuple(rows))]
        if self.hour and self.hour != self.pruned_through:
            self.pruned_through = self.hour
            out.append(PruneHistory(before=self.hour - self.retention_days * DAY_S))
        return out

    def landed(self, ok: bool) -> None:
        """The batch that carried `take`'s records committed (or failed: then memory was
        rebuilt from the database, `restore` did it for the book, and pruning is due again)."""
        self.in_flight = False
        if not ok:
            self.pruned_through = 0

    def restore(
        self, rows: Iterable[HourRow], denied_that_day: Mapping[str, int], now: float
    ) -> None:
        """Memory from the database: `rows` are the newest stored hour's buckets (the open
        hour's, when it is still this hour), `denied_that_day` the denials of that hour's day
        before it."""
        self.hour, self.day = hour_of(now), day_of(now)
        self.buckets, self.dirty, self._pending, self._closed = {}, {}, {}, []
        self.in_flight = self._round = False
        self.denied_before_hour = {}
        rows = list(rows)
        for row in rows:
            if row.hour == self.hour:
                self.buckets[row.license] = _Bucket(
                    row.peak_sessions,
                    row.started,
                    dict(row.denials),
                    dict(row.peak_units),
                    dict(row.consumed),
                )
            elif day_of(row.hour) == self.day and row.hour < self.hour:
                add_counts(self.denied_before_hour, row.denials)
        if any(day_of(row.hour) == self.day for row in rows):  # the newest hour is today's
            add_counts(self.denied_before_hour, denied_that_day)

    # -- what the admin reads ------------------------------------------------------------

    def open_rows(self, token: str | None = None) -> list[HourRow]:
        """The buckets in memory (the open hour, and a closed one not yet written)."""
        rows = [r for r in self._closed if token is None or r.license == token]
        for t, bucket in self.buckets.items():
            if token is None or t == token:
                rows.append(bucket.row(t, self.hour))
        return rows

    def denied_today(self, now: float) -> dict[str, int]:
        """Denials by reason across all licenses since the start of today (UTC)."""
        if day_of(now) != self.day:
            return {}
        total = dict(self.denied_before_hour)
        for bucket in self.buckets.values():
            add_counts(total, bucket.denials)
        return total


class _Committer(Protocol):
    async def commit(self, records: Sequence[Record]) -> None: ...


async def commit_noted(
    store: _Committer,
    book: HistoryBook,
    licenses: Mapping[str, LicenseState],
    out: Sequence[Record],
    now: float,
) -> None:
    """Commit a rule's records, the book noting them first; when the book's turn has come
    its changed buckets join the same batch (the facade's one commit path)."""
    book.observe(out, licenses, now)
    extra = book.take(now)
    if extra:
        await send_history(store, book, [*out, *extra])
    else:
        await store.commit(out)


async def send_history(store: _Committer, book: HistoryBook, records: list[Record]) -> None:
    """Commit records that carry the book's buckets, and tell the book how it went."""
    try:
        await store.commit(records)
    except BaseException:
        book.landed(ok=False)
        raise
    book.landed(ok=True)


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for key, count in more.items():
        total[key] = total.get(key, 0) + count
