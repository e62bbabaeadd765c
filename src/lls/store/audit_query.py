"""The query of `Store.audit`, written once for both stores.

Its filters (id range, time, exact types and `x.*` prefixes with LIKE's wildcards
escaped), order and limit are the same on SQLite and PostgreSQL; only the placeholder
differs (`?` or `$n`), so each store passes how it writes the n-th one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Unpack

from lls.domain.ports import AuditQuery


def audit_query(
    select: str,
    placeholder: Callable[[int], str],
    *,
    after: int,
    limit: int,
    **query: Unpack[AuditQuery],
) -> tuple[str, list[object]]:
    """`select` (fixed text: the SELECT … FROM events) narrowed to events with `after` < id
    < `before`, at or after `since`, of `types`, in id order, at most `limit`; and its
    values in order. `placeholder(n)` is the text of the n-th value (from 1)."""
    before, since = query.get("before"), query.get("since")
    types, newest_first = query.get("types", ()), query.get("newest_first", False)
    params: list[object] = []

    def param(value: object) -> str:
        params.append(value)
        return placeholder(len(params))

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
    order = "DESC" if newest_first else "ASC"
    sql = f"{select} WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT {param(limit)}"
    return sql, params
