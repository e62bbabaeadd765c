"""Importing a pool file (sync-format §2): the import rules (each refusal names its rule)
and the apply step that makes the pool the in-memory state, all or nothing.

A license that leaves the pool, or whose status ends its sessions, has them ended at
once (reason `revoked`); what it had used is kept aside (`retired`) in case it comes back.
"""

from __future__ import annotations

import logging
import re
import time

from lls.clock import rfc3339
from lls.domain.models import CLOCK_SKEW_S, EndReason, Pool, PoolSummary
from lls.domain.records import AppendEvent, PruneEvents, Record, SavePool, SetMeta
from lls.domain.sessions import end
from lls.domain.state import LicenseState, LicensingState
from lls.domain.usage import ACK_EVENT_KEY, ACK_SEQ_KEY
from lls.errors import Refused
from lls.ops.logs import fields
from lls.progress import ProgressHook

log = logging.getLogger("lls.domain.service")

FLOOR_KEY = "clock_floor"
# Statuses the vendor set that end a license's sessions at once (at import, and at start).
# `locked` (the vendor locked the order) ends them too: only a newer pool lifts it, every
# call answers Locked meanwhile, and ending them frees seats and feature units now and
# records it for the vendor — unlike a misuse lock, which an admin may lift at once.
ENDING_STATUSES = frozenset({"revoked", "suspended", "locked"})

# sync-format §2: a license's optional non-secret name; no `:`, so it never looks like
# the `h:<hex>` label of a license without one.
LICENSE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def admit_pool(st: LicensingState, pool: Pool, now: float) -> None:
    """Raise Refused unless `pool` may replace the imported one (rules 1-4, re-registration)."""
    check_pool(pool, st.pool, st.instance_id, now, st.vendor_id)
    if pool.iat < st.trust_pools_from:
        raise Refused(
            "this pool was issued before the instance was re-registered on this machine;"
            " import the pool the vendor issues for the new registration",
            code="POOL_BEFORE_REBIND",
        )


def apply_pool(
    st: LicensingState, pool: Pool, raw: str, now: float, ack_event: int | None
) -> tuple[PoolSummary, list[Record]]:
    """Make an admitted `pool` the state: add, change and retire licenses, end the sessions
    of those that left or were revoked, prune what the vendor acknowledged (§2 rule 7)."""
    st.gate.check_writable()  # nothing awaits until the facade queues the records
    out: list[Record] = [
        SavePool(pool.seq, pool.iat, pool.exp, pool.org_id, pool.ack_usage_seq, now, raw)
    ]
    if ack_event is not None and ack_event > st.ack_event_id:
        # The vendor confirmed reading every event up to here: prune them (§2 rule 7).
        st.ack_event_id = ack_event
        out.append(PruneEvents(ack_event))
        out.append(SetMeta(ACK_EVENT_KEY, str(ack_event)))
        out.append(SetMeta(ACK_SEQ_KEY, str(pool.ack_usage_seq)))
    new_licenses = {lic.token: lic for lic in pool.licenses}
    added = changed = removed = ended = 0
    for token, state in list(st.licenses.items()):
        lic = new_licenses.get(token)
        if lic is None or lic.status in ENDING_STATUSES:
            for session in list(state.sessions.values()):
                end(st, state, session, EndReason.REVOKED, now, out)
                ended += 1
        if lic is None:
            removed += 1
            st.retired[token] = st.licenses.pop(token).carry()
    for token, lic in new_licenses.items():
        known = st.licenses.get(token)
        if known is None:
            added += 1
            known = st.licenses[token] = LicenseState(license=lic)
            carry = st.retired.pop(token, None)
            if carry is not None:
                known.restore(carry)
        elif known.license != lic:
            changed += 1
            known.license = lic
        known.refresh_views()
    st.floor = max(st.floor, float(pool.iat))
    out.append(SetMeta(FLOOR_KEY, repr(st.floor)))
    summary = PoolSummary(
        seq=pool.seq,
        issued_at=float(pool.iat),
        expires_at=float(pool.exp),
        licenses=len(new_licenses),
        added=added,
        changed=changed,
        removed=removed,
        sessions_ended=ended,
    )
    out.append(pool_imported_event(summary, pool, now))
    st.pool = pool
    st.pool_exp = float(pool.exp)
    st.pool_imported_at = now
    # Until its write commits the database still holds the previous pool: keep both
    # (the facade forgets the older one once the records committed).
    st.verified_pools[pool.seq] = pool
    return summary, out


