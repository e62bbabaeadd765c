"""One builder of a pool License for the domain tests; each kit passes its own defaults."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lls.domain.models import License

DAY = 86_400


def make_license(token: str, **fields: Any) -> License:
    """An active floating license of product PRO, 2 seats, no features, `fields` over it."""
    base = License(
        token=token,
        product_codes=("PRO",),
        type="floating",
        seats=2,
        status="active",
        valid_from=None,
        valid_until=None,
        is_trial=False,
        temporary_days=None,
        session_window_s=600,
        offline_lease_s=DAY,
        contact=None,
        company_name="Acme",
        org_id="org-1",
        misuse=None,
        features=(),
    )
    return replace(base, **fields)
