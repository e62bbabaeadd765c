"""Helpers of the rule tests: a LicensingState with a pool applied by the real pool rule,
a write gate that can be closed, and a clock that only moves when told."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lls.domain.models import License, Pool
from lls.domain.pools import apply_pool
from lls.domain.records import AppendEvent, Record
from lls.domain.state import LicensingState
from lls.errors import StorageError
from lls.protocol.shapes import FeatureGrant
from tests.domain.license_kit import make_license

T0 = 1_800_000_000.0  # the fake clock's start
DAY = 86_400
INSTANCE = "inst-1"


@dataclass
class Gate:
    """The store's write gate as the rules see it: open, or refusing (a failed write)."""

    writable: bool = True

    def check_writable(self) -> None:
        if not self.writable:
            raise StorageError("writes refused (test)", retry_after_s=1)


def lic(token: str, **fields: Any) -> License:
    features = (
        FeatureGrant("UNITS", "floating", 3),
        FeatureGrant("PAGES", "consumption", 5),
        FeatureGrant("PDF", "boolean", None),
    )
    return make_license(token, **{"features": features, **fields})


def pool(
    *licenses: License, seq: int = 1, iat: float = T0 - 60, exp: float = T0 + 30 * DAY
) -> Pool:
    return Pool(
        iss="vendor-1",
        aud=INSTANCE,
        iat=int(iat),
        exp=int(exp),
        seq=seq,
        ack_usage_seq=0,
        org_id="org-1",
        org_name="Acme",
        licenses=licenses,
    )


def state(*licenses: License, gate: Gate | None = None) -> LicensingState:
    """A state with `licenses` imported at T0 (by the real apply step)."""
    st = LicensingState(gate or Gate(), INSTANCE, "vendor-1")
    apply_pool(st, pool(*licenses), "raw", T0, None)
    return st


def events(out: list[Record]) -> list[str]:
    return [r.type for r in out if isinstance(r, AppendEvent)]


def ended_reasons(out: list[Record]) -> list[object]:
    return [
        r.data["reason"] for r in out if isinstance(r, AppendEvent) and r.type == "session.ended"
    ]