def check_pool(
    pool: Pool, current: Pool | None, instance_id: str, now: float, vendor_id: str | None = None
) -> None:
    """Raise Refused unless `pool` may replace `current` on this instance at `now`.

    `vendor_id` is the pinned vendor's id: a pool signed by the pinned key but
    naming another issuer is refused (rule 1), so one key can never speak for two.
    """
    if pool.aud != instance_id:
        raise Refused(
            f"this pool file is for instance {pool.aud!r}, not this one ({instance_id!r})",
            code="POOL_WRONG_INSTANCE",
        )
    if vendor_id is not None and pool.iss != vendor_id:
        raise Refused(
            f"this pool file was issued by {pool.iss!r}, but this instance trusts pools"
            f" of {vendor_id!r} only",
            code="POOL_WRONG_ISSUER",
        )
    if current is not None and pool.seq <= current.seq:
        raise Refused(
            f"pool seq {pool.seq} is not newer than the imported seq {current.seq}"
            " (a replayed or older pool file)",
            code="POOL_NOT_NEWER",
        )
    if pool.iat > now + CLOCK_SKEW_S:
        raise Refused(
            f"the pool was issued at {rfc3339(pool.iat)}, more than 5 minutes in this"
            f" server's future ({rfc3339(now)}): the server clock is behind; set it right",
            code="POOL_FROM_THE_FUTURE",
        )
    if pool.exp <= now:
        raise Refused(
            f"the pool expired at {rfc3339(pool.exp)}; ask the vendor for a fresh pool file",
            code="POOL_EXPIRED",
        )
    if current is not None and pool.org_id != current.org_id:
        raise Refused(
            f"the pool belongs to organisation {pool.org_id!r}, but this instance belongs"
            f" to {current.org_id!r}",
            code="POOL_OTHER_ORG",
        )
    _check_unique(pool)
    check_license_ids(pool)


def check_license_ids(pool: Pool) -> None:
    """Each license `id` present is well-formed and names one license only."""
    seen: dict[str, int] = {}
    for index, lic in enumerate(pool.licenses):
        if lic.id is None:
            continue
        if not LICENSE_ID.fullmatch(lic.id):
            raise Refused(
                f"license id {lic.id[:80]!r} (licenses[{index}]) is not 1-64 characters"
                " of A-Z, a-z, 0-9, '.', '_' or '-'",
                code="POOL_INVALID",
            )
        if lic.id in seen:
            raise Refused(
                f"license id {lic.id!r} is given to two licenses"
                f" (licenses[{seen[lic.id]}] and licenses[{index}])",
                code="POOL_INVALID",
            )
        seen[lic.id] = index


def _check_unique(pool: Pool) -> None:
    """License tokens are unique in a pool, feature codes in a license (sync-format §2)."""
    tokens: set[str] = set()
    for lic in pool.licenses:
        if lic.token in tokens:
            raise Refused(
                f"the pool lists license {lic.token} twice; nothing was imported",
                code="POOL_INVALID",
            )
        tokens.add(lic.token)
        codes: set[str] = set()
        for feature in lic.features:
            if feature.code in codes:
                raise Refused(
                    f"license {lic.token} lists feature {feature.code} twice; nothing was imported",
                    code="POOL_INVALID",
                )
            codes.add(feature.code)


def pool_imported_event(summary: PoolSummary, pool: Pool, now: float) -> AppendEvent:
    return AppendEvent(
        at=now,
        type="pool.imported",
        data={
            "seq": pool.seq,
            "licenses": summary.licenses,
            "added": summary.added,
            "changed": summary.changed,
            "removed": summary.removed,
            "sessionsEnded": summary.sessions_ended,
            "ackUsageSeq": pool.ack_usage_seq,
        },
    )


# -- the import's log lines (a big pool takes seconds: each step with its counts and time)


def log_started(raw: str, progress: ProgressHook) -> None:
    log.info("pool import: started", extra=fields(bytes=len(raw)))
    progress(f"verifying and decrypting the pool ({len(raw) / 2**20:.1f} MiB)", 0, None)


def log_verified(pool: Pool, started: float) -> float:
    verified = time.monotonic()
    seconds = round(verified - started, 3)
    log.info(
        "pool import: verified",
        extra=fields(seq=pool.seq, licenses=len(pool.licenses), seconds=seconds),
    )
    return verified


def log_applied(summary: PoolSummary, started: float, verified: float) -> None:
    log.info(
        "pool import: applied",
        extra=fields(
            seq=summary.seq,
            licenses=summary.licenses,
            added=summary.added,
            changed=summary.changed,
            removed=summary.removed,
            sessions_ended=summary.sessions_ended,
            seconds=round(time.monotonic() - verified, 3),
            total_seconds=round(time.monotonic() - started, 3),
        ),
    )
