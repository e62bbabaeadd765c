"""The one table renderer of the CLI: aligned columns for people, and `key: value` lines."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value) or "-"
    return " ".join(str(value).split())  # one line per row, whatever the value holds


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: the row's field (or a function of the row), its header, its alignment.

    An `optional` column is left out when no row has a value for it (e.g. the
    client's host and user, which only newer clients send).
    """

    key: str
    header: str = ""
    value: Callable[[Mapping[str, Any]], Any] | None = None
    right: bool = False
    optional: bool = False

    def of(self, row: Mapping[str, Any]) -> Any:
        return self.value(row) if self.value is not None else row.get(self.key)

    @property
    def title(self) -> str:
        return self.header or self.key.upper()


ColumnSpec = Column | str


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[ColumnSpec]) -> list[str]:
    """`rows` as aligned lines under a header, each column as wide as its widest cell."""
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    cols = [c for c in cols if not c.optional or any(c.of(r) not in (None, "") for r in rows)]
    cells = [[_cell(c.of(row)) for c in cols] for row in rows]
    widths = [max([len(c.title), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if c.right else v.ljust(w)
            for v, w, c in zip(values, widths, cols, strict=True)
        ]
        return "  ".join(parts).rstrip()

    out = [line([c.title for c in cols]), *(line(r) for r in cells)]
    if not rows:
        out.append("(none)")
    return out


def render_fields(pairs: Sequence[tuple[str, Any]]) -> list[str]:
    """`key: value` lines, values aligned after the longest key."""
    width = max((len(key) for key, _ in pairs), default=0) + 1
    return [f"{(key + ':').ljust(width)} {_cell(value)}".rstrip() for key, value in pairs]


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
