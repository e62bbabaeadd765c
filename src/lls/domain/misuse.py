"""Misuse detection over validate's contexts: noted in memory, persisted and judged by the job.

The vendor describes misuse detection as watching the distinct authContexts
that call validate, in the background. validate only notes a context (a dict
write); the scheduled job writes what was noted since its last run in one
transaction and locks a license seen from more machines than its limit within
its window, counting the contexts that started sessions as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lls.domain.bindings import lock
from lls.domain.records import NoteContexts, PruneContexts, Record
from lls.domain.state import LicenseState


def note_validated(state: LicenseState, auth_context: str, now: float) -> None:
    """validate saw `auth_context`: note it in memory for the job (nothing is written here).

    Once more new contexts were noted than the limit allows, the license is over it
    whatever else the job finds, so further new ones are not kept (memory stays bounded).
    """
    misuse = state.license.misuse
    if misuse is None:
        return
    noted = state.noted
    if auth_context in noted or len(noted) <= misuse.max_auth_contexts:
        noted[auth_context] = now


# Rows a transaction of the job writes at most: its statements run on the event loop
# (store.writer), ~5 µs a row, so a batch pauses request handling for ~5 ms at most.
NOTED_BATCH = 1000


def take_noted(licenses: Mapping[str, LicenseState], now: float) -> list[list[Record]]:
    """Move what validate noted into each license's `seen`; the batches of records that
    persist it (none when nothing was noted), the last with a prune of rows older than
    every misuse window."""
    noted: list[tuple[str, str, float]] = []
    longest = 0
    for token, state in licenses.items():
        misuse = state.license.misuse
        if misuse is not None:
            longest = max(longest, misuse.window_s)
        if not state.noted:
            continue
        for ctx, at in state.noted.items():
            noted.append((token, ctx, at))
            state.seen[ctx] = max(at, state.seen.get(ctx, 0.0))
        state.noted = {}
    if not noted:
        return []
    batches: list[list[Record]] = [
        [NoteContexts(tuple(noted[i : i + NOTED_BATCH]))] for i in range(0, len(noted), NOTED_BATCH)
    ]
    # The table only grows here, so pruning it here keeps it bounded.
    batches[-1].append(PruneContexts(before=now - longest))
    return batches


def lock_overused(
    watched: Iterable[LicenseState],
    seen: Mapping[str, Mapping[str, float]],
    now: float,
    out: list[Record],
) -> list[str]:
    """Lock each license seen from more authContexts than its limit within its window
    (`seen`: what the database recorded, per license); returns the tokens locked."""
    locked = []
    for state in watched:
        misuse = state.license.misuse
        if misuse is None or state.locked_at is not None:
            continue
        for ctx, at in seen.get(state.license.token, {}).items():
            state.seen[ctx] = max(at, state.seen.get(ctx, 0.0))
        cutoff = now - misuse.window_s
        for ctx in [c for c, at in state.seen.items() if at < cutoff]:
            del state.seen[ctx]
        if len(state.seen) > misuse.max_auth_contexts:
            lock(state, now, out, distinct=len(state.seen))
            locked.append(state.license.token)
    return locked
