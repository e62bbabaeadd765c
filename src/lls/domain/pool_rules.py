"""The import rules of a pool file (sync-format §2, rules 1–4): each refusal names its rule."""

from __future__ import annotations

import re

from lls.clock import rfc3339
from lls.domain.models import CLOCK_SKEW_S, Pool, PoolSummary
from lls.domain.records import AppendEvent
from lls.errors import Refused

# sync-format §2: a license's optional non-secret name; no `:`, so it never looks like
# the `h:<hex>` label of a license without one.
LICENSE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


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
