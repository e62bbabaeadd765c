"""How the admin views show licenses and sessions to people: the columns of the
`lls licenses` and `lls sessions` tables and the page of `lls licenses show`.

Apart from the commands (`lls.cli.views`) because it is the part that reads the
admin API's documents (api.md §6) field by field: what a column shows, which
columns appear only when the server reports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lls.cli.table import Column, render_fields, render_table

__all__ = ["LICENSE_COLUMNS", "SESSION_COLUMNS", "render_license"]


def _seats_free(lic: Mapping[str, Any]) -> Any:
    seats = lic.get("seats")
    if not isinstance(seats, int):
        return None
    return max(0, seats - int(lic.get("liveSessions") or 0) - int(lic.get("offlineSeats") or 0))


def _borrowed_seats(lic: Mapping[str, Any]) -> Any:
    return lic.get("borrowedSeats") or None  # shown only when some license has one


LICENSE_COLUMNS = [
    Column("token"),
    Column("productCodes", "PRODUCTS"),
    Column("type"),
    Column("status"),
    Column("seats", right=True),
    Column("liveSessions", "SESSIONS", right=True),
    Column("offlineSeats", "OFFLINE", right=True),
    Column("borrowedSeats", "BORROWED", value=_borrowed_seats, right=True, optional=True),
    Column("free", "FREE", value=_seats_free, right=True),
    Column("expiresAt", "EXPIRES"),
    Column("boundContext", "BOUND"),
    Column("locked"),
    # The seat policy (policy.file): shown when a rule governs some license listed.
    Column("reserved", "RESERVED", value=lambda row: _policy(row, "reserved"), optional=True),
    Column("groups", "GROUPS", value=lambda row: _groups(row), optional=True),
]


def _policy(row: Mapping[str, Any], field: str) -> Any:
    policy = row.get("policy")
    return policy.get(field) if isinstance(policy, Mapping) else None


def _groups(row: Mapping[str, Any]) -> str | None:
    """Seats held per group the license's rules name: `lab 1, contractors 2`."""
    groups = _policy(row, "groups")
    if not isinstance(groups, Mapping):
        return None
    return ", ".join(f"{g} {n}" for g, n in groups.items()) or "-"


def _client(field: str) -> Any:
    def value(row: Mapping[str, Any]) -> Any:
        info = row.get("clientInfo")
        return info.get(field) if isinstance(info, Mapping) else None

    return value


def _application(row: Mapping[str, Any]) -> Any:
    info = row.get("clientInfo")
    if not isinstance(info, Mapping) or not info.get("application"):
        return None
    version = info.get("version")
    return f"{info['application']} {version}" if version else info["application"]


def _kind(row: Mapping[str, Any]) -> Any:
    """`borrowed` for a seat borrowed for the road (EXPIRES is then its lease end)."""
    return "borrowed" if row.get("kind") == "borrow" else None


# Who holds a seat (lmstat's user, host, display): shown when the server reports it.
SESSION_COLUMNS = [
    Column("id"),
    Column("licenseToken", "LICENSE"),
    Column("authContext", "AUTHCONTEXT"),
    Column("kind", "KIND", value=_kind, optional=True),
    Column("user", "USER", value=_client("user"), optional=True),
    Column("hostname", "HOST", value=_client("hostname"), optional=True),
    Column("application", "APPLICATION", value=_application, optional=True),
    Column("clientAddress", "ADDRESS", optional=True),
    Column("startedAt", "STARTED"),
    Column("expiresAt", "EXPIRES"),
]


def render_license(doc: Mapping[str, Any]) -> list[str]:
    """One license for people: its facts, then its features, sessions and offline seats."""
    lines = render_fields(
        [
            ("token", doc.get("token")),
            ("products", doc.get("productCodes")),
            ("type", doc.get("type")),
            ("status", doc.get("status")),
            ("seats", doc.get("seats")),
            ("live sessions", doc.get("liveSessions")),
            ("offline seats", doc.get("offlineSeats")),
            ("of them borrowed", doc.get("borrowedSeats")),
            ("free", _seats_free(doc)),
            ("peak sessions", doc.get("peakSessions")),
            ("valid from", doc.get("validFrom")),
            ("valid until", doc.get("validUntil")),
            ("expires", doc.get("expiresAt")),
            ("bound to", doc.get("boundContext")),
            ("locked", f"yes, since {doc.get('lockedAt')}" if doc.get("locked") else False),
            ("trial", doc.get("isTrial")),
            ("org", doc.get("orgId")),
            ("company", doc.get("companyName")),
            *(
                [
                    ("policy rules", _policy(doc, "rules")),
                    ("reserved free", _policy(doc, "reserved")),
                    ("held by group", _groups(doc)),
                ]
                if doc.get("policy")
                else []
            ),
        ]
    )
    sections: list[tuple[str, list[Any], list[Column | str]]] = [
        ("features", doc.get("features") or [], ["code", "type", "total", "available"]),
        (
            "sessions",
            doc.get("sessions") or [],
            [c for c in SESSION_COLUMNS if c.key != "licenseToken"],
        ),
        (
            "offline seats",
            doc.get("offline") or [],
            ["activationId", "authContext", "kind", "activatedAt", "leaseExpiresAt"],
        ),
    ]
    for title, rows, columns in sections:
        lines += ["", f"{title}:", *("  " + line for line in render_table(rows, columns))]
    return lines
