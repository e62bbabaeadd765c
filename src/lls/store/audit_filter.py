"""The WHERE of `Store.audit`, written once for both stores.

The filters (id range, time, exact types and `x.*` prefixes with LIKE's wildcards
escaped) are the same rule on SQLite and PostgreSQL; only the placeholder differs
(`?` or `$n`), so each store passes a `param` that records a value and returns its
placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def audit_where(
    param: Callable[[object], str],
    *,
    after: int,
    before: int | None,
    since: float | None,
    types: Sequence[str],
) -> str:
    """Events with `after` < id < `before`, at or after `since`, of `types`; every value
    goes through `param` in order (fixed text only: the result is safe to format in)."""
    where = [f"id > {param(after)}"]
    if before is not None:
        where.append(f"id < {param(before)}")
    if since is not None:
        where.append(f"at >= {param(since)}")
    if types:
        alternatives = []
        for kind in types:
            if kind.endswith("*"):
                escaped = kind[:-1].replace("\\", "\\\\").replace("%", "\\%")
                pattern = param(escaped.replace("_", "\\_") + "%")
                alternatives.append(f"type LIKE {pattern} ESCAPE '\\'")
            else:
                alternatives.append(f"type = {param(kind)}")
        where.append("(" + " OR ".join(alternatives) + ")")
    return " AND ".join(where)
