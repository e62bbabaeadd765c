"""How a rule's records become durable, and what rides along with every commit.

Every caller of a rule — the facade's calls (domain.service), the server's own work
(domain.upkeep) and an activate's wait (domain.waits) — hands its records here, so no
path forgets a step: the queues for the last seat are woken *before* the await (the
seats a rule just freed go to the waiters, not to a newcomer), the usage history notes
the records and its changed buckets ride along in the same commit (domain.history),
and a clock turned back is audited once per episode.
"""

from __future__ import annotations

from collections.abc import Sequence

from lls.clock import Clock
from lls.domain.checks import tamper_records
from lls.domain.history import HistoryBook, commit_noted
from lls.domain.models import FeatureOutcome, Outcome, Reason
from lls.domain.ports import Store
from lls.domain.records import Record
from lls.domain.state import LicensingState
from lls.domain.waits import ActivateWaits
from lls.errors import StorageError


class Committer:
    """The commit path of the licensing rules: queue wake-ups, history, tamper events."""

    def __init__(self, state: LicensingState, store: Store, clock: Clock) -> None:
        self.state, self.store, self.clock = state, store, clock
        self.history = HistoryBook()  # usage per license and hour (lls.domain.history)
        self.waits = ActivateWaits(state, clock, self.decided, self.commit, self.noted)

    async def commit(self, out: Sequence[Record]) -> None:
        """Commit a rule's records; answers once they are durable."""
        self.waits.wake()  # before any await: the queue's waiters get the seats just freed
        if out:
            await commit_noted(self.store, self.history, self.state.licenses, out, self.clock.now())

    def noted(self, token: str, outcome: Outcome | FeatureOutcome) -> None:
        """A refusal of a license's call counts in its history (denials by reason)."""
        if outcome.reason is not None:
            self.history.refused(self.state.licenses, token, outcome.reason, self.clock.now())

    async def decided(self, outcome: Outcome | FeatureOutcome, out: Sequence[Record]) -> None:
        """Commit what a client call decided; a refusal for a turned-back clock is audited."""
        if outcome.reason is Reason.CLOCK_TAMPERED:
            await self.record_tamper()
        await self.commit(out)

    async def record_tamper(self) -> None:
        """One `clock.tampered` event per episode; a failed write leaves it to a later call."""
        try:
            await self.commit(tamper_records(self.state, self.clock.now()))
        except StorageError:
            self.state.tamper_recorded = False
