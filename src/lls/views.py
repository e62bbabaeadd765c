"""Aligned text tables for the admin CLI views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Print `rows` as a table with a header, each column as wide as its widest cell."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """Print `key: value` lines, values aligned after the longest key."""
    width = max((len(key) for key, _ in pairs), default=0) + 1
    for key, value in pairs:
        print(f"{(key + ':').ljust(width)} {_cell(value)}".rstrip())


def _in_days(expires_at: str | None, now: float) -> str:
    from lls.clock import parse_rfc3339

    if not expires_at:
        return "-"
    try:
        days = (parse_rfc3339(expires_at) - now) / 86_400
    except ValueError:
        return expires_at
    when = f"in {days:.1f} days" if days >= 0 else f"EXPIRED {-days:.1f} days ago"
    return f"{expires_at} ({when})"


def _flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out.append((prefix, value))


def status_fields(doc: Mapping[str, Any], now: float) -> list[tuple[str, Any]]:
    """`GET /admin/v1/status` as lines for people: the facts an operator checks first,
    then every other field the server reports, flattened (`a.b`)."""
    pool = doc.get("pool") or {}
    org = doc.get("org") or {}
    clock = doc.get("clock") or {}
    tampered = bool(clock.get("tampered"))
    pairs: list[tuple[str, Any]] = [
        ("instance", doc.get("instanceId")),
        ("version", doc.get("version")),
        ("org", f"{org.get('name')} ({org.get('id')})" if org else None),
        ("pool seq", pool.get("seq") if pool else "none imported"),
        ("pool issued", pool.get("issuedAt")),
        ("pool expires", _in_days(pool.get("expiresAt"), now) if pool else None),
        ("pool imported", pool.get("importedAt")),
        (
            "clock",
            "TAMPERED: the system clock is below the trusted floor" if tampered else "ok",
        ),
        ("clock floor", clock.get("floor")),
        ("licenses", doc.get("licenses")),
        ("live sessions", doc.get("liveSessions")),
    ]
    shown = {"instanceId", "version", "org", "pool", "clock", "licenses", "liveSessions"}
    rest: list[tuple[str, Any]] = []
    for key, value in doc.items():
        if key not in shown:
            _flatten(key, value, rest)
    for key, value in pool.items():
        if key not in {"seq", "issuedAt", "expiresAt", "importedAt"}:
            rest.append((f"pool.{key}", value))
    return pairs + rest
